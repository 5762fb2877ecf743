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
    Date,
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
#: GB/T 29639-2020 plan types: 综合应急预案, 专项应急预案, 现场处置方案, 应急处置卡.
PLAN_KINDS = ("comprehensive", "special", "on_site", "card")
PLAN_OWNERS = ("city", "district", "enterprise")


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
    define_plan_tables(metadata)
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


def define_plan_tables(metadata: MetaData) -> None:
    """Emergency plans (应急预案) as structured records, their versions, activations and tasks (migration e002)."""
    Table(
        "emergency_plans", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("kind", String(16), nullable=False, comment="预案类型"),
        Column("owner_level", String(12), nullable=False, comment="预案所属"),
        Column("district_code", String(6), ForeignKey("districts.code"), comment="所属区县"),
        Column("enterprise_uscc", String(18), ForeignKey("enterprises.uscc"), comment="所属企业"),
        Column("title", String(200), nullable=False, comment="预案名称"),
        Column("version", Integer, nullable=False, comment="现行版本"),
        Column("approved_on", Date, nullable=False, comment="批准/发布日期"),
        Column("review_due", Date, nullable=False, index=True, comment="评估期限（三年一评）"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        Column("updated_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        CheckConstraint(_in("kind", PLAN_KINDS), name="kind_enum"),
        CheckConstraint(_in("owner_level", PLAN_OWNERS), name="owner_enum"),
        # a city plan has neither, a district plan its district, an enterprise plan its enterprise and its district
        CheckConstraint("(owner_level = 'city' AND district_code IS NULL AND enterprise_uscc IS NULL) OR "
                        "(owner_level = 'district' AND district_code IS NOT NULL AND enterprise_uscc IS NULL) OR "
                        "(owner_level = 'enterprise' AND district_code IS NOT NULL AND enterprise_uscc IS NOT NULL)",
                        name="owner_columns"),
        Index("ix_emergency_plans_owner", "district_code", "enterprise_uscc"),
        comment="应急预案",
    )
    Table(
        # every version of a plan is kept: an incident keeps the version it activated
        "emergency_plan_versions", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("plan_id", Integer, ForeignKey("emergency_plans.id", ondelete="CASCADE"), nullable=False),
        Column("version", Integer, nullable=False, comment="版本"),
        Column("body", JSONB, nullable=False, comment="预案内容"),
        Column("actor", String(60), comment="修订人"),
        Column("created_at", DateTime(timezone=True), nullable=False, server_default=text("now()")),
        UniqueConstraint("plan_id", "version"),
        comment="应急预案版本",
    )
    Table(
        "plan_activations", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False,
               index=True),
        Column("plan_id", Integer, ForeignKey("emergency_plans.id"), nullable=False, index=True),
        Column("plan_version", Integer, nullable=False, comment="启动的预案版本"),
        Column("level", Integer, nullable=False, comment="启动的响应级别"),
        Column("suggested_level", Integer, comment="建议响应级别"),
        Column("trigger", JSONB, comment="匹配的启动条件"),
        Column("reason", Text, comment="理由"),
        Column("actor", String(60), comment="启动人"),
        Column("activated_at", DateTime(timezone=True), nullable=False, comment="启动时间"),
        UniqueConstraint("incident_id", "plan_id"),
        CheckConstraint("level BETWEEN 1 AND 4", name="level_range"),
        comment="预案启动",
    )
    Table(
        "incident_tasks", metadata,
        Column("id", Integer, Identity(), primary_key=True),
        Column("incident_id", Integer, ForeignKey("incidents.id", ondelete="CASCADE"), nullable=False,
               index=True),
        Column("activation_id", Integer, ForeignKey("plan_activations.id", ondelete="CASCADE"), nullable=False,
               index=True),
        Column("seq", Integer, nullable=False, comment="任务序号"),
        Column("action", Text, nullable=False, comment="处置措施"),
        Column("owner_role", String(60), nullable=False, comment="责任岗位"),
        Column("owner_label", String(100), comment="责任岗位名称"),
        Column("time_limit_min", Integer, nullable=False, comment="时限(分钟)"),
        Column("due_at", DateTime(timezone=True), nullable=False, comment="完成期限"),
        Column("done_at", DateTime(timezone=True), comment="完成时间"),
        Column("done_by", String(60), comment="完成确认人"),
        UniqueConstraint("incident_id", "seq"),
        CheckConstraint("time_limit_min > 0", name="time_limit_positive"),
        CheckConstraint("(done_at IS NULL) = (done_by IS NULL)", name="done_with_actor"),
        comment="事件处置任务（预案启动生成）",
    )
