"""emergency: incident timeline and history, dispatch orders, material requests, routing precomputation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:31:50

Besides the tables of ``emergency.models`` this installs the triggers that keep the routing precomputation
current whoever writes (the API, the importers, the demo loader, psql):

* ``emergency_snap(point)`` — the one definition of "snapping to the road network": the nearest road by
  geodesic distance (among the 16 nearest by planar distance in degrees, so the GiST index does the search),
  then that road's end node nearer to the point. Used for resources here and for incidents by the service.
* on each resource table: statement-level triggers with transition tables re-snap the inserted or updated
  rows, drop the deleted ones (and all of that kind on TRUNCATE), and bump ``routing_versions.resources``.
* on ``roads``: any write bumps ``routing_versions.roads`` (workers rebuild their in-memory graph on their
  next query) and re-snaps every resource, since nodes and edges may have gone.

Adding a resource layer means adding it to ``RESOURCE_TABLES`` in a new revision.
"""
from collections.abc import Sequence

import geoalchemy2  # noqa: F401  (used by rendered geometry columns)
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# kind → table (frozen here on purpose: a migration must not follow later edits of emergency.models)
RESOURCE_TABLES = {
    'rescue_team': 'rescue_teams', 'depot': 'depots', 'shelter': 'shelters', 'expert': 'experts',
    'hospital': 'hospitals', 'fire_station': 'fire_stations',
}

SNAP_FUNCTION = """
CREATE FUNCTION emergency_snap(p geometry)
RETURNS TABLE (node_id integer, edge_id integer, snap_m double precision)
LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN ST_Distance(ST_StartPoint(e.geom)::geography, p::geography)
                     <= ST_Distance(ST_EndPoint(e.geom)::geography, p::geography)
                THEN e.source ELSE e.target END,
           e.id,
           ST_Distance(e.geom::geography, p::geography)
    FROM (SELECT r.id, r.source, r.target, r.geom FROM roads r ORDER BY r.geom <-> p LIMIT 16) e
    ORDER BY ST_Distance(e.geom::geography, p::geography), e.id
    LIMIT 1
$$
"""

RESNAP_ALL_FUNCTION = """
CREATE FUNCTION emergency_resnap_all() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM resource_snaps;
    {inserts}
    UPDATE routing_versions SET version = version + 1 WHERE scope = 'resources';
END $$
"""
RESNAP_ONE_KIND = """
    INSERT INTO resource_snaps (kind, resource_id, node_id, edge_id, snap_m)
    SELECT '{kind}', r.id, s.node_id, s.edge_id, s.snap_m
    FROM {table} r CROSS JOIN LATERAL emergency_snap(r.geom) s;"""

RESOURCE_TRIGGER_FUNCTION = """
CREATE FUNCTION emergency_resources_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV[0] is the resource kind; "changed"/"gone" are the statement's transition tables.
    IF TG_OP = 'TRUNCATE' THEN
        DELETE FROM resource_snaps WHERE kind = TG_ARGV[0];
    ELSIF TG_OP = 'DELETE' THEN
        DELETE FROM resource_snaps WHERE kind = TG_ARGV[0] AND resource_id IN (SELECT id FROM gone);
    ELSE
        DELETE FROM resource_snaps WHERE kind = TG_ARGV[0] AND resource_id IN (SELECT id FROM changed);
        INSERT INTO resource_snaps (kind, resource_id, node_id, edge_id, snap_m)
        SELECT TG_ARGV[0], c.id, s.node_id, s.edge_id, s.snap_m
        FROM changed c CROSS JOIN LATERAL emergency_snap(c.geom) s;
    END IF;
    UPDATE routing_versions SET version = version + 1 WHERE scope = 'resources';
    RETURN NULL;
END $$
"""

ROADS_TRIGGER_FUNCTION = """
CREATE FUNCTION emergency_roads_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE routing_versions SET version = version + 1 WHERE scope = 'roads';
    PERFORM emergency_resnap_all();
    RETURN NULL;
END $$
"""


def _install_triggers() -> None:
    op.execute("INSERT INTO routing_versions (scope, version) VALUES ('roads', 1), ('resources', 1)")
    op.execute(SNAP_FUNCTION)
    inserts = "".join(RESNAP_ONE_KIND.format(kind=k, table=t) for k, t in RESOURCE_TABLES.items())
    op.execute(RESNAP_ALL_FUNCTION.format(inserts=inserts))
    op.execute(RESOURCE_TRIGGER_FUNCTION)
    op.execute(ROADS_TRIGGER_FUNCTION)
    for kind, table in RESOURCE_TABLES.items():
        op.execute(f"CREATE TRIGGER emergency_snap_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS changed "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION emergency_resources_changed('{kind}')")
        op.execute(f"CREATE TRIGGER emergency_snap_update AFTER UPDATE ON {table} REFERENCING NEW TABLE AS changed "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION emergency_resources_changed('{kind}')")
        op.execute(f"CREATE TRIGGER emergency_snap_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS gone "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION emergency_resources_changed('{kind}')")
        op.execute(f"CREATE TRIGGER emergency_snap_truncate AFTER TRUNCATE ON {table} "
                   f"FOR EACH STATEMENT EXECUTE FUNCTION emergency_resources_changed('{kind}')")
    op.execute("CREATE TRIGGER emergency_roads_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON roads "
               "FOR EACH STATEMENT EXECUTE FUNCTION emergency_roads_changed()")
    # Databases upgraded with data in them (the dev and scale-20 cities) get their snaps now.
    op.execute("SELECT emergency_resnap_all()")


def _drop_triggers() -> None:
    # CASCADE takes the triggers on roads and the resource tables with the functions.
    for function in ("emergency_roads_changed()", "emergency_resources_changed()", "emergency_resnap_all()",
                     "emergency_snap(geometry)"):
        op.execute(f"DROP FUNCTION IF EXISTS {function} CASCADE")


def upgrade() -> None:
    # ### commands auto generated by Alembic - please adjust! ###
    op.create_table('resource_snaps',
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('resource_id', sa.Integer(), nullable=False),
    sa.Column('node_id', sa.Integer(), nullable=False, comment='道路节点'),
    sa.Column('edge_id', sa.Integer(), nullable=False, comment='最近道路'),
    sa.Column('snap_m', sa.Float(precision=53), nullable=False, comment='到道路距离(米)'),
    sa.PrimaryKeyConstraint('kind', 'resource_id', name=op.f('pk_resource_snaps')),
    comment='应急资源到路网的吸附（触发器维护）'
    )
    op.create_table('routing_versions',
    sa.Column('scope', sa.String(length=16), nullable=False),
    sa.Column('version', sa.BigInteger(), server_default=sa.text('0'), nullable=False),
    sa.PrimaryKeyConstraint('scope', name=op.f('pk_routing_versions')),
    comment='路网/资源变更计数（触发器维护，供进程内缓存失效）'
    )
    op.create_table('dispatch_orders',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('resource_kind', sa.String(length=16), nullable=False, comment='资源类型'),
    sa.Column('resource_id', sa.Integer(), nullable=False, comment='资源编号'),
    sa.Column('task', sa.String(length=500), nullable=False, comment='任务'),
    sa.Column('status', sa.String(length=12), nullable=False, comment='状态'),
    sa.Column('estimated_travel_s', sa.Float(precision=53), nullable=True, comment='预计到达用时(秒)'),
    sa.Column('note', sa.Text(), nullable=True, comment='备注'),
    sa.Column('actor', sa.String(length=60), nullable=True, comment='下达人'),
    sa.Column('dispatched_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('en_route_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('on_scene_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('returned_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("resource_kind IN ('rescue_team', 'depot', 'shelter', 'expert', 'hospital', 'fire_station')", name=op.f('ck_dispatch_orders_resource_kind_enum')),
    sa.CheckConstraint("status IN ('dispatched', 'en_route', 'on_scene', 'returned')", name=op.f('ck_dispatch_orders_status_enum')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_dispatch_orders_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dispatch_orders')),
    comment='调度指令'
    )
    op.create_index(op.f('ix_dispatch_orders_incident_id'), 'dispatch_orders', ['incident_id'], unique=False)
    op.create_index('ix_dispatch_orders_resource', 'dispatch_orders', ['resource_kind', 'resource_id'], unique=False)
    op.create_table('incident_events',
    sa.Column('id', sa.BigInteger(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=30), nullable=False, comment='事件'),
    sa.Column('from_status', sa.String(length=16), nullable=True, comment='原状态'),
    sa.Column('to_status', sa.String(length=16), nullable=True, comment='新状态'),
    sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), server_default=sa.text("'{}'::jsonb"), nullable=False),
    sa.Column('actor', sa.String(length=60), nullable=True, comment='操作人'),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_events_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_events')),
    comment='事件处置历史'
    )
    op.create_index(op.f('ix_incident_events_incident_id'), 'incident_events', ['incident_id'], unique=False)
    op.create_table('incident_reports',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False, comment='报告序号'),
    sa.Column('kind', sa.String(length=20), nullable=False, comment='报告类型'),
    sa.Column('reported_at', sa.DateTime(timezone=True), nullable=False, comment='报告时间'),
    sa.Column('source', sa.String(length=12), nullable=True, comment='信息来源'),
    sa.Column('reporter_name', sa.String(length=30), nullable=True, comment='报告人'),
    sa.Column('reporter_phone', sa.String(length=20), nullable=True, comment='报告人电话'),
    sa.Column('text', sa.Text(), nullable=False, comment='报告内容'),
    sa.Column('deaths', sa.Integer(), nullable=True, comment='死亡人数'),
    sa.Column('injuries', sa.Integer(), nullable=True, comment='受伤人数'),
    sa.Column('missing', sa.Integer(), nullable=True, comment='失踪人数'),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("(seq = 1) = (kind = 'first_report')", name=op.f('ck_incident_reports_first_report_is_seq_1')),
    sa.CheckConstraint("kind IN ('first_report', 'follow_up_report')", name=op.f('ck_incident_reports_kind_enum')),
    sa.CheckConstraint("source IN ('phone', 'sensor', 'enterprise', 'public', 'government', 'media', 'other')", name=op.f('ck_incident_reports_source_enum')),
    sa.CheckConstraint('deaths >= 0 AND injuries >= 0 AND missing >= 0', name=op.f('ck_incident_reports_casualties_not_negative')),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_incident_reports_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incident_reports')),
    sa.UniqueConstraint('incident_id', 'seq', name=op.f('uq_incident_reports_incident_id_seq')),
    comment='事件快报/续报'
    )
    op.create_table('material_requests',
    sa.Column('id', sa.Integer(), sa.Identity(always=False), nullable=False),
    sa.Column('incident_id', sa.Integer(), nullable=False),
    sa.Column('depot_id', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=60), nullable=False, comment='物资名称'),
    sa.Column('unit', sa.String(length=10), nullable=False, comment='单位'),
    sa.Column('quantity', sa.Float(precision=53), nullable=False, comment='调用数量'),
    sa.Column('draws', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('note', sa.Text(), nullable=True, comment='备注'),
    sa.Column('actor', sa.String(length=60), nullable=True, comment='申请人'),
    sa.Column('requested_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('quantity > 0', name=op.f('ck_material_requests_quantity_positive')),
    sa.ForeignKeyConstraint(['depot_id'], ['depots.id'], name=op.f('fk_material_requests_depot_id_depots'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['incident_id'], ['incidents.id'], name=op.f('fk_material_requests_incident_id_incidents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_material_requests')),
    comment='物资调用'
    )
    op.create_index(op.f('ix_material_requests_depot_id'), 'material_requests', ['depot_id'], unique=False)
    op.create_index(op.f('ix_material_requests_incident_id'), 'material_requests', ['incident_id'], unique=False)
    # ### end Alembic commands ###
    _install_triggers()


def downgrade() -> None:
    _drop_triggers()
    # ### commands auto generated by Alembic - please adjust! ###
    op.drop_index(op.f('ix_material_requests_incident_id'), table_name='material_requests')
    op.drop_index(op.f('ix_material_requests_depot_id'), table_name='material_requests')
    op.drop_table('material_requests')
    op.drop_table('incident_reports')
    op.drop_index(op.f('ix_incident_events_incident_id'), table_name='incident_events')
    op.drop_table('incident_events')
    op.drop_index('ix_dispatch_orders_resource', table_name='dispatch_orders')
    op.drop_index(op.f('ix_dispatch_orders_incident_id'), table_name='dispatch_orders')
    op.drop_table('dispatch_orders')
    op.drop_table('routing_versions')
    op.drop_table('resource_snaps')
    # ### end Alembic commands ###
