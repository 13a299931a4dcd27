"""Control-plane handlers, one module per resource of the Lambda API."""
