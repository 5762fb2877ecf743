"""Refusals on the OGC mounts are written once, by the mount's adapter, and escape what they quote.

Every refusal the gate, the bad-input check and the authentication middleware send on a mount goes through the
mount's ``refusal_body``; a message that quotes client input (a layer name, a parameter) must come out as a
well-formed document saying exactly that message, in every dialect the mounts speak.
"""

from __future__ import annotations

import json
from typing import Any
from xml.etree import ElementTree as ET

import pytest

from access.authn.middleware import AuthMiddleware, _Reject
from access.policy.mounts import Refusal
from core.config import load_config
from mapserver.gate import gate_mounts

MOUNTS = gate_mounts(None)
NASTY = 'layer <b>&"x\' ]]> </ows:ExceptionText>'
# (service, version) pairs of every exception dialect: WMS 1.1.1 and 1.3.0, WFS, WCS 1.x and 2.0, WMTS, none
DIALECTS = [(None, None), ("WMS", "1.1.1"), ("WMS", "1.3.0"), ("WFS", "1.1.0"), ("WFS", "2.0.0"), ("WCS", "1.1.0"),
            ("WCS", "2.0.1"), ("WMTS", "1.0.0")]


def _said(body: bytes, ctype: str) -> str:
    """The message a client reads from a refusal body (the exception text of an XML report, or the JSON)."""
    if "json" in ctype:
        return json.loads(body)["description"]
    root = ET.fromstring(body)
    texts = [e.text or "" for e in root.iter() if e.tag.rsplit("}", 1)[-1] in ("ExceptionText", "ServiceException")]
    assert len(texts) == 1, body
    return texts[0]


def test_every_mount_has_an_adapter_and_a_surface() -> None:
    assert sorted(m.prefix for m in MOUNTS) == ["/ogcapi", "/ows", "/tiles"]
    assert all(m.surface() for m in MOUNTS)


@pytest.mark.parametrize("mount", MOUNTS, ids=lambda m: m.prefix)
@pytest.mark.parametrize(("service", "version"), DIALECTS)
def test_a_refusal_quotes_its_message_exactly_in_every_dialect(mount: Any, service: str | None,
                                                               version: str | None) -> None:
    refusal = Refusal(403, "Forbidden", NASTY, "无权", locator='a"<b', service=service, version=version)
    body, ctype = mount.refusal_body(refusal, mount.surface(service))
    assert _said(body, ctype) == NASTY


@pytest.mark.parametrize("path", ["/ows", "/ows/styles/x.sld", "/ogcapi/collections", "/tiles/wmts/1.0.0/x.png"])
def test_the_authentication_middleware_refuses_on_a_mount_in_its_dialect_and_escapes(path: str) -> None:
    class Mounted:  # the wrapped app (the policy gate and the mounts behind it)
        pass

    middleware = AuthMiddleware(Mounted(), load_config(), mounts=MOUNTS)
    sent: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        sent.update(status=status, headers=dict(headers))

    rej = _Reject(401, "invalid_credentials", f"invalid credentials ({NASTY})", "凭据无效",
                  [("WWW-Authenticate", 'Bearer realm="OneMap", error="invalid_token"')])
    body = b"".join(middleware._reject({"PATH_INFO": path, "REQUEST_METHOD": "GET"}, rej, start_response, False))
    assert sent["status"].startswith("401")
    assert sent["headers"]["WWW-Authenticate"].startswith("Bearer")  # its own challenge, not a second one
    assert _said(body, sent["headers"]["Content-Type"]) == f"invalid credentials ({NASTY})"
