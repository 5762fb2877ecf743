"""Bulk volume for the case benchmark: hidden-danger cases with their clocks, timers, events and layer rows.

The engine is far too careful (one transaction per move, the case row locked, every effect run) to make 50,000
cases in a benchmark's set-up time, and its correctness is the tests' business, not the benchmark's. So this plans
each case's life in Python (seeded: the same volume every run), exactly as the engine would have left it — the
same rows in ``cases``, ``case_clocks`` (due dates counted by :func:`supervision.cases.clocks.compute`, the
engine's own function), ``case_timers``, ``case_events`` (hash-chained by the table's own trigger, one row at a
time), the audit log (one record per event, as :func:`supervision.cases.engine.finish` writes), the registry layer
rows (``hidden_dangers`` and ``supervised_listings``, the fields the case types project) and the gapless case codes
and document numbers — and writes them set-based: COPY into temporary tables, then ``INSERT … SELECT`` in order.

Open cases: ``reported`` (plan clock), ``rectifying`` (rectify clock on the plan's date; about one in six past it,
breached, escalated to a 挂牌督办 child case), ``verifying`` (verify clock, some after a rejection). Closed cases
(``closed`` or ``dismissed``) over two years make up the rest of the events.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from core import clock as core_clock
from supervision.cases import clocks, registry

SEED = 20261207
SEEDER = "bench-seed"
CATEGORIES = ("equipment", "process", "site", "management", "fire", "electrical", "hazchem", "other")
TITLES = ("压力容器安全阀未定期校验", "安全通道被物料占用", "消防栓被遮挡", "临时用电线路私拉乱接", "储罐区防火堤破损",
          "特种作业人员无证上岗", "有限空间作业未设警示标志", "可燃气体报警器未校验", "工艺参数报警联锁被摘除")


@dataclass
class Planned:
    n: int
    case_type: str
    ent: Any
    opened_at: datetime
    opened_by: str | None
    state: str
    data: dict[str, Any]
    parent: int | None = None
    closed_at: datetime | None = None
    state_entered_at: datetime | None = None
    events: list[tuple] = field(default_factory=list)     # (action, from, to, actor, roles, at, form, results)
    clocks: list[dict[str, Any]] = field(default_factory=list)
    pending_listings: list[datetime] = field(default_factory=list)
    code: str = ""


def _cn_day(at: datetime) -> date:
    return at.astimezone(core_clock.CHINA).date()


class Planner:
    """Plans cases' lives at simulated times, writing what the engine and the timer worker would have written."""

    def __init__(self, conn: Connection, rng: random.Random, now: datetime) -> None:
        self.rng, self.now, self.today = rng, now, _cn_day(now)
        self.cal = clocks.calendar(conn)
        self.types = {"hidden_danger": registry.get("hidden_danger"),
                      "supervised_listing": registry.get("supervised_listing")}
        self.cases: list[Planned] = []
        self.dues: dict[tuple, clocks.Due] = {}

    # -- clocks: started on entering their state, stopped on leaving it; timers fire warnings and breaches ------
    def _clock(self, p: Planned, clock_id: str, started: datetime, stopped: datetime | None) -> dict[str, Any]:
        clock = self.types[p.case_type].clocks[clock_id]
        key = (p.case_type, clock_id, _cn_day(started), p.data.get("rectify_by") if clock.date else None)
        if key not in self.dues:   # the same inputs give the same dates: count each once
            self.dues[key] = clocks.compute(self.cal, clock, key[2], [], 0, {"data": p.data})
        due = self.dues[key]
        breach_at = clocks.breach_instant(due.due_date)
        warn_at = core_clock.china_midnight(due.warn_date) if due.warn_date else None
        end = stopped or self.now
        row = {"clock": clock_id, "started_on": _cn_day(started), "due": due.due_date, "warn": due.warn_date,
               "provisional": due.provisional, "breached_at": breach_at if breach_at <= end else None,
               "stopped_at": stopped, "timers": []}
        if warn_at and warn_at <= end and warn_at < breach_at:
            p.events.append(("clock.warn", p.state, p.state, None, [], warn_at, {},
                             {"clock": {"clock": clock_id, "due_date": due.due_date.isoformat(), "status": "warned"}}))
        if row["breached_at"]:
            results: dict[str, Any] = {"clock": {"clock": clock_id, "due_date": due.due_date.isoformat(),
                                                 "status": "breached"}}
            if clock_id == "rectify":   # hidden_danger.yaml: the breach opens a 挂牌督办 child case
                p.pending_listings.append(breach_at)
                p.data["listed"] = True
                results["opened"] = [{"case_type": "supervised_listing"}]
            p.events.append(("clock.breach", p.state, p.state, None, [], breach_at, {}, results))
        if stopped is None:
            row["status"] = "breached" if row["breached_at"] else "running"
            if row["status"] == "running":
                row["timers"] = [("breach", breach_at, None)] + (
                    [("warn", warn_at, warn_at if warn_at <= self.now else None)] if warn_at else [])
        else:
            row["status"] = "late" if row["breached_at"] else "met"
        previous = [r for r in p.clocks if r["clock"] == clock_id]
        row["generation"] = (previous[0]["generation"] if previous else 0) + 2   # started, then counted
        p.clocks = [r for r in p.clocks if r["clock"] != clock_id] + [row]       # one row per clock (upsert)
        return row

    def _listing(self, parent: Planned, at: datetime) -> None:
        lifted = parent.closed_at if parent.state == "closed" else None   # only the parent's acceptance lifts it
        child = Planned(len(self.cases), "supervised_listing", parent.ent, at, None, "listed", {}, parent=parent.n,
                        state_entered_at=at)
        self.cases.append(child)
        child.events.append(("list", None, "listed", None, [], at, {}, {}))
        self._clock(child, "listing", at, lifted)
        if lifted:
            child.events.append(("lift", "listed", "lifted", None, [], lifted, {}, {}))
            child.state, child.closed_at, child.state_entered_at = "lifted", lifted, lifted

    def _move(self, p: Planned, action: str, to: str, actor: str, role: str, at: datetime, form: dict) -> None:
        p.events.append((action, p.state, to, actor, [role], at, form, {}))
        p.data.update(form)
        p.state, p.state_entered_at = to, at
        if to in ("closed", "dismissed"):
            p.closed_at = at

    # -- one hidden danger's life -----------------------------------------------------------------------------
    def hidden_danger(self, ent: Any, opened: datetime, fate: str, *, rectify_by: date | None = None,
                      plan_at: datetime | None = None, report_at: datetime | None = None,
                      verified_at: datetime | None = None, rejected: bool = False) -> Planned:
        rng = self.rng
        who = rng.choices(["enterprise_user", "grid_worker", "district_regulator"], [5, 2.5, 2.5])[0]
        ent_user, regulator = f"ent_{ent.uscc[-6:]}", f"district_{ent.district_code}"
        actor = {"enterprise_user": ent_user, "grid_worker": f"grid_{ent.district_code}",
                 "district_regulator": regulator}[who]
        form = {"title": rng.choice(TITLES), "level": "major" if rng.random() < 0.05 else "general",
                "category": rng.choice(CATEGORIES), "description": "日常排查发现", "rule_violated": "《安全生产法》第四十一条"}
        source = {"enterprise_user": "self_check", "grid_worker": "grid_patrol"}.get(who, "inspection")
        p = Planned(len(self.cases), "hidden_danger", ent, opened, actor, "reported",
                    {**form, "source": source, "listed": False}, state_entered_at=opened)
        self.cases.append(p)
        p.events.append(("report", None, "reported", actor, [who], opened, form, {}))
        reg_role = "district_regulator"
        if form["level"] == "major":   # a major hidden danger is verified by the city (guard of accept)
            regulator, reg_role = "city_regulator_1", "city_regulator"
        self._clock(p, "plan", opened, plan_at)
        if fate == "dismissed":
            self._move(p, "dismiss", "dismissed", regulator, reg_role, plan_at, {"reason": "经核查不构成事故隐患"})
        elif fate != "reported":
            self._move(p, "submit_plan", "rectifying", ent_user, "enterprise_user", plan_at,
                       {"rectify_by": rectify_by.isoformat(), "measures": "制定整改方案并落实",
                        "funds": round(rng.uniform(0.5, 50), 1), "responsible_person": "安全负责人"})
            self._clock(p, "rectify", plan_at, report_at)
            if fate != "rectifying":
                self._rectified(p, ent_user, report_at)
                if rejected:
                    check = min(report_at + timedelta(days=rng.uniform(1, 5)), self.now - timedelta(hours=3))
                    self._clock(p, "verify", report_at, check)
                    self._move(p, "reject", "rectifying", regulator, reg_role, check,
                               {"reason": "整改不到位", "rectify_by": (_cn_day(check) + timedelta(days=15)).isoformat()})
                    report_at = min(check + timedelta(days=rng.uniform(3, 12)), self.now - timedelta(hours=2))
                    self._clock(p, "rectify", check, report_at)
                    self._rectified(p, ent_user, report_at)
                self._clock(p, "verify", report_at, verified_at)
                if fate == "closed":
                    self._move(p, "accept", "closed", regulator, reg_role, verified_at,
                               {"opinion": "复查合格，同意销号"})
                    if p.data["listed"]:
                        p.events[-1] = (*p.events[-1][:7], {"children": [{"action": "lift", "to": "lifted"}]})
                    p.data["listed"] = False
        for at in p.pending_listings:
            self._listing(p, at)
        p.events.sort(key=lambda e: e[5])
        return p

    def _rectified(self, p: Planned, actor: str, at: datetime) -> None:
        self._move(p, "submit_report", "verifying", actor, "enterprise_user", at,
                   {"completed_on": _cn_day(at).isoformat(), "description": "已按要求整改完毕"})

    # -- the volume: open cases in every state, closed ones over two years --------------------------------------
    def open_case(self, ent: Any) -> Planned:
        rng, now = self.rng, self.now
        state = rng.choices(["reported", "rectifying", "verifying"], [0.2, 0.55, 0.25])[0]
        if state == "reported":
            return self.hidden_danger(ent, now - timedelta(days=rng.uniform(0.1, 12)), "reported")
        if state == "rectifying":
            overdue = rng.random() < 0.16
            due = self.today + timedelta(days=-rng.randint(1, 60) if overdue else rng.randint(1, 60))
            plan_at = min(now - timedelta(hours=1), core_clock.china_midnight(due) - timedelta(
                days=rng.choice([7, 15, 30, 30, 45, 60]), hours=-rng.uniform(1, 9)))
            return self.hidden_danger(ent, plan_at - timedelta(days=rng.uniform(0.2, 6)), "rectifying",
                                      rectify_by=due, plan_at=plan_at)
        rejected = rng.random() < 0.1
        report_at = now - timedelta(days=rng.uniform(0.1, 13) + (14 if rejected else 0))
        plan_at = report_at - timedelta(days=rng.uniform(5, 40))
        due = _cn_day(report_at) + timedelta(days=rng.randint(1, 20))
        return self.hidden_danger(ent, plan_at - timedelta(days=rng.uniform(0.2, 6)), "verifying", rectify_by=due,
                                  plan_at=plan_at, report_at=report_at, rejected=rejected)

    def closed_case(self, ent: Any) -> Planned:
        rng, now = self.rng, self.now
        opened = now - timedelta(days=rng.uniform(120, 730))
        plan_at = opened + timedelta(days=rng.uniform(0.2, 6))
        if rng.random() < 0.05:
            return self.hidden_danger(ent, opened, "dismissed", plan_at=plan_at)
        days = rng.choice([7, 15, 30, 30, 45, 60])
        late = rng.random() < 0.1
        report_at = plan_at + timedelta(days=days * (rng.uniform(1.1, 1.6) if late else rng.uniform(0.3, 0.95)))
        rejected = rng.random() < 0.1
        verified = report_at + timedelta(days=rng.uniform(1, 9) + (20 if rejected else 0))
        return self.hidden_danger(ent, opened, "closed", rectify_by=_cn_day(plan_at) + timedelta(days=days),
                                  plan_at=plan_at, report_at=report_at, verified_at=verified, rejected=rejected)


# -- writing ----------------------------------------------------------------------------------------------------
TEMP_TABLES = """
CREATE TEMP TABLE seed_cases (n int PRIMARY KEY, case_type text, code text, type_version text, title text,
    state text, uscc text, parent_n int, data jsonb, version int, due date, warn date, overdue bool,
    opened_at timestamptz, opened_by text, state_entered_at timestamptz, closed_at timestamptz) ON COMMIT DROP;
CREATE TEMP TABLE seed_events (n int, k int, action text, from_state text, to_state text, actor text,
    roles jsonb, at timestamptz, form jsonb, results jsonb) ON COMMIT DROP;
CREATE TEMP TABLE seed_clocks (n int, clock text, status text, started_on date, due date, warn date,
    provisional bool, generation int, breached_at timestamptz, stopped_at timestamptz) ON COMMIT DROP;
CREATE TEMP TABLE seed_timers (n int, clock text, generation int, kind text, fire_at timestamptz,
    fired_at timestamptz) ON COMMIT DROP;
"""

WRITE = [
    # cases, in the order they were opened (ids ascend with time, as the engine's would)
    """INSERT INTO cases (code, case_type, type_version, title, state, anchor_kind, anchor_id, geom, district_code,
           enterprise_uscc, grid_cell_code, data, version, due_date, warn_date, overdue, opened_at, opened_by,
           state_entered_at, closed_at, updated_at)
       SELECT s.code, s.case_type, s.type_version, s.title, s.state, 'enterprise', e.uscc, e.geom, e.district_code,
           e.uscc, e.grid_cell_code, s.data, s.version, s.due, s.warn, s.overdue, s.opened_at, s.opened_by,
           s.state_entered_at, s.closed_at, greatest(s.state_entered_at, s.opened_at)
       FROM seed_cases s JOIN enterprises e ON e.uscc = s.uscc ORDER BY s.opened_at, s.n""",
    "CREATE TEMP TABLE seed_ids ON COMMIT DROP AS SELECT s.n, c.id FROM seed_cases s JOIN cases c USING (code)",
    "CREATE UNIQUE INDEX ON seed_ids (n)",
    """UPDATE cases c SET parent_id = pi.id FROM seed_cases s JOIN seed_ids i ON i.n = s.n
       JOIN seed_ids pi ON pi.n = s.parent_n WHERE c.id = i.id""",
    # events one row at a time through the chain trigger, each case's in order
    """INSERT INTO case_events (case_id, action, from_state, to_state, actor, actor_roles, at, form, results,
           prev_hash, hash)
       SELECT i.id, x.action, x.from_state, x.to_state, x.actor, x.roles, x.at, x.form, x.results, '', ''
       FROM seed_events x JOIN seed_ids i USING (n) ORDER BY i.id, x.k""",
    # the audit log's copy of each event (engine.finish records one per move)
    """INSERT INTO audit.audit_log (username, action, outcome, object_type, object_id, details)
       SELECT e.actor, 'case.' || e.action, 'success', 'case', e.case_id::text,
           jsonb_build_object('case_type', c.case_type, 'code', c.code, 'seq', e.seq, 'hash', e.hash,
                              'from', e.from_state, 'to', e.to_state, 'bulk_seed', true)
       FROM case_events e JOIN seed_ids i ON i.id = e.case_id JOIN cases c ON c.id = e.case_id ORDER BY e.id""",
    """INSERT INTO case_clocks (case_id, clock, status, started_on, due_date, warn_date, provisional, generation,
           breached_at, stopped_at)
       SELECT i.id, k.clock, k.status, k.started_on, k.due, k.warn, k.provisional, k.generation, k.breached_at,
           k.stopped_at FROM seed_clocks k JOIN seed_ids i USING (n)""",
    """INSERT INTO case_timers (case_id, clock, generation, kind, fire_at, fired_at)
       SELECT i.id, t.clock, t.generation, t.kind, t.fire_at, t.fired_at FROM seed_timers t JOIN seed_ids i USING (n)""",
    # the registry layers, with the fields the case types project (hidden_danger.yaml, supervised_listing.yaml)
    """INSERT INTO hidden_dangers (case_id, code, title, level, category, source, state, overdue, listed, due_date,
           reported_at, closed_at, enterprise_uscc, grid_cell_code, district_code, geom)
       SELECT c.id, c.code, c.data->>'title', c.data->>'level', c.data->>'category', c.data->>'source', c.state,
           c.overdue, (c.data->>'listed')::boolean, c.due_date, c.opened_at, c.closed_at, c.enterprise_uscc,
           c.grid_cell_code, c.district_code, c.geom
       FROM cases c JOIN seed_ids i ON i.id = c.id WHERE c.case_type = 'hidden_danger' ORDER BY c.id""",
    """INSERT INTO supervised_listings (case_id, code, document_number, title, hidden_danger_code, state, overdue,
           due_date, listed_at, lifted_at, enterprise_uscc, district_code, geom)
       SELECT c.id, c.code, c.data->'documents'->>'listing_notice', left('挂牌督办：' || (p.data->>'title'), 200),
           p.code, c.state, c.overdue, c.due_date, c.opened_at, c.closed_at, c.enterprise_uscc, c.district_code,
           c.geom
       FROM cases c JOIN seed_ids i ON i.id = c.id JOIN cases p ON p.id = c.parent_id
       WHERE c.case_type = 'supervised_listing' ORDER BY c.id""",
]


def _numbers(conn: Connection, planned: list[Planned], unit: str) -> list[tuple]:
    """Case codes and listing-notice numbers continuing each gapless series (per type, unit and year)."""
    series = Counter()
    rows = []
    notice = registry.get("supervised_listing").documents["listing_notice"].doc_type
    for p in sorted(planned, key=lambda x: x.opened_at):
        ct = registry.get(p.case_type)
        year = _cn_day(p.opened_at).year
        kinds = [(f"case.{ct.id}", ct.code_prefix, "{unit}-{year}-{seq:06d}")]
        if p.case_type == "supervised_listing":
            kinds.append((notice.code, unit, notice.template))
        for doc_type, who, template in kinds:
            key = (doc_type, year, who)
            if key not in series:
                series[key] = conn.execute(text(
                    "SELECT coalesce(max(last_seq), 0) FROM document_number_counters WHERE doc_type = :t AND "
                    "year = :y AND unit = :u"), {"t": doc_type, "y": year, "u": who}).scalar_one()
            series[key] += 1
            number = template.format(unit=who, year=year, seq=series[key])
            if doc_type.startswith("case."):
                p.code = number
            else:
                p.data["documents"] = {"listing_notice": number}
            rows.append((doc_type, year, who, series[key], number, p.opened_at))
    for (doc_type, year, who), last in series.items():
        conn.execute(text(
            "INSERT INTO document_number_counters (doc_type, year, unit, last_seq) VALUES (:t, :y, :u, :s) "
            "ON CONFLICT (doc_type, year, unit) DO UPDATE SET last_seq = EXCLUDED.last_seq"),
            {"t": doc_type, "y": year, "u": who, "s": last})
    return rows


def _copy(conn: Connection, table: str, rows: list[tuple]) -> None:
    cursor = conn.connection.dbapi_connection.cursor()
    with cursor.copy(f"COPY {table} FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
    cursor.close()


def _js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def counts(conn: Connection) -> dict[str, int]:
    row = conn.execute(text(
        "SELECT (SELECT count(*) FROM cases WHERE case_type = 'hidden_danger' AND closed_at IS NULL), "
        "(SELECT count(*) FROM cases), (SELECT count(*) FROM case_events), (SELECT count(*) FROM hidden_dangers), "
        "(SELECT count(*) FROM cases WHERE closed_at IS NULL AND (overdue OR due_date < :today))"),
        {"today": core_clock.today()}).one()
    return {"open_hidden_dangers": row[0], "cases": row[1], "events": row[2], "layer_rows": row[3],
            "open_overdue": row[4]}


def seed(conn: Connection, *, open_cases: int, events: int, unit: str, seed: int = SEED) -> dict[str, Any]:
    """Top the database up to ``open_cases`` open hidden dangers and ``events`` case events (in ``conn``'s open
    transaction; the caller commits). Returns what was added."""
    before = counts(conn)
    need_open = max(0, open_cases - before["open_hidden_dangers"])
    if need_open == 0 and before["events"] >= events:
        return {"added_cases": 0, "added_events": 0, **before}
    registry.record_versions(conn)
    rng = random.Random(seed + before["cases"])
    ents = conn.execute(text("SELECT uscc, district_code FROM enterprises ORDER BY uscc")).all()
    weights = [rng.lognormvariate(0, 0.75) for _ in ents]   # some enterprises with many hidden dangers, most few
    cumulative = list(itertools.accumulate(weights))
    planner = Planner(conn, rng, core_clock.now())
    for _ in range(need_open):
        planner.open_case(rng.choices(ents, cum_weights=cumulative)[0])
    total = before["events"] + sum(len(p.events) for p in planner.cases)
    while total < events:
        first = len(planner.cases)
        planner.closed_case(rng.choices(ents, cum_weights=cumulative)[0])
        total += sum(len(p.events) for p in planner.cases[first:])
    planned = planner.cases
    numbers = _numbers(conn, planned, unit)
    conn.execute(text(TEMP_TABLES))
    case_rows, event_rows, clock_rows, timer_rows = [], [], [], []
    for p in planned:
        ct = registry.get(p.case_type)
        live = [c for c in p.clocks if c["status"] in ("running", "breached")]
        title = p.data.get("title") or ct.title["zh-CN"]
        case_rows.append((p.n, p.case_type, p.code, ct.version, title, p.state, p.ent.uscc, p.parent, _js(p.data),
                          1 + len(p.events), min((c["due"] for c in live), default=None),
                          min((c["warn"] for c in live if c["warn"]), default=None),
                          any(c["status"] == "breached" for c in live), p.opened_at, p.opened_by,
                          p.state_entered_at, p.closed_at))
        for k, (action, f, t, actor, roles, at, form, results) in enumerate(p.events):
            event_rows.append((p.n, k, action, f, t, actor, _js(roles), at, _js(form), _js(results)))
        for c in p.clocks:
            clock_rows.append((p.n, c["clock"], c["status"], c["started_on"], c["due"], c["warn"], c["provisional"],
                               c["generation"], c["breached_at"], c["stopped_at"]))
            timer_rows += [(p.n, c["clock"], c["generation"], kind, at, fired) for kind, at, fired in c["timers"]]
    _copy(conn, "seed_cases", case_rows)
    _copy(conn, "seed_events", event_rows)
    _copy(conn, "seed_clocks", clock_rows)
    _copy(conn, "seed_timers", timer_rows)
    for sql in WRITE:
        conn.execute(text(sql))
    conn.execute(text("INSERT INTO document_numbers (doc_type, year, unit, seq, number, subject, issued_at) "
                      "SELECT * FROM unnest(CAST(:t AS text[]), CAST(:y AS int[]), CAST(:u AS text[]), "
                      "CAST(:s AS int[]), CAST(:n AS text[]), CAST(:j AS text[]), CAST(:a AS timestamptz[]))"),
                 {"t": [r[0] for r in numbers], "y": [r[1] for r in numbers], "u": [r[2] for r in numbers],
                  "s": [r[3] for r in numbers], "n": [r[4] for r in numbers], "j": [None] * len(numbers),
                  "a": [r[5] for r in numbers]})
    after = counts(conn)
    return {"added_cases": len(planned), "added_events": after["events"] - before["events"], **after}
