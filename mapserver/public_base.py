"""The address the OGC mounts advertise (capabilities, OGC API links, GML schema locations), decided per request.

In this order:

1. the configured public URL (``server.public_url`` / ``ONEMAP_PUBLIC_URL``) when it is set: behind a reverse
   proxy this is the one reliable answer, and no request header can change it;
2. else, when the request comes from a trusted proxy (an address in ``auth.trusted_proxies``, the list that also
   decides whose ``X-Forwarded-For`` counts), what that proxy forwarded: ``Forwarded`` (RFC 7239, the element the
   nearest proxy appended) or ``X-Forwarded-Host`` / ``-Proto`` / ``-Port`` / ``-Prefix``;
3. else the ``Host`` the client addressed and the scheme it connected with -- the serving host and port as the
   client sees them (``http://0.0.0.0:8000`` or the configured port would be wrong as soon as either differs).

Forwarding headers from anyone else are removed before a mount sees the request: MapProxy would otherwise take
``X-Forwarded-Host`` and ``X-Script-Name`` from any client, and MapServer its ``X-Forwarded-*`` CGI variables.
Each mount gets an environ whose ``HTTP_HOST``, ``wsgi.url_scheme``, ``SERVER_NAME``/``SERVER_PORT`` and
``SCRIPT_NAME`` spell that base, and builds its URLs from them (see ``mapserver/ows.py``, ``mapserver/ogcapi.py``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

BASE_KEY = "onemap.public_base"
# Request headers that ask a service to advertise another address; only a trusted proxy may send them.
FORWARDING_HEADERS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_HOST", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_PORT",
                      "HTTP_X_FORWARDED_PREFIX", "HTTP_X_FORWARDED_SERVER", "HTTP_X_FORWARDED_SCHEME",
                      "HTTP_X_FORWARDED_SSL", "HTTP_X_SCRIPT_NAME", "HTTP_X_SCHEME")
_HOST = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,253}[A-Za-z0-9])?)(?::(\d{1,5}))?$")
_PREFIX = re.compile(r"^(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*$")
_DEFAULT_PORT = {"http": 80, "https": 443}


@dataclass(frozen=True)
class PublicBase:
    scheme: str
    host: str      # a name, an IPv4 address or a bracketed IPv6 address
    port: int
    prefix: str    # "" or "/path", no trailing slash

    @property
    def netloc(self) -> str:
        return self.host if self.port == _DEFAULT_PORT[self.scheme] else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.prefix}"


def _host_port(value: str, scheme: str) -> tuple[str, int] | None:
    m = _HOST.match(value.strip())
    if not m:
        return None
    port = int(m.group(2)) if m.group(2) else _DEFAULT_PORT[scheme]
    return (m.group(1).lower(), port) if 0 < port < 65536 else None


def _last(value: str | None) -> str | None:
    """The right-most item of a comma-separated forwarding header: the one our own proxy added."""
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items[-1] if items else None


def _forwarded_pairs(value: str | None) -> dict[str, str]:
    """``host``/``proto`` of the last element of an RFC 7239 ``Forwarded`` header."""
    element = _last(value)
    out: dict[str, str] = {}
    for pair in (element or "").split(";"):
        key, _, val = pair.partition("=")
        val = val.strip()
        if len(val) >= 2 and val[0] == val[-1] == '"':
            val = val[1:-1]
        out[key.strip().lower()] = val
    return out


def parse_public_url(url: str) -> PublicBase:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    hp = _host_port(parts.netloc, scheme) if scheme in _DEFAULT_PORT else None
    if hp is None:
        raise ValueError(f"not a usable public URL: {url!r}")
    return PublicBase(scheme, hp[0], hp[1], parts.path.rstrip("/"))


def from_request(environ: dict[str, Any], *, root: str = "") -> PublicBase:
    """The base as the client addressed this server: its Host header (else SERVER_NAME/PORT) and scheme."""
    scheme = "https" if environ.get("wsgi.url_scheme") == "https" else "http"
    hp = _host_port(environ.get("HTTP_HOST") or "", scheme)
    if hp is None:
        name = environ.get("SERVER_NAME") or "localhost"
        port = str(environ.get("SERVER_PORT") or _DEFAULT_PORT[scheme])
        hp = _host_port(f"{name}:{port}", scheme) or ("localhost", _DEFAULT_PORT[scheme])
    return PublicBase(scheme, hp[0], hp[1], root.rstrip("/"))


def resolve(environ: dict[str, Any], *, public_url: PublicBase | None, trusted: frozenset[str],
            root: str = "") -> PublicBase:
    """The public base of this request (see the module documentation for the order)."""
    if public_url is not None:
        return public_url
    direct = from_request(environ, root=root)
    if (environ.get("REMOTE_ADDR") or "") not in trusted:
        return direct
    fwd = _forwarded_pairs(environ.get("HTTP_FORWARDED"))
    proto = (fwd.get("proto") or _last(environ.get("HTTP_X_FORWARDED_PROTO")) or direct.scheme).lower()
    if proto not in _DEFAULT_PORT:
        proto = direct.scheme
    host_value = fwd.get("host") or _last(environ.get("HTTP_X_FORWARDED_HOST"))
    hp = _host_port(host_value, proto) if host_value else None
    if hp is None:
        hp = (direct.host, direct.port if proto == direct.scheme else _DEFAULT_PORT[proto])
    port_value = _last(environ.get("HTTP_X_FORWARDED_PORT"))
    if port_value and port_value.isdigit() and 0 < int(port_value) < 65536 and ":" not in (host_value or ":"):
        hp = (hp[0], int(port_value))
    prefix = _last(environ.get("HTTP_X_FORWARDED_PREFIX"))
    prefix = prefix.rstrip("/") if prefix is not None and _PREFIX.match(prefix.rstrip("/")) else direct.prefix
    return PublicBase(proto, hp[0], hp[1], prefix)


class Advertise:
    """WSGI wrapper of one mount: it sees a copy of the environ that spells the request's public base."""

    def __init__(self, app: WSGIApp, mount: str, *, public_url: str | None, trusted: Iterable[str]) -> None:
        self.app, self.mount = app, mount
        self.public_url = parse_public_url(public_url) if public_url else None
        self.trusted = frozenset(trusted)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        script = environ.get("SCRIPT_NAME") or ""
        root = script[: -len(self.mount)] if script.endswith(self.mount) else script
        base = resolve(environ, public_url=self.public_url, trusted=self.trusted, root=root)
        env = {k: v for k, v in environ.items() if k not in FORWARDING_HEADERS}
        env.update({"HTTP_HOST": base.netloc, "wsgi.url_scheme": base.scheme, "SERVER_NAME": base.host,
                    "SERVER_PORT": str(base.port), "SCRIPT_NAME": base.prefix + self.mount, BASE_KEY: base})
        if base.scheme == "https":
            env["HTTPS"] = "on"
        else:
            env.pop("HTTPS", None)
        return self.app(env, start_response)


__all__ = ["Advertise", "BASE_KEY", "FORWARDING_HEADERS", "PublicBase", "from_request", "parse_public_url",
           "resolve"]
