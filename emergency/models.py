"""Tables owned by the emergency module (declared in emergency/manifest.py; migration 0002).

The incident itself is the ``incidents`` registry layer (a map feature); what hangs off it lives here: the
快报/续报 timeline, the change history, dispatch orders, material draw-downs and impact analyses (migration e001). ``resource_snaps`` and
``routing_versions`` are maintained by database triggers (see migration 0002) so that every writer — the API,
the importers, the demo loader, a DBA with psql — keeps the routing precomputation current.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from layers.registry import default_registry


def resource_layers() -> dict[str, str]:
    """Resource kind (API name) → registry layer id: the layers that declare ``dispatch:``, in ``dispatch.order``
    (the order kinds are listed in, and the tie-breaker after travel time)."""
    return {kind: layer.id for kind, layer in default_registry().dispatchable.items()}

REPORT_KINDS = ("first_report", "follow_up_report")
REPORT_SOURCES = ("phone", "sensor", "enterprise", "public", "government", "media", "other")
DISPATCH_STATUSES = ("dispatched", "en_route", "on_scene", "returned")
IMPACT_MODELS = ("plume", "explosion")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def define_tables(metadata: MetaData) -> None:
    Table(
        "incident_reports", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False),
        Column("seq", Integer, nullable=False, comment="报告序号"),
        Column("kind", String(20), nullable=False, comment="报告类型"),
        Column("reported_at", DateTime(timezone=True), nullable=False, comment="报告时间"),
        Column("source", String(12), comment="信息来源"),
        Column("reporter_name", String(30), comment="报告人"),
        Column("reporter_phone", String(20), comment="报告人电话"),
        Column("text", Text, nullable=False, comment="报告内容"),
        Column("deaths", Integer, comment="死亡人数"),
        Column("injuries", Integer, comment="受伤人数"),
        Column("missing", Integer, comment="失踪人数"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        UniqueConstraint("incident_id", "seq"),
        CheckConstraint(_in("kind", REPORT_KINDS), name="kind_enum"),
        CheckConstraint(_in("source", REPORT_SOURCES), name="source_enum"),
        # The timeline always starts with exactly one 快报; everything after it is a 续报.
        CheckConstraint("(seq = 1) = (kind = 'first_report')", name="first_report_is_seq_1"),
        CheckConstraint("deaths >= 0 AND injuries >= 0 AND missing >= 0", name="casualties_not_negative"),
        comment="事件快报/续报",
    )
    Table(
        "incident_events", metadata,
        Column("id", BigInteger, Identity(), primary_key=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False,
               index=True),
        Column("event", String(30), nullable=False, comment="事件"),
        Column("from_status", String(16), comment="原状态"),
        Column("to_status", String(16), comment="新状态"),
        Column("data", JSONB, nullable=False, server_default=text("'{}'::jsonb")),
        Column("actor", String(60), comment="操作人"),
        Column("at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        comment="事件处置历史",
    )
    Table(
        "dispatch_orders", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False,
               index=True),
        Column("resource_kind", String(16), nullable=False, comment="资源类型"),
        Column("resource_id", Integer, nullable=False, comment="资源编号"),
        Column("task", String(500), nullable=False, comment="任务"),
        Column("status", String(12), nullable=False, comment="状态"),
        Column("estimated_travel_s", Float(precision=53), comment="预计到达用时(秒)"),
        Column("note", Text, comment="备注"),
        Column("actor", String(60), comment="下达人"),
        Column("dispatched_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        Column("en_route_at", DateTime(timezone=True)),
        Column("on_scene_at", DateTime(timezone=True)),
        Column("returned_at", DateTime(timezone=True)),
        CheckConstraint(_in("resource_kind", tuple(resource_layers())), name="resource_kind_enum"),
        CheckConstraint(_in("status", DISPATCH_STATUSES), name="status_enum"),
        Index("ix_dispatch_orders_resource", "resource_kind", "resource_id"),
        comment="调度指令",
    )
    Table(
        "material_requests", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False,
               index=True),
        Column("depot_id", Integer, ForeignKey("depots.id", ondelete="CASCADE"), nullable=False, index=True),
        Column("item", String(60), nullable=False, comment="物资名称"),
        Column("unit", String(10), nullable=False, comment="单位"),
        Column("quantity", Float(precision=53), nullable=False, comment="调用数量"),
        # Which inventory batches were drawn (earliest expiry first): [{"inventory_id", "quantity", "expiry"}].
        Column("draws", JSONB, nullable=False),
        Column("note", Text, comment="备注"),
        Column("actor", String(60), comment="申请人"),
        Column("requested_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        comment="物资调用",
    )
    Table(
        # One consequence analysis of an incident (migration e001): every run is kept, a re-run (the wind turned)
        # is a new row; ``result`` holds the zones (GeoJSON, EPSG:4490), what lies inside and the evacuation plan.
        "impact_runs", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False,
               index=True),
        Column("seq", Integer, nullable=False, comment="分析序号"),
        Column("model", String(12), nullable=False, comment="模型"),
        Column("inputs", JSONB, nullable=False, comment="模型输入"),
        Column("result", JSONB, nullable=False, comment="分析结果"),
        Column("actor", String(60), comment="分析人"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        UniqueConstraint("incident_id", "seq"),
        CheckConstraint(_in("model", IMPACT_MODELS), name="model_enum"),
        comment="事件影响分析（辅助决策）",
    )
    Table(
        "resource_snaps", metadata,
        Column("kind", String(16), primary_key=True),
        Column("resource_id", Integer, primary_key=True),
        Column("node_id", Integer, nullable=False, comment="道路节点"),
        Column("edge_id", Integer, nullable=False, comment="最近道路"),
        Column("snap_m", Float(precision=53), nullable=False, comment="到道路距离(米)"),
        comment="应急资源到路网的吸附（触发器维护）",
    )
    Table(
        "routing_versions", metadata,
        Column("scope", String(16), primary_key=True),
        Column("version", BigInteger, nullable=False, server_default=text("0")),
        comment="路网/资源变更计数（触发器维护，供进程内缓存失效）",
    )
