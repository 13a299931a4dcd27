"""The worker role: execution environments, their Runtime API, sandbox and code cache."""
