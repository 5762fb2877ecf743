"""gzip on the OGC mounts: smaller answers, byte-identical once decompressed, the policy gate unaffected."""

from __future__ import annotations

import gzip
import json
import math
from typing import Any

import mapbox_vector_tile
import pytest
from werkzeug.test import Client

from app.compress import Gzip, accepts_gzip

GZ = {"Accept-Encoding": "gzip, deflate"}


def fake(ctype: str, body: bytes, status: str = "200 OK", extra: list[tuple[str, str]] | None = None) -> Any:
    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body))), *(extra or [])])
        return [body[: len(body) // 2], body[len(body) // 2:]]

    return Gzip(app, prefixes=("/ogcapi",))


@pytest.mark.parametrize(("header", "accepted"), [("gzip", True), ("br, gzip;q=0.5", True), ("*", True),
                                                  ("gzip;q=0", False), ("deflate", False), ("", False)])
def test_accept_encoding(header: str, accepted: bool) -> None:
    assert accepts_gzip({"HTTP_ACCEPT_ENCODING": header}) is accepted


def test_json_is_compressed_and_round_trips() -> None:
    body = json.dumps({"features": [{"id": i, "name": "企业" * 5} for i in range(200)]}).encode()
    response = Client(fake("application/geo+json", body)).get("/ogcapi/collections/x/items", headers=GZ)
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) == len(response.data) < len(body) / 3
    assert gzip.decompress(response.data) == body
    assert "Accept-Encoding" in response.headers["Vary"]


@pytest.mark.parametrize(("ctype", "body", "path", "headers", "why"), [
    ("image/png", b"\x89PNG" + b"0" * 5000, "/ogcapi/x", GZ, "already compressed"),
    ("application/json", b"{}", "/ogcapi/x", GZ, "too small to gain"),
    ("application/json", b"[" + b"1," * 3000 + b"1]", "/ogcapi/x", {}, "client did not ask"),
    ("application/json", b"[" + b"1," * 3000 + b"1]", "/api/events/stream", GZ, "not a compressed mount"),
])
def test_left_alone(ctype: str, body: bytes, path: str, headers: dict[str, str], why: str) -> None:
    response = Client(fake(ctype, body)).get(path, headers=headers)
    assert "Content-Encoding" not in response.headers, why
    assert response.data == body


def test_no_double_encoding() -> None:
    body = gzip.compress(b"x" * 5000)
    app = fake("application/json", body, extra=[("Content-Encoding", "gzip")])
    response = Client(app).get("/ogcapi/x", headers=GZ)
    assert response.data == body


def test_ogc_answers_of_the_real_app(user_client) -> None:  # noqa: ANN001
    path = "/ogcapi/collections/enterprises/items?f=json&limit=200"
    plain = user_client.get(path)
    packed = user_client.get(path, headers=GZ)
    assert plain.status_code == packed.status_code == 200
    assert packed.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert json.loads(gzip.decompress(packed.data))["features"] == plain.get_json()["features"]
    assert len(packed.data) < len(plain.data) / 4

    # MapServer through the gate: capabilities are still cut to the caller's layers before compression
    caps = user_client.get("/ows?SERVICE=WMS&REQUEST=GetCapabilities&VERSION=1.3.0", headers=GZ)
    assert caps.headers["Content-Encoding"] == "gzip"
    assert b"<Name>enterprises</Name>" in gzip.decompress(caps.data)


def test_enterprise_vector_tiles_carry_only_what_the_map_draws(user_client) -> None:  # noqa: ANN001
    from data.demo.frame import LAT0, LON0
    from layers.registry import default_registry

    layer = default_registry().get("enterprises")
    n = 2 ** 12  # the zoom-12 tile over the demo city's centre
    x, y = int((LON0 + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(LAT0))) / math.pi) / 2 * n)
    response = user_client.get(f"/ogcapi/collections/enterprises/tiles/WebMercatorQuad/12/{y}/{x}?f=mvt",
                               headers=GZ)
    assert response.status_code == 200, response.data[:200]
    assert response.headers["Content-Encoding"] == "gzip"
    tile = mapbox_vector_tile.decode(gzip.decompress(response.data))
    features = [f for lyr in tile.values() for f in lyr["features"]]
    assert features, "the demo city has enterprises in this tile"
    assert {key for f in features for key in f["properties"]} == set(layer.mvt_properties)
