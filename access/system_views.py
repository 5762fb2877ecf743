"""The system administrator's view (系统管理员 only — 三权分立): the effective configuration, read-only, secrets
masked. Configuration itself changes through the deployment's YAML file and environment, not through the web."""

from __future__ import annotations

import copy
from typing import Any

import yaml
from flask import Blueprint, Response, current_app, make_response, render_template

from access import web

bp = Blueprint("system", __name__)
bp.record_once(lambda state: web.setup(state.app))


def masked(config: dict[str, Any]) -> dict[str, Any]:
    from core.db import safe_url

    out = copy.deepcopy(config)
    if out.get("database", {}).get("url"):
        out["database"]["url"] = safe_url(out["database"]["url"])
    if out.get("realtime", {}).get("redis_url"):
        out["realtime"]["redis_url"] = safe_url(out["realtime"]["redis_url"])
    return out


@bp.get("/admin/config")
def config_page() -> Response:
    web.require_person("system_admin")
    text = yaml.safe_dump(masked(current_app.config["ONEMAP"]), allow_unicode=True, sort_keys=False)
    response = make_response(render_template("auth/config.html", config_text=text))
    response.headers["Cache-Control"] = "no-store"
    return response
