"""Storing readings: daily partitions, one batch per transaction through ``COPY``, latest values, aggregates.

A batch goes ``COPY`` → a temporary staging table → one statement that

* keeps only readings of registered sensors sent by their own gateway in their registered unit (the rest counted as
  rejected: a gateway can only speak for its own devices, whatever it puts in a payload),
* inserts them into ``monitoring_readings`` with ``ON CONFLICT DO NOTHING`` on (sensor, time): a QoS 1 redelivery
  or a repeat inside the batch is stored once,
* adds only the rows actually inserted to the one-minute and one-hour aggregates (a duplicate never counts twice),
* moves ``monitoring_latest`` only forward (``WHERE latest.ts < excluded.ts``: an out-of-order reading never
  replaces a newer one),

and returns the inserted rows, each flagged whether it is newer than the sensor's previous latest value (only those
go through the alarm rules; an old reading arriving late does not move an alarm's state backwards).

Partitions are UTC days (``monitoring_readings_YYYYMMDD``), made ahead by :func:`ensure_partitions`; readings outside
the accepted window (older than the retention, or more than a day ahead) are rejected before they reach the table.
:func:`drop_expired` drops whole partitions past the retention (and the aggregates with them).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import NamedTuple

import psycopg

PARTITION_PREFIX = "monitoring_readings_"

STAGE = """
CREATE TEMP TABLE IF NOT EXISTS monitoring_stage (
    gateway_code text, sensor_code text, ts timestamptz, value double precision, quality smallint, unit text,
    seq bigint GENERATED ALWAYS AS IDENTITY
) ON COMMIT DELETE ROWS
"""

# one statement (an UPDATE marking the matched staging rows cost a fifth of it again): the answer has a row per
# inserted reading, each with the count of matched readings, or one row with only that count when none was inserted
STORE = """
WITH registered AS MATERIALIZED (   -- joined first: one hash of the registry, not an index probe per reading
    SELECT ms.sensor_code::text, ms.gateway_code::text, s.unit::text
    FROM monitoring_sensors ms JOIN sensors s ON s.code = ms.sensor_code
), matched AS (
    SELECT st.sensor_code, st.ts, st.value, st.quality, st.seq
    FROM monitoring_stage st JOIN registered r USING (sensor_code, gateway_code, unit)
), valid AS (
    SELECT DISTINCT ON (sensor_code, ts) sensor_code, ts, value, quality
    FROM matched ORDER BY sensor_code, ts, seq   -- the first to arrive
), ins AS (
    INSERT INTO monitoring_readings (sensor_code, ts, value, quality)
    SELECT sensor_code, ts, value, quality FROM valid
    ON CONFLICT (sensor_code, ts) DO NOTHING
    RETURNING sensor_code, ts, value, quality
), m AS (
    INSERT INTO monitoring_agg_1m AS a (sensor_code, bucket, n, total, min_value, max_value)
    SELECT sensor_code, date_trunc('minute', ts), count(*), sum(value), min(value), max(value) FROM ins GROUP BY 1, 2
    ON CONFLICT (sensor_code, bucket) DO UPDATE SET n = a.n + excluded.n, total = a.total + excluded.total,
        min_value = least(a.min_value, excluded.min_value), max_value = greatest(a.max_value, excluded.max_value)
), h AS (
    INSERT INTO monitoring_agg_1h AS a (sensor_code, bucket, n, total, min_value, max_value)
    SELECT sensor_code, date_trunc('hour', ts), count(*), sum(value), min(value), max(value) FROM ins GROUP BY 1, 2
    ON CONFLICT (sensor_code, bucket) DO UPDATE SET n = a.n + excluded.n, total = a.total + excluded.total,
        min_value = least(a.min_value, excluded.min_value), max_value = greatest(a.max_value, excluded.max_value)
), l AS (
    INSERT INTO monitoring_latest AS l (sensor_code, ts, value, quality)
    SELECT DISTINCT ON (sensor_code) sensor_code, ts, value, quality FROM ins ORDER BY sensor_code, ts DESC
    ON CONFLICT (sensor_code) DO UPDATE SET ts = excluded.ts, value = excluded.value, quality = excluded.quality,
        updated_at = now()
    WHERE l.ts < excluded.ts
), n AS (
    SELECT count(*) AS matched FROM matched
)
SELECT n.matched, i.sensor_code, i.ts, i.value, i.quality, (old.ts IS NULL OR i.ts > old.ts) AS advances
FROM n LEFT JOIN (ins i LEFT JOIN monitoring_latest old USING (sensor_code)) ON true
ORDER BY i.sensor_code, i.ts
"""


class Reading(NamedTuple):
    """One reading of a message (a tuple: made once per reading, at ingest rates a dataclass's ``__init__`` shows)."""

    gateway_code: str
    sensor_code: str
    ts: datetime
    value: float
    quality: int
    unit: str


@dataclass
class Stored:
    staged: int
    valid: int                                   # registered sensor, own gateway, right unit
    inserted: list[tuple[str, datetime, float, int, bool]]   # (sensor, ts, value, quality, advances)

    @property
    def rejected(self) -> int:
        return self.staged - self.valid

    @property
    def duplicates(self) -> int:
        return self.valid - len(self.inserted)


def partition_name(day: date) -> str:
    return f"{PARTITION_PREFIX}{day:%Y%m%d}"


def existing_partitions(conn: psycopg.Connection) -> set[date]:
    rows = conn.execute("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                        "JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = 'monitoring_readings'").fetchall()
    return {datetime.strptime(r[0][len(PARTITION_PREFIX):], "%Y%m%d").date() for r in rows}


def ensure_partitions(conn: psycopg.Connection, days: Iterable[date], known: set[date] | None = None) -> set[date]:
    """Create the daily partitions of ``days`` that are missing; returns the set now known to exist."""
    known = existing_partitions(conn) if known is None else known
    for day in sorted(set(days) - known):
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        conn.execute(f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF monitoring_readings "
                     f"FOR VALUES FROM ('{start.isoformat()}') TO ('{(start + timedelta(days=1)).isoformat()}')")
        known.add(day)
    return known


def drop_expired(conn: psycopg.Connection, today: date, retention_days: int) -> list[str]:
    """Drop the partitions (and aggregate rows) older than ``retention_days`` before ``today``."""
    oldest = today - timedelta(days=retention_days)
    dropped = []
    for day in sorted(existing_partitions(conn)):
        if day < oldest:
            conn.execute(f"DROP TABLE {partition_name(day)}")
            dropped.append(partition_name(day))
    cutoff = datetime(oldest.year, oldest.month, oldest.day, tzinfo=UTC)
    conn.execute("DELETE FROM monitoring_agg_1m WHERE bucket < %s", (cutoff,))
    conn.execute("DELETE FROM monitoring_agg_1h WHERE bucket < %s", (cutoff,))
    return dropped


# COPY's text format: backslash, tab, newline and carriage return escaped (payload.py already refuses what is not
# printable in a device code or unit; a gateway code comes from the topic)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(readings: Sequence[Reading]) -> bytes:
    """The staging rows of ``readings`` in COPY text format (built here: psycopg's per-row adaptation was a fifth of
    the worker's time at 10,000 readings/s). Codes and units repeat across a batch: each is escaped once."""
    escaped: dict[str, str] = {}

    def esc(text: str) -> str:
        escaped[text] = out = text.translate(_COPY_ESCAPES)
        return out

    get = escaped.get
    return "".join([f"{get(r.gateway_code) or esc(r.gateway_code)}\t{get(r.sensor_code) or esc(r.sensor_code)}\t"
                    f"{r.ts.isoformat()}\t{r.value!r}\t{r.quality:d}\t{get(r.unit) or esc(r.unit)}\n"
                    for r in readings]).encode()


def store_batch(conn: psycopg.Connection, readings: Sequence[Reading]) -> Stored:
    """Write one batch (inside the caller's transaction; partitions for its days must exist)."""
    conn.execute(STAGE)
    with conn.cursor() as cur:
        with cur.copy("COPY monitoring_stage (gateway_code, sensor_code, ts, value, quality, unit) FROM STDIN") as cp:
            cp.write(copy_text(readings))
        rows = cur.execute(STORE).fetchall()
    return Stored(len(readings), rows[0][0], [tuple(r[1:]) for r in rows if r[1] is not None])


def add_counters(conn: psycopg.Connection, counts: dict[str, int]) -> None:
    for name, n in counts.items():
        if n:
            conn.execute("INSERT INTO monitoring_counters (counter, value) VALUES (%s, %s) ON CONFLICT (counter) "
                         "DO UPDATE SET value = monitoring_counters.value + excluded.value", (name, n))


def counters(conn: psycopg.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT counter, value FROM monitoring_counters").fetchall())


__all__ = ["Reading", "Stored", "add_counters", "copy_text", "counters", "drop_expired", "ensure_partitions",
           "existing_partitions", "partition_name", "store_batch"]
