"""A listening broker (PostgreSQL, Redis) that lost its server waits out a backoff before it tries again; a subscriber
arriving meanwhile must not wait for the backoff: it kicks a new attempt and waits for the listener to be back
(else the first events after an outage — a database restart, a fail-over — reach nobody)."""

from __future__ import annotations

import threading

from core.realtime import ListeningBroker


class _Flaky(ListeningBroker):
    """A listener whose server is down until ``up`` is set; between attempts a backoff far longer than any test."""

    def __init__(self) -> None:
        super().__init__()
        self.up = threading.Event()
        self.backing_off = threading.Event()
        self.attempts = 0

    def _listen(self) -> None:
        while not self._stop.is_set():
            self.attempts += 1
            if self.up.is_set():
                self._ready.set()
                self._stop.wait()
                return
            self.backing_off.set()
            self._backoff(3600.0)


def test_a_subscriber_kicks_a_listener_that_waits_out_a_backoff() -> None:
    broker = _Flaky()
    broker.READY_TIMEOUT_S = 0.05
    broker._ensure_listener()  # the server is down: the first attempt fails, the listener backs off for an hour
    assert broker.backing_off.wait(10)
    assert not broker.listening() and broker.attempts == 1
    broker.up.set()  # the server is back
    broker.READY_TIMEOUT_S = 60.0
    broker._ensure_listener()  # a new subscriber: the listener tries again now and the subscriber waits for it
    try:
        assert broker.listening() and broker.attempts == 2
    finally:
        broker._stop.set()
        broker._kick.set()


def test_a_stopped_listener_leaves_its_backoff() -> None:
    broker = _Flaky()
    broker.READY_TIMEOUT_S = 0.05
    broker._ensure_listener()
    broker._stop.set()
    broker._listener.join(timeout=5)
    assert not broker._listener.is_alive()
