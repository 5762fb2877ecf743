"""Every transition of every case type × every role × a case inside and outside the caller's scope, through the
whole WSGI app behind the policy gate (``POST /api/cases`` and ``/api/cases/<id>/transitions``).

The expectation is generated from the two declarations that are the requirement: the policy (which roles reach
the ``cases`` module, reading and writing, in which scope) and the case-type files (which roles take which step,
through which kind of scope). Anonymous callers get 401; a role the policy keeps out of the module 403; a case
outside the read scope 404 (it does not exist for the caller); a step the role may not take, or not through the
scope it has, 403; a step not possible in the case's state 409; the rest succeed. A few cells are also spelled
out by hand, so the generator cannot drift with the code it checks.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa

from access.policy.rowscope import LayerAccess
from access.policy.rules import Authz, load_policy
from core import clock
from core.identity import ROLES
from supervision.cases import engine as case_engine
from supervision.cases import registry, service
from supervision.cases.definitions import CaseType, Transition
from supervision.records import history as records_history
from supervision.records.schemas import ENTERPRISE
from tests.system.test_permission_matrix import InjectIdentity, build_world, identity

pytestmark = pytest.mark.system
ALL_ROLES = ["anonymous", *ROLES]
PLACES = ["own", "foreign"]
CONFIG = {"issuing_unit": "示应急", "files_dir": "var/case-files", "max_file_bytes": 1_000_000,
          "media_types": ["image/png"], "worker_interval_s": 1, "due_soon_days": 3}


def _types() -> list[CaseType]:
    return list(registry.case_types().values())


def _user_steps() -> list[tuple[str, str]]:
    return [(ct.id, t.id) for ct in _types() for t in ct.transitions if not t.system]


@pytest.fixture(scope="module")
def world(pg_cluster, template_url: str, demo_artifacts: Path,  # noqa: ANN001
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    from werkzeug.test import Client

    for world in build_world(pg_cluster, demo_artifacts, tmp_path_factory, "t_permission_cases"):
        world.client = Client(InjectIdentity(world.gate))
        world.anchors = {"own": world.objects[("enterprises", "own")], "foreign": world.objects[("enterprises", "foreign")]}
        with world.engine.connect() as conn:   # a case type anchored to hazard sources only (重大危险源备案)
            for place in PLACES:
                hs = world.objects[("hazard_sources", place)]
                hs.code = conn.execute(sa.text("SELECT code FROM hazard_sources WHERE id = :i"), {"i": hs.id}).scalar_one()
        yield world


def anchor_of(world: SimpleNamespace, ct: CaseType, place: str) -> tuple[dict[str, Any], str, SimpleNamespace]:
    """The anchor a case of ``ct`` is opened on at ``place``: the enterprise where the type takes one, else the
    enterprise's hazard source; (request anchor, its layer, the test object)."""
    if "enterprise" in ct.anchor or "hazard_source" not in ct.anchor:
        anchor = world.anchors[place]
        return {"kind": "enterprise", "id": anchor.uscc}, "enterprises", anchor
    hs = world.objects[("hazard_sources", place)]
    return {"kind": "hazard_source", "id": hs.code}, "hazard_sources", hs


def sample_value(prop: dict[str, Any]) -> Any:
    """A value the property's schema accepts."""
    if "enum" in prop:
        return prop["enum"][0]
    if prop.get("format") == "date":
        return (clock.today() + timedelta(days=40)).isoformat()
    if prop.get("type") in ("number", "integer"):
        return prop.get("minimum", 1)
    if prop.get("type") == "object":
        return sample_form(prop)
    if prop.get("type") == "array":
        return [sample_value(prop.get("items") or {})] * prop.get("minItems", 0)
    if prop.get("type") == "boolean":
        return True
    return "权限测试内容"


def sample_form(schema: dict[str, Any]) -> dict[str, Any]:
    """A valid filling of a form (or of an object field): the form's first ``examples`` entry where it gives one (a
    form whose effects check the content as a whole, such as a GB 18218 grading, declares a complete example), else
    every required field, and as many of the first optional fields as ``minProperties`` asks for, with a value its
    schema accepts."""
    if schema.get("examples"):
        return copy.deepcopy(schema["examples"][0])
    props = schema.get("properties") or {}
    names = list(schema.get("required") or ())
    extra = [n for n in props if n not in names]
    names += extra[:max(0, schema.get("minProperties", 0) - len(names))]
    return {name: sample_value(props[name]) for name in names}


def _case_in(world: SimpleNamespace, ct: CaseType, state: str, place: str) -> int:
    """A case of ``ct`` on the own or foreign enterprise, put into ``state`` (its data able to pass the guards)."""
    target, _layer, anchor = anchor_of(world, ct, place)
    opening = next((t for t in ct.openings() if not t.system), None)
    with world.engine.connect() as conn:
        if opening is None:
            case = _opened_by_the_system(conn, ct, world.anchors[place])
        else:
            # opened by a holder of an opening role whose own scope holds the anchor (an enterprise user of it)
            role = "city_regulator" if "city_regulator" in opening.roles else sorted(opening.roles)[0]
            who = replace(identity(role, world), district_code=anchor.district,
                          enterprise_uscc=anchor.uscc if role == "enterprise_user" else None)
            case = service.open_case(conn, {"case_type": ct.id, "action": opening.id, "anchor": target,
                                            "form": sample_form(opening.form)},
                                     access=LayerAccess(Authz(load_policy(), who)), identity=who, config=CONFIG,
                                     answer=False)
        with conn.begin():
            data: dict[str, Any] = {"rectify_by": (clock.today() + timedelta(days=20)).isoformat(), "level": "general",
                                    "alarm_cleared": True}   # (an alarm case closes once its alarm has cleared)
            if opening is not None and "version" in (opening.form.get("properties") or {}):  # a change request is based on the record's version
                data["version"] = records_history.current_version(conn, ENTERPRISE, anchor.uscc)
            conn.execute(sa.text("UPDATE cases SET state = :s, data = data || CAST(:d AS jsonb) WHERE id = :id"),
                         {"s": state, "d": __import__("json").dumps(data), "id": case["id"]})
    return case["id"]


def _opened_by_the_system(conn: sa.Connection, ct: CaseType, anchor: Any) -> dict[str, Any]:
    """A case of a type only the system opens (报警处置: the monitoring worker), at the anchor enterprise's place."""
    from core.changes import unit_of_work

    opening = ct.openings()[0]
    with unit_of_work(conn, case_engine.EVENT_TYPES) as changes:
        lon, lat = conn.execute(sa.text("SELECT ST_X(geom), ST_Y(geom) FROM enterprises WHERE uscc = :u"),
                                {"u": anchor.uscc}).one()
        case = case_engine.insert_case(conn, ct, anchor_kind="point", anchor_id=None, district_code=anchor.district,
                                       enterprise_uscc=anchor.uscc, grid_cell_code=None, parent_id=None,
                                       opened_by=None, now=clock.now(), state=opening.to, data={}, lon=lon, lat=lat)
        case_engine.apply(case_engine.EffectContext(conn, ct, case, {}, None, changes, clock.now(), config=CONFIG),
                          opening)
    return case


def expected(world: SimpleNamespace, role: str, ct: CaseType, t: Transition, place: str) -> int:
    if role == "anonymous":
        return 401
    who = identity(role, world)
    access = LayerAccess(Authz(load_policy(), who))
    read, write = access.module_scope("cases", "read"), access.module_scope("cases", "write")
    _target, layer, anchor = anchor_of(world, ct, place)
    case = {"district_code": anchor.district, "enterprise_uscc": anchor.uscc}
    if write.empty:
        return 403                                    # the gate: no rule lets this role write through cases
    if t.opening:
        if not access.admits(layer, district_code=anchor.district, enterprise_uscc=anchor.uscc):
            return 400                                # the anchor is a feature the caller cannot see
    elif not case_engine.scope_kinds(read, case):
        return 404
    if not who.roles & t.roles or not case_engine.scope_kinds(write, case) & t.scope:
        return 403
    return 201 if t.opening else 200


@pytest.mark.parametrize("place", PLACES)
@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize(("case_type", "action"), _user_steps())
def test_every_step_by_every_role(world: SimpleNamespace, case_type: str, action: str, role: str, place: str) -> None:
    ct = registry.get(case_type)
    t = ct.transition(action)
    env = {"test.identity": identity(role, world)}
    body = {"action": action, "form": sample_form(t.form)}
    if t.opening:
        body.update(case_type=case_type, anchor=anchor_of(world, ct, place)[0])
        response = world.client.post("/api/cases", json=body, environ_base=env)
    else:
        case_id = _case_in(world, ct, t.from_states[0], place)
        response = world.client.post(f"/api/cases/{case_id}/transitions", json=body, environ_base=env)
    want = expected(world, role, ct, t, place)
    assert response.status_code == want, (case_type, action, role, place, response.get_json())
    if want in (200, 201):
        assert response.get_json()["state"] == t.to


@pytest.mark.parametrize(("case_type", "action"), [s for s in _user_steps()
                                                   if not registry.get(s[0]).transition(s[1]).opening])
def test_a_step_not_possible_in_the_state_is_409(world: SimpleNamespace, case_type: str, action: str) -> None:
    ct = registry.get(case_type)
    t = ct.transition(action)
    other = next((s for s in ct.states if s not in t.from_states and not ct.states[s].final), None)
    if other is None:
        other = next(s for s in ct.states if s not in t.from_states)
    case_id = _case_in(world, ct, other, "own")
    role = "city_regulator" if "city_regulator" in t.roles else sorted(t.roles)[0]
    response = world.client.post(f"/api/cases/{case_id}/transitions", environ_base={"test.identity": identity(role, world)},
                                 json={"action": action, "form": sample_form(t.form)})
    assert response.status_code == 409, response.get_json()
    assert response.get_json()["code"] == "invalid_transition"


def test_hand_written_cells(world: SimpleNamespace) -> None:
    """The generator's answer for cells a regulator would name, written out."""
    ct = registry.get("hidden_danger")
    cells = {("grid_worker", "report", "own"): 201, ("grid_worker", "dismiss", "own"): 403,
             ("enterprise_user", "accept", "own"): 403, ("enterprise_user", "submit_plan", "foreign"): 404,
             ("district_regulator", "accept", "foreign"): 404, ("dispatcher", "report", "own"): 403,
             ("city_regulator", "accept", "foreign"): 200, ("intermediary_user", "report", "own"): 403}
    for (role, action, place), status in cells.items():
        assert expected(world, role, ct, ct.transition(action), place) == status, (role, action, place)
