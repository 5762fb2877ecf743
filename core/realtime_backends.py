"""Selecting the live-event backend of a process (``realtime.backend``): PostgreSQL, Redis or in-process.

Apart from :mod:`core.realtime` so that the backends, which build on it, are not imported by it.
"""

from __future__ import annotations

from typing import Any

from core import realtime
from core.config import ConfigError
from core.db import database_url
from core.realtime_pg import PostgresBroker, libpq_url
from core.realtime_redis import RedisBroker

_SHARED: dict[tuple[str, str, str], realtime.Broker] = {}


def install(settings: dict[str, Any], app: Any = None) -> realtime.Broker:
    """Select the broker named by ``realtime.backend`` for this process (called when the app is built, with the app,
    and when a worker that publishes starts). Brokers are shared by target: apps on the same database (or Redis
    channel) get the same one, and a broker is never closed while an app may hold it."""
    conf = settings.get("realtime") or {"backend": "memory"}
    if conf["backend"] == "redis":
        key = ("redis", conf["redis_url"], conf["channel"])
        if key not in _SHARED:
            try:
                _SHARED[key] = RedisBroker(conf["redis_url"], conf["channel"])
            except ImportError:
                raise ConfigError(["realtime.backend: 'redis' needs the Python package redis (pip install redis)"]) \
                    from None
        new = _SHARED[key]
    elif conf["backend"] == "postgres":
        url = libpq_url(database_url(settings))
        key = ("postgres", url, conf["channel"])
        if key not in _SHARED:
            _SHARED[key] = PostgresBroker(url, conf["channel"])
        new = _SHARED[key]
    else:
        current = realtime.broker()
        new = current if type(current) is realtime.Broker else realtime.Broker()
    if app is not None:
        app.extensions[realtime.APP_KEY] = new
    realtime.use_broker(new)
    return new


def forget(broker: realtime.Broker) -> None:
    """Drop a closed broker from the shared ones (tests that close what they built)."""
    for key, value in list(_SHARED.items()):
        if value is broker:
            del _SHARED[key]
