"""在线监测预警 (online monitoring of major hazard sources): the MQTT broker and ingest worker, readings storage,
alarm rules and their live events (``monitoring.alarm``, ``monitoring.sensor_status``: supervision/monitoring/events.py),
the alarm closed loop (报警处置, a case type on the case engine) and the hazard sources' warning levels, the
sensors' latest values and trends, the video points, and the alarm API with its console plug-in (live colours, alarm
list, sound, alarm → plume → dispatch)."""

from core.manifest import Manifest

MANIFEST = Manifest(
    name="monitoring",
    label={"zh-CN": "在线监测预警", "en": "Online monitoring"},
    blueprints=("supervision.monitoring.views:bp",),  # /api/monitoring: sensors' values and trends, alarms, KPIs
    console_scripts=("supervision.monitoring:static/console.js",   # the feature panel's live value, trend, video
                     "supervision.monitoring:static/alarms.js"),   # live colours, alarm list and sound, impact
    openapi="supervision.monitoring:openapi.yaml",
    cli_groups=("supervision.monitoring.cli:ingest", "supervision.monitoring.cli:monitor"),
    config="supervision.monitoring.config:SECTION",
    policy="supervision.monitoring:policy.yaml",
    config_checks=("supervision.monitoring.checks:check_rules", "supervision.monitoring.checks:check_broker"),
    realtime_topics=("monitoring.",),
    background=("supervision.monitoring.ingest:background", "supervision.monitoring.simulate:background"),
    case_types=("supervision.monitoring:cases/alarm_disposal.yaml",),
    demo_loader="supervision.monitoring.demo:load_demo",
    requires=("kernel", "layers", "hazard_sources", "cases"),
)
