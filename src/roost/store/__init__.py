"""The store port: every piece of durable state goes through these interfaces.

Two adapters implement them: SQLite (the embedded default) and, later, Redis for a
cluster. An in-memory adapter serves unit tests and is held to the same contract.
"""
