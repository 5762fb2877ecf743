"""Persistent ``mapserv`` processes spoken to over FastCGI: the ``/ows`` bridge's way of running MapServer.

A CGI ``mapserv`` pays for its start-up on every request (about 70 ms, and 150 ms more to load the CJK font for a map
with labels); a FastCGI one pays once and then answers a GetMap in about 5 ms. Each :class:`Pool` keeps up to
``size`` processes (one per request running at once), started when first needed, each with one kept-open
connection (``FCGI_KEEP_CONN``).

Nothing but this process can reach them: each listens on a Unix socket made in a private (0700) directory, the
connection is made straight after the start and the socket's name is then removed, so no other local user can send
MapServer a request that did not pass the policy gate. A process dies with the process that started it
(``PR_SET_PDEATHSIG`` through util-linux's ``setpriv``; started from one long-lived thread, since Linux ties that
signal to the thread that started the process), is
replaced after ``max_requests`` answers (leaks), and is stopped after ``idle_s`` seconds unused.

The protocol part is the FastCGI 1.0 specification's responder role: BEGIN_REQUEST, PARAMS, STDIN; STDOUT,
STDERR, END_REQUEST. ``mapserv`` reads the mapfile on every request, so a regenerated mapfile is used at once.
"""

from __future__ import annotations

import logging
import os
import queue
import shutil
import socket
import struct
import subprocess
import tempfile
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any

log = logging.getLogger(__name__)

VERSION = 1
BEGIN_REQUEST, ABORT_REQUEST, END_REQUEST, PARAMS, STDIN, STDOUT, STDERR = 1, 2, 3, 4, 5, 6, 7
RESPONDER, KEEP_CONN = 1, 1
REQUEST_ID = 1
_HEADER = struct.Struct("!BBHHBx")
MAX_CONTENT = 0xFFFF
STDERR_KEEP = 64 << 10


def record(kind: int, content: bytes = b"", request_id: int = REQUEST_ID) -> bytes:
    """One or more FastCGI records of ``kind`` carrying ``content`` (an empty one ends a stream)."""
    if not content:
        return _HEADER.pack(VERSION, kind, request_id, 0, 0)
    out = []
    for start in range(0, len(content), MAX_CONTENT):
        chunk = content[start:start + MAX_CONTENT]
        pad = -len(chunk) % 8
        out.append(_HEADER.pack(VERSION, kind, request_id, len(chunk), pad) + chunk + b"\0" * pad)
    return b"".join(out)


def _length(n: int) -> bytes:
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


def name_values(params: Mapping[str, str]) -> bytes:
    """The PARAMS stream: each name and value with its length (1 byte below 128, else 4)."""
    out = []
    for name, value in params.items():
        k, v = name.encode("latin-1"), value.encode("utf-8", "surrogateescape")
        out.append(_length(len(k)) + _length(len(v)) + k + v)
    return b"".join(out)


def request_bytes(params: Mapping[str, str], body: bytes) -> bytes:
    """A whole responder request, the connection kept open for the next one."""
    begin = record(BEGIN_REQUEST, struct.pack("!HB5x", RESPONDER, KEEP_CONN))
    stdin = record(STDIN, body) + record(STDIN) if body else record(STDIN)
    return begin + record(PARAMS, name_values(params)) + record(PARAMS) + stdin


# -- starting processes ------------------------------------------------------------------------------------------
# util-linux's setpriv sets PR_SET_PDEATHSIG and execs mapserv (the signal survives exec). Not Python code between
# fork and exec (subprocess's preexec_fn): in a process with threads that can deadlock the child before exec.
DIE_WITH_PARENT = ["/usr/bin/setpriv", "--pdeathsig", "KILL", "--"]


class _Starter:
    """One thread per process that starts every worker process: Linux sends PR_SET_PDEATHSIG when the *thread*
    that forked the child ends, and request threads end all the time."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._jobs: queue.Queue[tuple[Callable[[], Any], queue.Queue[Any]]] = queue.Queue()
        threading.Thread(target=self._loop, name="mapserv-starter", daemon=True).start()

    def _loop(self) -> None:
        while True:
            job, answer = self._jobs.get()
            try:
                answer.put((True, job()))
            except BaseException as exc:  # noqa: BLE001 - handed back to the caller
                answer.put((False, exc))

    def run(self, job: Callable[[], Any]) -> Any:
        answer: queue.Queue[Any] = queue.Queue(maxsize=1)
        self._jobs.put((job, answer))
        ok, value = answer.get()
        if not ok:
            raise value
        return value


_starter: _Starter | None = None
_starter_lock = threading.Lock()


def _start(job: Callable[[], Any]) -> Any:
    global _starter
    with _starter_lock:
        if _starter is None or _starter.pid != os.getpid():  # a forked web worker starts its own
            _starter = _Starter()
        starter = _starter
    return starter.run(job)


class WorkerGone(Exception):
    """The process could not be started or reached."""


class Worker:
    """One ``mapserv`` process and the one connection to it."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        folder = tempfile.mkdtemp(prefix="onemap-mapserv-")  # 0700: only this user could even find the socket
        path = self.address = os.path.join(folder, "s")
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind(path)
            listener.listen(1)
            self.proc = _start(lambda: subprocess.Popen(
                [*DIE_WITH_PARENT, *argv], stdin=listener.fileno(), stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env, close_fds=True))
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.connect(path)  # accepted from the backlog even before mapserv calls accept()
        except OSError as exc:
            raise WorkerGone(f"cannot start {argv[0]}: {exc.strerror or exc}") from None
        finally:
            listener.close()  # the child holds its own copy; its exit now closes the connection
            shutil.rmtree(folder, ignore_errors=True)  # nobody else can connect from here on
        self.rfile = self.sock.makefile("rb", buffering=0)
        self.answered = 0
        self.last_used = time.monotonic()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.sock.close()
        except OSError:
            pass
        self.proc.wait()


class Pool:
    """``mapserv`` processes for one mapfile: a request takes a free one or starts one; at most ``size`` are kept
    for the next requests (the web server's threads bound how many run at once; one more is started, and not kept,
    only while an answer is held open unread)."""

    def __init__(self, argv: list[str], env: Mapping[str, str], *, size: int = 2, max_requests: int = 1000,
                 idle_s: float = 120.0) -> None:
        self.argv, self.env = list(argv), dict(env)
        self.size, self.max_requests, self.idle_s = max(1, size), max_requests, idle_s
        self._free: list[Worker] = []
        self._busy: set[Worker] = set()
        self._lock = threading.Lock()
        self._pid = os.getpid()
        _POOLS.add(self)
        _ensure_reaper()
        # the finalizer holds these two containers: they are changed in place, never replaced
        weakref.finalize(self, _kill_all, self._free, self._busy)

    def _inherited(self) -> None:
        """In a forked child, the parent's processes are not ours to use or stop: forget them."""
        if self._pid != os.getpid():
            with self._lock:
                self._free.clear()
                self._busy.clear()
                self._pid = os.getpid()

    def acquire(self) -> Worker:
        self._inherited()
        _ensure_reaper()  # a forked web worker has no reaper thread until it asks
        with self._lock:
            while self._free:
                worker = self._free.pop()
                if worker.alive():
                    self._busy.add(worker)
                    return worker
                worker.kill()
        worker = Worker(self.argv, self.env)
        with self._lock:
            self._busy.add(worker)
        return worker

    def release(self, worker: Worker, reusable: bool) -> None:
        worker.answered += 1
        worker.last_used = time.monotonic()
        with self._lock:
            self._busy.discard(worker)
            keep = (reusable and worker.alive() and worker.answered < self.max_requests
                    and len(self._free) < self.size)
            if keep:
                self._free.append(worker)
        if not keep:
            worker.kill()

    def reap(self, now: float) -> None:
        """Stop the processes unused for ``idle_s`` seconds."""
        with self._lock:
            idle = [w for w in self._free if now - w.last_used >= self.idle_s]
            self._free[:] = [w for w in self._free if w not in idle]
        for worker in idle:
            worker.kill()

    def close(self) -> None:
        with self._lock:
            free = self._free[:]
            self._free.clear()
        for worker in free:
            worker.kill()

    def processes(self) -> int:
        with self._lock:
            return len(self._free) + len(self._busy)


def _kill_all(free: list[Worker], busy: set[Worker]) -> None:
    for worker in [*free, *busy]:
        try:
            worker.kill()
        except Exception:  # noqa: BLE001,S110 - at shutdown
            pass


_POOLS: weakref.WeakSet[Pool] = weakref.WeakSet()
_reaper_pid: int | None = None


def _ensure_reaper() -> None:
    global _reaper_pid
    with _starter_lock:
        if _reaper_pid == os.getpid():
            return
        _reaper_pid = os.getpid()

    def loop() -> None:
        while True:
            time.sleep(5)
            now = time.monotonic()
            for pool in list(_POOLS):
                pool.reap(now)

    threading.Thread(target=loop, name="mapserv-reaper", daemon=True).start()


class Exchange:
    """One request to a pooled process; reads like a pipe from a CGI process (``read`` gives stdout bytes, b"" at
    the end). The process is killed at ``timeout`` seconds (``timed_out``) and whenever the answer was not read to
    its end (a client that went away): the next request gets a fresh one."""

    def __init__(self, pool: Pool, params: Mapping[str, str], body: bytes, timeout: float) -> None:
        self.pool = pool
        self.timed_out = False
        self.finished = False
        self.complete = False  # END_REQUEST seen: the process may take another request
        self.failed = False
        self.stderr = bytearray()
        self.worker: Worker | None = pool.acquire()
        self._watchdog = threading.Timer(timeout, self._expire)
        self._watchdog.daemon = True
        self._watchdog.start()
        data = request_bytes(params, body)
        if len(data) <= 64 << 10:
            self._send(data)
        else:  # a large body: mapserv may answer before reading it all, so feed it beside the reading
            threading.Thread(target=self._send, args=(data,), daemon=True).start()

    def _expire(self) -> None:
        if self.worker is not None and not self.complete:
            self.timed_out = True
            self.worker.proc.kill()

    def _send(self, data: bytes) -> None:
        try:
            assert self.worker is not None
            self.worker.sock.sendall(data)
        except OSError:
            self.failed = True  # it died or answered without reading: the reading side sees the end

    def _exact(self, n: int) -> bytes | None:
        assert self.worker is not None
        buf = b""
        while len(buf) < n:
            try:
                chunk = self.worker.rfile.read(n - len(buf))
            except OSError:
                chunk = b""
            if not chunk:
                return None
            buf += chunk
        return buf

    def read(self) -> bytes:
        """The next piece of stdout; b"" at the end of the answer or when the process died."""
        while not self.complete and not self.finished:
            header = self._exact(_HEADER.size)
            if header is None:
                self.failed = True
                return b""
            _version, kind, _rid, length, padding = _HEADER.unpack(header)
            content = self._exact(length + padding) if length + padding else b""
            if content is None:
                self.failed = True
                return b""
            content = content[:length]
            if kind == STDOUT and content:
                return content
            if kind == STDERR and len(self.stderr) < STDERR_KEEP:
                self.stderr += content[: STDERR_KEEP - len(self.stderr)]
            elif kind == END_REQUEST:
                self.complete = True
        return b""

    def finish(self) -> None:
        """Hand the process back (or kill it when the answer was cut short); once."""
        if self.finished:
            return
        self.finished = True
        self._watchdog.cancel()
        worker, self.worker = self.worker, None
        if worker is not None:
            self.pool.release(worker, reusable=self.complete and not self.failed and not self.timed_out)


__all__ = ["Pool", "Exchange", "Worker", "WorkerGone", "record", "name_values", "request_bytes"]
