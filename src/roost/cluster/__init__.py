"""Cluster mode: many nodes on one shared store, with zones (issue 8, DESIGN.md decision 7).

The talk's roles run on whichever nodes are told to run them, and meet in the
store: worker hosts register themselves with a heartbeat
(``worker_registry.py``, ``heartbeat.py``); frontends keep a view of them
(``directory.py``), judge each zone's health from it (``zones.py``) and send an
invoke to the worker host that has a warm environment for it, or to the
least-loaded host of a healthy zone (``remote_executor.py``), over the
internal invoke endpoint (``invoke_wire.py``, ``worker_endpoint.py``).
"""
