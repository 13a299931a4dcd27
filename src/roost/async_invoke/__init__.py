"""The async data plane: front end, internal queue routing, pollers and retries.

``Invoke`` with ``InvocationType=Event`` and ``InvokeAsync`` are validated by
``frontend``, routed to a shared queue by ``router`` (shuffle sharding over
``ring``), written durably to the ``QueueStore`` and acknowledged with 202;
``poller`` then runs each event through the sync invoke path, ``retry`` decides
what a failure leads to, and ``outcome`` reports what finally happened.
"""
