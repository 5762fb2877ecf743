"""The staging rows the ingest worker writes with COPY (built by hand, not by psycopg's per-row adaptation)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from supervision.monitoring.storage import Reading, copy_text


def test_copy_text_rows_and_escapes() -> None:
    at = datetime(2026, 12, 7, 8, 0, 0, 250000, tzinfo=timezone(timedelta(hours=8)))
    rows = copy_text([Reading("GW\\01", "HS1-GA01", at, 12.5, 0, "%LEL"),
                      Reading("GW\t02", "HS1\nGA02", datetime(2026, 12, 7, tzinfo=UTC), 1.5e308, 2, "m\r")])
    assert rows.decode().split("\n") == [
        "GW\\\\01\tHS1-GA01\t2026-12-07T08:00:00.250000+08:00\t12.5\t0\t%LEL",
        "GW\\t02\tHS1\\nGA02\t2026-12-07T00:00:00+00:00\t1.5e+308\t2\tm\\r",
        ""]


def test_copy_text_escapes_each_code_once_and_keeps_the_order() -> None:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    readings = [Reading("GW", f"S{i % 3}", at + timedelta(seconds=i), float(i), 0, "ppm") for i in range(9)]
    lines = copy_text(readings).decode().splitlines()
    assert [line.split("\t")[1] for line in lines] == [f"S{i % 3}" for i in range(9)]
    assert [float(line.split("\t")[3]) for line in lines] == [float(i) for i in range(9)]
