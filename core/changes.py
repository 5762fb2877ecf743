"""Changes and their live events: one transaction, and its events published only once it has committed.

A module opens :func:`unit_of_work` around a change, writes its history rows inside the transaction and queues
its live events on the :class:`Changes` it gets; a rolled-back change is never announced. Every event carries the
scope tag of the row it is about, so the live stream shows it only to those who may read that row. A module that
declares its event types (``event_types``) gets a ``ValueError`` for an undeclared one — a typo never reaches the
console as an event nobody listens to.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from core.realtime import ScopeTag, publish


@dataclass
class Changes:
    """Live events waiting for the commit of the transaction that made them."""

    pending: list[tuple[str, dict[str, Any], ScopeTag]] = field(default_factory=list)
    event_types: Collection[str] | None = None  # the declared types; None: any

    def announce(self, event_type: str, data: dict[str, Any], *, scope: ScopeTag) -> None:
        if self.event_types is not None and event_type not in self.event_types:
            raise ValueError(f"undeclared live event type {event_type!r}")
        self.pending.append((event_type, data, scope))


@contextmanager
def unit_of_work(conn: Connection, event_types: Collection[str] | None = None) -> Iterator[Changes]:
    """One transaction on ``conn``; its changes are published once it has committed."""
    if conn.in_transaction():
        # A half-finished transaction of someone else's would be committed with ours: a programming error.
        raise RuntimeError("unit_of_work needs a connection without an open transaction")
    changes = Changes(event_types=event_types)
    with conn.begin():
        yield changes
    for event_type, data, scope in changes.pending:
        publish(event_type, data, scope=scope)


