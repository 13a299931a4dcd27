"""Functions: configuration, versions, aliases and their deployment packages."""
