"""The pure core: everything that knows Airbyte's HTTP API, with no sockets, no sleeping and no Airflow.

Each operation is a *flow*: a generator that yields :class:`~.wire.Request` values and receives
:class:`~.wire.Response` values, then returns a result or raises one of :mod:`.errors`. The sync
hook and the async trigger each drive the same flows with their own transport, so paths, payloads,
fallbacks and the status rule are written once (the "sans-I/O" style of h11).
"""
