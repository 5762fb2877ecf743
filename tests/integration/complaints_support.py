"""Shared pieces of the complaint tests: the app on a writable clone, a valid filing, points of the demo city."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import sqlalchemy as sa

from tests.integration.auth_support import make_app

URL = "/api/public/complaints"
FILING = {"category": "hidden_danger", "description": "仓库消防通道被货物堵塞，灭火器过期，已持续一个月",
          "place_name": "示范市某仓储公司", "anonymous": True}


def lifted(**strict: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every rate-limit rule lifted (these tests file faster than a person), except the ones given."""
    from tests.conftest import lifted_rate_limits

    return {**lifted_rate_limits(1_000_000), **strict}


def complaint_app(url: str, var: Any, **strict: dict[str, Any]) -> Any:
    return make_app(url, var, rate_limits=lifted(**strict), session={"idle_minutes": 1440})


def inside(conn: sa.Connection, district: str = "329902") -> tuple[float, float]:
    """A point inside ``district`` (CGCS2000 lon, lat)."""
    return tuple(conn.execute(sa.text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM districts "
                                      "WHERE code = :d) s"), {"d": district}).one())


def png(size: int = 0) -> bytes:
    """A real 1x1 PNG, padded with an ancillary chunk to about ``size`` bytes."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    raw = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    if size:
        raw += chunk(b"tEXt", b"c\x00" + b"x" * size)
    return b"\x89PNG\r\n\x1a\n" + raw + chunk(b"IEND", b"")


def multipart(body: Any, photos: list[tuple[bytes, str]]) -> dict[str, Any]:
    import json

    data: dict[str, Any] = {"complaint": json.dumps(body, ensure_ascii=False)}
    data["photos"] = [(io.BytesIO(content), name) for content, name in photos]
    return data


def counts(engine: sa.Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(conn.execute(sa.text(
            "SELECT (SELECT count(*) FROM cases WHERE case_type = 'complaint'), (SELECT count(*) FROM complaints), "
            "(SELECT count(*) FROM case_events e JOIN cases c ON c.id = e.case_id WHERE c.case_type = 'complaint')"
        )).one())
