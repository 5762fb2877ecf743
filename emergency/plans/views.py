"""REST API of emergency plans and their activation (thin: parsing and status codes).

Plans (policy family ``emergency_plans``):
  GET  /plans?kind=&owner_level=&district_code=&enterprise_uscc=&review=overdue|due_soon&limit=&offset=
  POST /plans                                   a plan body (JSON Schema: GET /plans/schema) → 201, version 1
  GET  /plans/schema                            the JSON Schema of a plan body
  GET  /plans/<id>                              the plan with its current version's body
  PUT  /plans/<id>                              the whole new body → the next version (earlier ones kept)
  GET  /plans/<id>/versions                     every version (number, author, time)
  GET  /plans/<id>/versions/<version>           one version's body
For an incident (policy family ``emergency``):
  GET  /incidents/<id>/plans                    matching plans, suggested level and the trigger that matched
  POST /incidents/<id>/plans/<plan>/activate    {level, reason?} → 201 activation, tasks, proposed dispatch; 409 once
  GET  /incidents/<id>/tasks                    the incident's tasks (overdue flagged)
  PATCH /incidents/<id>/tasks/<task>            {done: true|false} → the task
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from access.policy.rowscope import LayerAccess
from core.database import get_db
from core.identity import current_identity
from core.params import json_object
from emergency.plans import activation, schema, service

bp = Blueprint("plans", __name__)


def _body() -> dict:
    return json_object(request.get_json(silent=True))


@bp.get("/plans")
def list_plans() -> Response:
    return jsonify(service.list_plans(get_db(), request.args, access=LayerAccess.for_request()))


@bp.get("/plans/schema")
def plan_schema() -> Response:
    return jsonify(schema.plan_schema())


@bp.post("/plans")
def create_plan() -> tuple[Response, int]:
    plan = service.create_plan(get_db(), _body(), access=LayerAccess.for_request(),
                               actor=current_identity().username)
    return jsonify(plan), 201


@bp.get("/plans/<int:plan_id>")
def get_plan(plan_id: int) -> Response:
    return jsonify(service.get_plan(get_db(), plan_id, access=LayerAccess.for_request()))


@bp.put("/plans/<int:plan_id>")
def update_plan(plan_id: int) -> Response:
    return jsonify(service.update_plan(get_db(), plan_id, _body(), access=LayerAccess.for_request(),
                                       actor=current_identity().username))


@bp.get("/plans/<int:plan_id>/versions")
def list_versions(plan_id: int) -> Response:
    versions = service.list_versions(get_db(), plan_id, access=LayerAccess.for_request())
    return jsonify({"plan_id": plan_id, "versions": versions})


@bp.get("/plans/<int:plan_id>/versions/<int:version>")
def get_version(plan_id: int, version: int) -> Response:
    return jsonify(service.get_plan(get_db(), plan_id, access=LayerAccess.for_request(), version=version))


@bp.get("/incidents/<int:incident_id>/plans")
def incident_plans(incident_id: int) -> Response:
    return jsonify(activation.matching_plans(get_db(), incident_id, access=LayerAccess.for_request()))


@bp.post("/incidents/<int:incident_id>/plans/<int:plan_id>/activate")
def activate(incident_id: int, plan_id: int) -> tuple[Response, int]:
    result = activation.activate(get_db(), incident_id, plan_id, _body(), access=LayerAccess.for_request(),
                                 actor=current_identity().username)
    return jsonify(result), 201


@bp.get("/incidents/<int:incident_id>/tasks")
def list_tasks(incident_id: int) -> Response:
    return jsonify(activation.list_tasks(get_db(), incident_id, access=LayerAccess.for_request()))


@bp.patch("/incidents/<int:incident_id>/tasks/<int:task_id>")
def mark_task(incident_id: int, task_id: int) -> Response:
    return jsonify(activation.mark_task(get_db(), incident_id, task_id, _body(), access=LayerAccess.for_request(),
                                        actor=current_identity().username))
