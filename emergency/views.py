"""The emergency API under ``/api/emergency`` (one blueprint tree; errors are ``application/problem+json``).

Resources (kinds rescue_team, depot, shelter, expert, hospital, fire_station → their registry layers):
  GET    /resources/<kind>                      list: attribute filters, q, bbox, limit, offset → FeatureCollection
  POST   /resources/<kind>                      create: attributes + lon, lat, crs → 201 Feature
  GET    /resources/<kind>/<id>                 → Feature (with its road snap)
  PATCH  /resources/<kind>/<id>                 partial update → Feature
  POST   /resources/<kind>/import?crs=&dry_run= .csv/.xlsx, all rows or none → 201 {imported, ids} | 400 problems
  GET    /resources/statistics?kinds=           counts and capacities per district
  GET|POST /resources/depot/<id>/inventory      stock lines | restock (a new batch)
  PATCH  /resources/depot/<id>/inventory/<line> stocktake
Incidents:
  POST   /incidents                             intake (接报) → 201 incident with its 快报
  GET    /incidents?status=&kind=&district_code=&active=   → FeatureCollection, newest first
  GET    /incidents/<id>                        incident + reports (timeline) + history
  PATCH  /incidents/<id>                        title, kind, response_level (Ⅰ–Ⅳ), description, enterprise_uscc
  POST   /incidents/<id>/reports                续报 → 201
  POST   /incidents/<id>/transitions            {"to", "note"} → 200 | 409 {current, requested, allowed}
  GET    /incidents/<id>/history                the change history
  GET    /incidents/lifecycle                   the state machines, as data
Routing and dispatch:
  GET    /nearest-resources?lon=&lat=&crs=|incident_id=&kinds=&limit=&snap_limit_m=
  GET    /isochrones?lon=&lat=&crs=|incident_id=&minutes=5,10,15,30&direction=to|from&snap_limit_m=
  POST   /incidents/<id>/dispatch               {resource_kind, resource_id, task, note} → 201 order
  GET    /incidents/<id>/dispatch               the incident's orders
  GET    /dispatch-orders/<id>
  POST   /dispatch-orders/<id>/transitions      {"to"} dispatched → en_route → on_scene → returned (409 otherwise)
  POST   /incidents/<id>/material-requests      {depot_id, item, quantity, unit?, note?} → 201 | 409 {available}
  GET    /incidents/<id>/material-requests
Impact analysis (辅助决策):
  POST   /incidents/<id>/impact                 model (plume | explosion) and its inputs → 201 the run: zones
                                                (GeoJSON, EPSG:4490) with population, targets, enterprises,
                                                hazard sources, roads inside; evacuation proposal
  GET    /incidents/<id>/impact                 the incident's runs (summaries, oldest first)
  GET    /incidents/<id>/impact/<run>           one run

Emergency plans (GB/T 29639-2020) and their activation: see ``emergency/plans/views.py`` (``/plans…``,
``/incidents/<id>/plans``, ``/incidents/<id>/plans/<plan>/activate``, ``/incidents/<id>/tasks[/<task>]``).

The snap limit defaults to 2000 m (configuration ``emergency.snap_limit_m``, at most ``emergency.max_snap_limit_m``;
environment ``ONEMAP_SNAP_LIMIT_M``).

Data scope: every endpoint applies the caller's scope (see ``emergency/access.py``): an incident, order or resource
outside it is 404 by id and absent from lists, statistics and nearest-resource answers; creating or changing a row
outside the module's write scope is 403. Live events about a row reach only the streams that may read it.
"""

from __future__ import annotations

from flask import Blueprint

from emergency.dispatch.views import bp as dispatch_bp
from emergency.impact.views import bp as impact_bp
from emergency.incidents.views import bp as incidents_bp
from emergency.plans.views import bp as plans_bp
from emergency.resources.views import bp as resources_bp

bp = Blueprint("emergency", __name__, url_prefix="/api/emergency")
bp.register_blueprint(resources_bp)
bp.register_blueprint(incidents_bp)
bp.register_blueprint(dispatch_bp)
bp.register_blueprint(impact_bp)
bp.register_blueprint(plans_bp)
