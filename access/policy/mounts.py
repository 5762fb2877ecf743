"""What the policy gate needs to know about a service mounted beside the Flask app, handed to it by the mount.

The gate decides; it does not speak MapServer, MapProxy or pygeoapi. Each mount (``/ogcapi``, ``/ows``, ``/tiles``)
registers an adapter — a subclass of :class:`Mount` — that knows how the service behind it reads a request, how it
takes the caller's row scope, which responses must be cut down, and how it says "no". The app builds the adapters
(``mapserver.gate.gate_mounts``) and hands them to :class:`~access.policy.gate.PolicyGate` and to the authentication
middleware; nothing under ``access/`` imports the OGC stack (tests/unit/test_gate_imports.py keeps it so).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from access.policy.classify import Classified
    from access.policy.rules import Authz, Policy

Audit = Callable[..., None]
# Cuts a response body down to what the caller may read: (body, visible names, may read everything) -> body;
# raises ValueError when it cannot, and the gate then refuses rather than pass the body on unfiltered.
ResponseFilter = Callable[[bytes, frozenset[str], bool], bytes]


@dataclass(frozen=True)
class Refusal:
    """A refusal in policy terms; the mount (or the gate, for Flask routes) writes it in its dialect."""

    status: int
    code: str                       # an OGC exception code (InvalidParameterValue, NotFound, Forbidden, …)
    message_en: str
    message_zh: str
    locator: str | None = None
    service: str | None = None      # the OGC service and version asked for, when known
    version: str | None = None


class Mount:
    """The gate's view of one mounted service. Subclasses override what their service needs; the defaults are
    those of a service that takes no scope and whose responses need no cutting."""

    #: where DispatcherMiddleware mounts the service (``/ows``)
    prefix: str = ""
    #: the service parses every request body as JSON, whatever content type it declares (the bad-input check
    #: then looks at every body sent here, not only at those declared JSON)
    reads_json_bodies: bool = False

    def surface(self, service: str | None = None) -> str:
        """The name of the surface a request is for (``wms``, ``ogcapi``, …): audit records, refusal dialect."""
        return self.prefix.strip("/")

    def classify(self, environ: dict[str, Any], rest: str, policy: Policy) -> Classified:
        """What the request (``rest``: the path inside the mount) asks for, read as the service will read it.
        Raises :class:`~access.policy.classify.BadRequest` when it cannot be read with certainty."""
        raise NotImplementedError

    def suspect_filter(self, c: Classified) -> str | None:
        """The first client filter value that looks like an injection attempt (on protected layers), or None."""
        return None

    def prepare(self, environ: dict[str, Any], c: Classified, authz: Authz, audit: Audit) -> Refusal | None:
        """Hand the caller's scope to the service in the form it understands (query parameters, a hook in the
        environ); a refusal if the request cannot be served safely. ``audit(event, **details)`` records a denial."""
        return None

    def response_filter(self, c: Classified) -> ResponseFilter | None:
        """How to cut this response down to what the caller may read (capabilities documents), or None."""
        return None

    def refusal_body(self, refusal: Refusal, surface: str) -> tuple[bytes, str]:
        """``refusal`` written in the service's own exception format: (body, content type)."""
        raise NotImplementedError


def mount_of(path: str, mounts: Sequence[Mount]) -> tuple[Mount | None, str]:
    """(mount, path inside it) as werkzeug's DispatcherMiddleware picks it; (None, path) for the Flask app."""
    for mount in mounts:
        if path == mount.prefix or path.startswith(mount.prefix + "/"):
            return mount, path[len(mount.prefix):]
    return None, path


__all__ = ["Audit", "Mount", "Refusal", "ResponseFilter", "mount_of"]
