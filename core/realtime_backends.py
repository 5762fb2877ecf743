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


def install(settings: dict[str, Any]) -> realtime.Broker:
    """Select the broker named by ``realtime.backend`` for this process (called when the app is built and when a
    worker that publishes starts); keeps the current one when it already is that backend on the same target."""
    conf = settings.get("realtime") or {"backend": "memory"}
    current = realtime.broker()
    new: realtime.Broker
    if conf["backend"] == "redis":
        if isinstance(current, RedisBroker) and (current._url, current._channel) == (conf["redis_url"],
                                                                                     conf["channel"]):
            return current
        try:
            new = RedisBroker(conf["redis_url"], conf["channel"])
        except ImportError:
            raise ConfigError(["realtime.backend: 'redis' needs the Python package redis (pip install redis)"]) \
                from None
    elif conf["backend"] == "postgres":
        url = libpq_url(database_url(settings))
        if isinstance(current, PostgresBroker) and (current.url, current.channel) == (url, conf["channel"]):
            return current
        new = PostgresBroker(url, conf["channel"])
    elif type(current) is realtime.Broker:
        return current
    else:
        new = realtime.Broker()
    old = realtime.use_broker(new)
    close = getattr(old, "close", None)
    if close is not None:
        close()
    return new
