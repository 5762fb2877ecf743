"""The case pages: ``/cases`` (work list) and ``/cases/<id>`` (one case), plus the case UI strings as JSON.

Thin shells: the page embeds a boot document (language, strings, root URL, the caller's permissions) and its
script reads everything else from the case API (``/api/cases``, spec: HTTP API), which decides scope and roles.
A case outside the caller's scope is therefore refused by the API exactly as any other reader would be (404),
and the page shows that answer. Who may open the pages at all is the policy's ``case_pages`` family.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, render_template, request

from access.policy.rowscope import LayerAccess
from core import clock, i18n
from core.database import get_db
from core.manifest import STATIC_URL
from core.workdays import CalendarGap
from core.workdays_store import load_calendar
from supervision.cases import ui_strings

pages_bp = Blueprint("case_pages", __name__, template_folder="templates")

PACKAGE = "supervision.cases"
# the city's own basemap (MapProxy's Web Mercator grid), as the console draws it (app/console/catalog.py)
BASEMAP = "tiles/wmts/basemap/webmercator/{z}/{x}/{y}.png"
# the working-day window the case page counts deadlines in (days before and after today)
WORKDAYS_BEFORE, WORKDAYS_AFTER = 120, 370


def _root() -> str:
    return request.script_root.rstrip("/") + "/"


def _lang() -> str:
    """``?lang=`` decides, as on the console; the default is Chinese."""
    return i18n.normalise_lang(request.args.get("lang"))


def static_url(filename: str) -> str:
    """The URL of a file of this package's ``static/`` folder (served by the console's module-static route)."""
    return f"{_root()}{STATIC_URL}/{PACKAGE}/{filename}"


def _boot(page: str, **extra: Any) -> dict[str, Any]:
    lang = _lang()
    return {
        "page": page,
        "lang": lang,
        "strings": ui_strings.strings(lang),
        "enumLabels": {},
        "root": _root(),
        "can": LayerAccess.for_request().permissions(),
        "basemap": _root() + BASEMAP,
        # "today" of the server's clock (the test clock moves it): deadlines are coloured against it, not the browser's
        "today": clock.today().isoformat(),
        "now": clock.now().isoformat(),   # minutes deadlines (an alarm's escalation) count from the server's instant
        **extra,
    }


def workday_window(today: date) -> dict[str, Any] | None:
    """Which days around ``today`` are working days (调休 included), from the administrator's holiday table, as
    ``{"start": ISO date, "days": "0111110…"}``: the page counts the working days left to a deadline with it.
    The window stops before the first year whose schedule is not confirmed (no guessing); None when even today's
    year is missing."""
    calendar = load_calendar(get_db())
    start = today - timedelta(days=WORKDAYS_BEFORE)
    days = []
    for offset in range(WORKDAYS_BEFORE + WORKDAYS_AFTER + 1):
        day = start + timedelta(days=offset)
        try:
            days.append("1" if calendar.is_working_day(day) else "0")
        except CalendarGap:
            if day <= today:
                start, days = day + timedelta(days=1), []  # an unknown earlier year: begin after it
                continue
            break
    if not days or start > today:
        return None
    return {"start": start.isoformat(), "days": "".join(days)}


def _render(template: str, boot: dict[str, Any], script: str) -> str:
    return render_template(template, boot=boot, s=boot["strings"], lang=boot["lang"], script=static_url(script),
                           css=static_url("cases.css"), lang_other="zh-CN" if boot["lang"] == "en" else "en")


@pages_bp.get("/cases")
def work_list() -> str:
    boot = _boot("cases", workdays=workday_window(clock.today()))
    return _render("cases/list.html", boot, "list_page.js")


@pages_bp.get("/cases/<int:case_id>")
def case_page(case_id: int) -> str:
    boot = _boot("case", caseId=case_id, workdays=workday_window(clock.today()))
    return _render("cases/case.html", boot, "case_page.js")


@pages_bp.get("/cases/strings")
def strings() -> Response:
    """The case UI strings in ``?lang=`` (the console plug-in adds them to the console's)."""
    response = jsonify(ui_strings.case_strings(_lang()))
    response.cache_control.max_age = 300
    response.cache_control.private = True
    return response
