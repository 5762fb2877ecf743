"""What a request asks for, in policy terms: (action, target) pairs, parsed the way the backend will parse it.

The gate must read a request exactly as the service behind it does, or a request could say one thing to the gate
and another to the service. So the mount is chosen like werkzeug's DispatcherMiddleware chooses it, and the request
is then read by the mount's own adapter (:class:`~access.policy.mounts.Mount`, e.g. ``mapserver.gate.ows`` reads
OGC keys and XML bodies the way MapServer does); Flask routes are read from the policy's route table. Anything the
classifier does not recognise yields no permission.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from access.policy.mounts import Mount, mount_of
from access.policy.refusal import flask_surface
from access.policy.rules import Policy, Target

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class BadRequest(Exception):
    """The request cannot be classified; answered without reaching the service (``audit``: a likely attack)."""

    def __init__(self, status: int, code: str, locator: str | None, message: str, *, audit: str | None = None,
                 service: str | None = None, version: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.locator, self.message = status, code, locator, message
        self.audit, self.service, self.version = audit, service, version


@dataclass
class Access:
    action: str
    target: Target


@dataclass
class Classified:
    surface: str                     # page | rest | the mount's surface (ogcapi | wms | wfs | wcs | tiles)
    accesses: list[Access] = field(default_factory=list)
    service: str | None = None       # OGC dialect for exception reports
    version: str | None = None
    request: str | None = None       # OGC request, lower case
    item: str | None = None          # an object addressed by id (WFS: comma-separated ``layer.id`` values)
    filters: list[str] = field(default_factory=list)  # client filter texts (FE literals, CQL)
    describe_all: bool = False       # WFS DescribeFeatureType without type names
    xml_body: bool = False
    mount: Mount | None = None       # the mount that read the request; None for Flask routes

    @property
    def ogc(self) -> bool:
        return self.mount is not None

    @property
    def export(self) -> bool:
        return any(a.action == "export" for a in self.accesses)

    def layers(self) -> list[str]:
        return [a.target.name for a in self.accesses if a.target.kind == "layer"]


def classify(environ: dict[str, Any], policy: Policy, mounts: Sequence[Mount] = ()) -> Classified:
    path = environ.get("PATH_INFO", "") or "/"
    mount, rest = mount_of(path, mounts)
    if mount is None:
        return _flask(path, (environ.get("REQUEST_METHOD") or "GET").upper(), policy)
    c = mount.classify(environ, rest, policy)
    c.mount = mount
    return c


# -- Flask routes ---------------------------------------------------------------------------------------------------
def _flask(path: str, method: str, policy: Policy) -> Classified:
    route = policy.route(path)
    if route is None:
        return Classified(flask_surface(path))  # no access: denied
    segments = path.strip("/").split("/")
    if route.action:
        action = route.action
    elif any(s == "export" or s.startswith("export.") for s in segments):
        action = "export"
    else:
        action = "read" if method in SAFE_METHODS else "write"
    return Classified(flask_surface(path), [Access(action, Target(route.kind, route.name))])


# -- request bodies ------------------------------------------------------------------------------------------------
def read_body(environ: dict[str, Any], limit: int) -> bytes | None:
    """Read the body (at most ``limit`` bytes; None if larger) and put it back for the service behind."""
    stream = environ.get("wsgi.input")
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    if length:
        try:
            n = int(length)
        except ValueError:
            return None
        if n < 0 or n > limit:
            return None
        data = stream.read(n) if stream is not None and n else b""
    else:
        data = stream.read(limit + 1) if stream is not None else b""
        if len(data) > limit:
            return None
    environ["wsgi.input"] = io.BytesIO(data)
    environ["CONTENT_LENGTH"] = str(len(data))
    return data


__all__ = ["SAFE_METHODS", "Access", "BadRequest", "Classified", "classify", "read_body"]
