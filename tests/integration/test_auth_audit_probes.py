"""A district regulator probing another district's rows by id: answered as if the row were missing, and audited.

Walked, not listed: every by-id route of the app's url_map under the emergency, console and complaints APIs that
the district regulator's role may use at all (and the filings API's routes addressing a hazard source by its code),
and for every
district-scoped layer of the registry the OGC API item and WFS GetFeatureById. The caller is the demo district
regulator (a real sign-in, through the authentication middleware and the policy gate); each probe targets a row of
another district. The answer must not tell that the row exists (404, or an empty WFS answer), and the audit log
must hold an ``access.out_of_scope`` row with outcome ``denied`` for that request; a write (POST/PATCH/PUT/DELETE)
is recorded as ``denied`` too, not as ``failed``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from access.policy.rowscope import LayerAccess
from access.policy.rules import Target, load_policy
from emergency.incidents.service import intake
from emergency.models import resource_layers
from emergency.plans.activation import activate
from emergency.plans.demo import district_plan
from emergency.plans.service import insert_plan
from layers.registry import default_registry
from tests.integration.auth_support import audit_rows, make_app, rows, sign_in

OWN, FOREIGN = "329902", "329903"
REGISTRY = default_registry()
POLICY = load_policy()
UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
# Minimal bodies that get past each write route's input checks, so that what answers is the row lookup.
BODIES: dict[str, dict[str, Any]] = {
    "emergency.incidents.update_incident": {"title": "探测"},
    "emergency.incidents.add_report": {"text": "探测续报"},
    "emergency.incidents.transition": {"to": "responding"},
    "emergency.dispatch.dispatch": {"resource_kind": "hospital", "resource_id": 1, "task": "探测"},
    "emergency.dispatch.request_material": {"depot_id": 1, "item": "探测", "quantity": 1},
    "emergency.dispatch.transition_order": {"to": "en_route"},
    "emergency.resources.update_resource": {"phone": "0250000000"},
    "emergency.resources.add_inventory": {"item": "探测", "unit": "件", "quantity": 1},
    "emergency.resources.update_inventory": {"quantity": 1},
    "emergency.plans.activate": {"level": 4, "reason": "探测"},
    "emergency.plans.mark_task": {"done": True},
    "emergency.plans.update_plan": {"title": "探测"},
}


def _district_layers() -> list[str]:
    """Layers the district regulator reads in its district only (the ones a probe can be out of scope on)."""
    from core.identity import Identity

    who = Identity(user_id=1, username="x", roles=frozenset({"district_regulator"}), district_code=OWN)
    out = []
    for layer in REGISTRY:
        decision = POLICY.decide(who, "read", Target("layer", layer.id))
        if decision.allowed and not decision.scope.all and POLICY.links[layer.id].district_column:
            out.append(layer.id)
    return sorted(out)


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts) -> Iterator[dict[str, Any]]:  # noqa: ANN001
    from tests.conftest import clone_database, drop_database

    url = clone_database(pg_cluster, "t_auth_audit_probes")
    app = make_app(url, demo_artifacts, rate_limits={"login": {"burst": 1000}})
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        lon, lat = conn.execute(sa.text("SELECT ST_X(p), ST_Y(p) FROM (SELECT ST_PointOnSurface(geom) p FROM "
                                        "districts WHERE code = :d) s"), {"d": FOREIGN}).one()
    with engine.connect() as conn:  # the service opens its own transaction
        incident = intake(conn, {"kind": "fire", "title": "探测目标", "location": {"lon": lon, "lat": lat}},
                          access=LayerAccess.unrestricted(), actor="test")["id"]
    with engine.begin() as conn:
        first = {layer: conn.execute(sa.text(f'SELECT min("{REGISTRY.get(layer).id_field}") FROM '
                                             f'"{REGISTRY.get(layer).table}" WHERE district_code = :d'),
                                     {"d": FOREIGN}).scalar_one() for layer in _district_layers()}
        hospital = conn.execute(sa.text("SELECT min(id) FROM hospitals WHERE district_code = :d"),
                                {"d": FOREIGN}).scalar_one()
        hazard_code = conn.execute(sa.text("SELECT min(code) FROM hazard_sources WHERE district_code = :d"),
                                   {"d": FOREIGN}).scalar_one()
        order = conn.execute(sa.text("INSERT INTO dispatch_orders (incident_id, resource_kind, resource_id, task, "
                                     "status) VALUES (:i, 'hospital', :r, '探测', 'dispatched') RETURNING id"),
                             {"i": incident, "r": hospital}).scalar_one()
        depot = first["depots"]
        line = conn.execute(sa.text("INSERT INTO depot_inventory (depot_id, item, unit, quantity) VALUES "
                                    "(:d, '探测物资', '箱', 10) RETURNING id"), {"d": depot}).scalar_one()
        plan = insert_plan(conn, district_plan(FOREIGN, "外区", conn), access=LayerAccess.unrestricted(), actor="test")
    with engine.connect() as conn:  # a task of the foreign incident: its plan activated
        task = activate(conn, incident, plan, {"level": 4, "reason": "探测"}, access=LayerAccess.unrestricted(),
                        actor="test")["tasks"][0]["id"]
    complaint = _foreign_complaint(engine, app.config["ONEMAP"], lon, lat)
    engine.dispose()
    client = app.test_client()
    sign_in(client, "district_reg")
    yield {"url": url, "client": client, "incident": incident, "order": order, "depot": depot, "line": line,
           "first": first, "hazard_code": hazard_code, "complaint": complaint, "plan": plan, "task": task}
    drop_database(pg_cluster, "t_auth_audit_probes")


PROBED = ("/api/emergency/", "/api/console/", "/api/complaints/", "/api/filings/")


def _reachable(rule: Any, method: str) -> bool:
    """Whether the district regulator's role may use the route's family at all, as the gate classifies it: a family
    the role may not enter is refused 403 before any row is looked up (the permission walks check those), so there
    is no existence to hide and nothing to probe."""
    from access.policy.classify import _flask
    from core.identity import Identity

    who = Identity(user_id=1, username="x", roles=frozenset({"district_regulator"}), district_code=OWN)
    path = re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "1", rule.rule)
    return all(POLICY.decide(who, a.action, a.target).allowed for a in _flask(path, method, POLICY).accesses)


def _foreign_complaint(engine: sa.Engine, settings: dict[str, Any], lon: float, lat: float) -> int:
    """A public complaint in the other district, accepted and assigned to it by the city."""
    from supervision.cases import registry, service
    from supervision.complaints.filing import file_complaint
    from tests.integration.cases_support import caller

    registry.configure(settings)
    body = {"category": "hidden_danger", "description": "探测目标：另一区县的举报", "location": {
        "lon": lon, "lat": lat, "datum": "wgs84"}}
    with engine.connect() as conn:
        number = file_complaint(conn, body, [], cases_config=settings["cases"], config=settings["complaints"])[0]["number"]
        case_id = conn.execute(sa.text("SELECT id FROM cases WHERE code = :n"), {"n": number}).scalar_one()
        conn.commit()
        who, access = caller("city_regulator")
        for action, form in (("accept", {}), ("assign", {"district_code": FOREIGN})):
            service.transition(conn, case_id, {"action": action, "form": form}, access=access, identity=who,
                               config=settings["cases"])
            conn.commit()   # (the answer is read after the move's transaction)
    return case_id


def _by_id_rules() -> list[Any]:
    import tempfile

    from werkzeug.routing import IntegerConverter

    from app import create_app

    # collected before any fixture exists: its own var directory, never the checkout's (a developer's `make run`)
    app = create_app({"database": {"url": "postgresql+psycopg://nobody@127.0.0.1:1/none"},
                      "paths": {"var": tempfile.mkdtemp(prefix="onemap-probe-var-")},
                      "logging": {"level": "ERROR", "format": "json"}})
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(PROBED):
            continue
        if any(isinstance(conv, IntegerConverter) for conv in rule._converters.values()) or "code" in rule.arguments:
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                if _reachable(rule, method):
                    out.append(pytest.param(rule, method, id=f"{method} {rule.rule}"))
    return out


RULES = _by_id_rules()


def _fill(rule: Any, world: dict[str, Any]) -> list[tuple[str, str]]:
    """(path, object id) for every way the rule can address a foreign row; an unknown argument fails the test,
    so a new by-id route cannot slip past unprobed."""
    args = set(rule.arguments)
    if args == {"code"}:   # a hazard source by its code (the filings API)
        return [(rule.build({"code": world["hazard_code"]})[1], world["hazard_code"])]
    if args == {"layer_id", "feature_id"}:
        return [(rule.build({"layer_id": layer, "feature_id": fid})[1], str(fid))
                for layer, fid in world["first"].items()]
    if args == {"kind", "resource_id"}:
        hidden = [k for k, layer in resource_layers().items() if layer in world["first"]]
        assert hidden, "no resource kind is district-scoped for the district regulator"
        return [(rule.build({"kind": k, "resource_id": world["first"][resource_layers()[k]]})[1],
                 str(world["first"][resource_layers()[k]])) for k in hidden]
    values = {"incident_id": world["incident"], "order_id": world["order"], "depot_id": world["depot"],
              "inventory_id": world["line"], "run": 1,  # run: an impact analysis's number within its incident
              "case_id": world["complaint"],            # a complaint the city assigned to the other district
              "plan_id": world["plan"], "version": 1, "task_id": world["task"]}
    assert args <= set(values), f"{rule.rule}: teach this test which foreign row {sorted(args - set(values))} is"
    filled = {a: values[a] for a in args}
    main = next(a for a in ("order_id", "incident_id", "depot_id", "plan_id", "case_id") if a in args)
    return [(rule.build(filled)[1], str(filled[main]))]


def _probe_rows(url: str, path: str) -> list[Any]:
    return [r for r in audit_rows(url, "access.out_of_scope") if _path(r) == path]


def _path(row: Any) -> str:
    return (row.path or "").split("?", 1)[0]  # the audit keeps the query string


@pytest.mark.parametrize(("rule", "method"), RULES)
def test_a_by_id_probe_of_a_foreign_row_is_a_404_and_audited(world: dict[str, Any], rule: Any, method: str) -> None:
    for path, object_id in _fill(rule, world):
        body = BODIES.get(rule.endpoint, {}) if method in UNSAFE else None
        response = world["client"].open(path, method=method, json=body)
        assert response.status_code == 404, (path, response.status_code, response.data[:300])
        probes = _probe_rows(world["url"], path)
        assert probes and all(p.outcome == "denied" for p in probes), (path, probes)
        assert probes[-1].object_id == object_id and probes[-1].username == "district_reg"
        if method in UNSAFE:
            writes = [r for r in audit_rows(world["url"], f"http.{method.lower()}") if _path(r) == path]
            assert writes and writes[-1].outcome == "denied", (path, writes)


@pytest.mark.parametrize("layer", _district_layers())
def test_ogc_item_and_wfs_by_id_probes_are_audited(world: dict[str, Any], layer: str) -> None:
    fid = world["first"][layer]
    item = f"/ogcapi/collections/{layer}/items/{fid}"
    response = world["client"].get(item + "?f=json")
    assert response.status_code == 404, response.data[:300]
    assert [p.outcome for p in _probe_rows(world["url"], item)] == ["denied"]
    wfs = world["client"].get("/ows", query_string={
        "SERVICE": "WFS", "VERSION": "2.0.0", "REQUEST": "GetFeature",
        "STOREDQUERY_ID": "urn:ogc:def:query:OGC-WFS::GetFeatureById", "ID": f"{layer}.{fid}"})
    assert b"<gml:" not in wfs.data or b"numberReturned=\"0\"" in wfs.data, wfs.data[:500]
    probes = [r for r in audit_rows(world["url"], "access.out_of_scope") if _path(r) == "/ows"
              and r.object_type == "layer" and r.object_id == str(fid)]
    assert probes and probes[-1].outcome == "denied", probes


def test_a_write_to_a_foreign_row_over_ogc_api_is_recorded_denied(world: dict[str, Any]) -> None:
    """Incidents are editable over OGC API Features: a DELETE of another district's incident is a 404, denied."""
    path = f"/ogcapi/collections/incidents/items/{world['incident']}"
    response = world["client"].delete(path)
    assert response.status_code == 404, response.data[:300]
    assert rows(world["url"], "SELECT count(*) AS n FROM incidents WHERE id = :i", i=world["incident"])[0].n == 1
    writes = [r for r in audit_rows(world["url"], "http.delete") if _path(r) == path]
    assert writes and writes[-1].outcome == "denied", writes


def test_the_walk_found_the_by_id_routes() -> None:
    assert {r.values[0].rule for r in RULES} >= {"/api/emergency/incidents/<int:incident_id>",
                                                 "/api/console/features/<layer_id>/<int:feature_id>",
                                                 "/api/filings/hazard-sources/<code>",
                                                 "/api/complaints/<int:case_id>"}
    assert "/api/complaints/reporters/<int:case_id>" not in {r.values[0].rule for r in RULES}  # refused by the gate
    assert "rescue_teams" in _district_layers() and "incidents" in _district_layers()
