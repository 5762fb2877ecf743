"""在线监测预警 (online monitoring of major hazard sources): the MQTT broker and ingest worker, readings storage,
alarm rules, and their live events (``monitoring.alarm``, ``monitoring.sensor_status``: supervision/monitoring/events.py);
the alarm API with its console plug-in (live colours, alarm list, sound, alarm → plume → dispatch)."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="monitoring",
    label={"zh-CN": "在线监测预警", "en": "Online monitoring"},
    blueprints=("supervision.monitoring.views:bp",),
    console_scripts=("supervision.monitoring:static/alarms.js",),  # live colours, alarm list and sound, impact
    openapi="supervision.monitoring:openapi.yaml",
    cli_groups=("supervision.monitoring.cli:ingest", "supervision.monitoring.cli:monitor"),
    config="supervision.monitoring.config:SECTION",
    policy="supervision.monitoring:policy.yaml",
    config_checks=("supervision.monitoring.checks:check_rules", "supervision.monitoring.checks:check_broker"),
    realtime_topics=("monitoring.",),
    background=("supervision.monitoring.ingest:background", "supervision.monitoring.simulate:background"),
    demo_loader="supervision.monitoring.demo:load_demo",
    requires=("kernel", "layers", "hazard_sources"),
)
