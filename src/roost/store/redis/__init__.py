"""The Redis adapters of the store port: the cluster store (DESIGN.md decision 6).

Every node of a cluster opens the same Redis deployment; each port's adapter
keeps its keys under a prefix of its own (``{namespace}:config:...``,
``{namespace}:queue:...``), and multi-key changes run as Lua scripts so that
they are atomic on the server. ``connection.py`` turns a ``redis://`` URL into
a client and Redis's connection errors into ``StoreUnavailable``.
"""
