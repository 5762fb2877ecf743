"""The demo city's monitoring devices: one gateway per enterprise with sensors, and the ingest settings of each
sensor of the ``sensors`` layer (its rule set, measuring range and gas limit), derived from what the layer holds;
the HLS sample the demo's video points (cameras) play (video.py)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

GATEWAYS = """
INSERT INTO monitoring_gateways (code, enterprise_uscc, name)
SELECT DISTINCT h.enterprise_uscc || '-GW01', h.enterprise_uscc, e.name || ' 数据采集网关'
FROM sensors s JOIN hazard_sources h ON h.code = s.hazard_source_code JOIN enterprises e ON e.uscc = h.enterprise_uscc
ON CONFLICT (code) DO NOTHING
"""

# range: gas detectors 0-100 %LEL or 0-10x the first set point in ppm; a tank's level gauge its height (the high
# set point is 85 % of it); temperature and pressure twice / one and a half times the high set point.
# A toxic-gas detector's first set point is 100 % of the gas's occupational limit (OEL): it becomes ``oel``.
SENSORS = """
INSERT INTO monitoring_sensors (sensor_code, gateway_code, rule_set, range_low, range_high, thresholds)
SELECT s.code, h.enterprise_uscc || '-GW01',
       CASE WHEN s.kind = 'gas_concentration' AND s.unit = '%LEL' THEN 'combustible_gas'
            WHEN s.kind = 'gas_concentration' THEN 'toxic_gas' ELSE s.kind END,
       CASE WHEN s.kind = 'temperature' THEN -40 ELSE 0 END,
       CASE WHEN s.kind = 'gas_concentration' AND s.unit = '%LEL' THEN 100
            WHEN s.kind = 'gas_concentration' THEN round((10 * coalesce(s.alarm_low, s.alarm_high))::numeric, 3)
            WHEN s.kind = 'tank_level' THEN round((s.alarm_high / 0.85)::numeric, 1)
            WHEN s.kind = 'temperature' THEN 2 * s.alarm_high
            ELSE 1.5 * s.alarm_high END,
       CASE WHEN s.kind = 'gas_concentration' AND s.unit <> '%LEL' AND s.alarm_low IS NOT NULL
            THEN jsonb_build_object('oel', s.alarm_low) ELSE '{}'::jsonb END
FROM sensors s JOIN hazard_sources h ON h.code = s.hazard_source_code
ON CONFLICT (sensor_code) DO NOTHING
"""


def load_demo(conn: Connection, settings: Mapping[str, Any]) -> str:
    from core.config import resolve_path
    from supervision.monitoring import video

    conn.execute(text(GATEWAYS))
    conn.execute(text(SENSORS))
    # the HLS sample the demo city's cameras play (monitoring.video.sample)
    if ((settings.get("monitoring") or {}).get("video") or {}).get("sample", True):
        return video.load_demo(resolve_path(settings["paths"]["var"]))
    return "video sample: not written (monitoring.video.sample is off)"
