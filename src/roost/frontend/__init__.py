"""The front end: the HTTP door, authentication, and the routers of each plane."""
