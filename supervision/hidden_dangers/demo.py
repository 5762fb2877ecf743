"""The demo city's hidden-danger history: two years of cases made through the engine's own transitions.

Each case is reported, planned or ordered, rectified and verified at simulated times (the test clock is moved,
never the database written behind the engine's back), and the timer worker runs between the moves, so overdue
rectifications are listed for supervision (挂牌督办) exactly as in production. The most recent cases are still
open in every state; some are overdue and listed today.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine

from access.policy.rowscope import LayerAccess
from core import clock
from core.errors import DomainError
from core.identity import Identity
from supervision.cases import registry, scheduler, service

CASES_PER_SCALE = 1200
SEED = 20261207
TITLES = {
    "equipment": ["压力容器安全阀未定期校验", "起重机械限位失效", "储罐液位计损坏", "设备防护罩缺失"],
    "process": ["工艺参数报警联锁被摘除", "反应釜温度报警未投用", "装卸作业未执行操作规程"],
    "site": ["安全通道被物料占用", "有限空间作业未设警示标志", "作业场所照明不足"],
    "management": ["安全培训记录缺失", "特种作业人员无证上岗", "应急预案未按期演练"],
    "fire": ["消防栓被遮挡", "灭火器过期未更换", "防火门常开"],
    "electrical": ["临时用电线路私拉乱接", "配电箱未接地", "防爆区域使用非防爆电器"],
    "hazchem": ["储罐区防火堤破损", "危化品仓库超量储存", "可燃气体报警器未校验"],
    "other": ["厂区道路限速标志缺失", "安全警示标识褪色"],
}


@dataclass(order=True)
class Step:
    at: datetime
    n: int
    case: int = field(compare=False)
    action: str = field(compare=False)
    form: dict[str, Any] = field(compare=False, default_factory=dict)
    role: str = field(compare=False, default="district_regulator")


def load_demo(conn: Connection, settings: dict) -> str:
    """The module's part of ``onemap demo build`` (and of the test template)."""
    registry.configure(settings)
    db = conn.engine
    end = clock.now()
    # ONEMAP_DEMO_HIDDEN_DANGERS: how many cases (the test template makes fewer than the demo a user sees)
    count = generate(db, settings, end=end, n=int(os.environ.get("ONEMAP_DEMO_HIDDEN_DANGERS", CASES_PER_SCALE)))
    with db.connect() as c:
        states = dict(c.execute(text("SELECT state, count(*) FROM hidden_dangers GROUP BY state")).all())
        listed = c.execute(text("SELECT count(*) FROM supervised_listings WHERE state = 'listed'")).scalar()
    return (f"hidden dangers: {count} cases over two years through the case engine ("
            + ", ".join(f"{k} {v}" for k, v in sorted(states.items())) + f"; {listed} listed for supervision now)")


def generate(db: Engine, settings: dict, *, end: datetime, n: int) -> int:
    rng = random.Random(SEED)
    with db.connect() as c:
        enterprises = c.execute(text("SELECT uscc, district_code, ST_X(geom) AS lon, ST_Y(geom) AS lat "
                                     "FROM enterprises ORDER BY uscc")).all()
    start = end - timedelta(days=730)
    config = settings["cases"]
    steps: list[Step] = []
    plans: list[dict[str, Any]] = []
    for i in range(n):
        reported = start + timedelta(seconds=rng.uniform(0, (end - start).total_seconds() - 3600))
        reported = reported.replace(hour=rng.randint(1, 9))   # office hours in China (UTC+8)
        ent = rng.choice(enterprises)
        category = rng.choice(list(TITLES))
        who = rng.choices(["enterprise_user", "grid_worker", "district_regulator"], [5, 2.5, 2.5])[0]
        plans.append({"ent": ent, "who": who, "reported": reported, "form": {
            "title": rng.choice(TITLES[category]), "category": category,
            "level": "major" if rng.random() < 0.05 else "general",
            "description": "日常排查发现", "rule_violated": "《安全生产法》第四十一条"}})
        _plan_steps(rng, i, reported, end, steps)
    by_case: dict[int, int] = {}
    steps.sort()
    queue = sorted([Step(p["reported"], -1, i, "report") for i, p in enumerate(plans)] + steps)
    last_round = None
    conn = db.connect()
    for step in queue:
        with clock.freeze(step.at):
            day = step.at.astimezone(clock.CHINA).date()
            if day != last_round:   # timers fire at 00:00 China: one worker round per simulated day suffices
                scheduler.run_due(db, config, now=step.at)
                last_round = day
            if step.action == "report":
                p = plans[step.case]
                ent = p["ent"]
                identity, access = _caller(p["who"], ent)
                anchor = {"kind": "enterprise", "id": ent.uscc}
                case = service.open_case(conn, {"case_type": "hidden_danger", "anchor": anchor, "form": p["form"]},
                                         access=access, identity=identity, config=config, answer=False)
                by_case[step.case] = case["id"]
                continue
            case_id = by_case.get(step.case)
            if case_id is None:
                continue
            identity, access = _caller(step.role, plans[step.case]["ent"])
            form = {k: (v(step.at) if callable(v) else v) for k, v in step.form.items()}
            try:
                service.transition(conn, case_id, {"action": step.action, "form": form}, access=access,
                                   identity=identity, config=config, answer=False)
            except DomainError:   # a move the history made impossible is not taken, as a user would be refused
                pass
    conn.close()
    with clock.freeze(end):
        scheduler.run_due(db, config, now=end)
    return len(by_case)


def _plan_steps(rng: random.Random, i: int, reported: datetime, end: datetime, steps: list[Step]) -> None:
    """The later moves of case ``i`` (those after ``end`` are left out: the case is still open)."""
    t = reported + timedelta(days=rng.uniform(0.2, 6))
    if rng.random() < 0.05:
        steps.append(Step(t, i, i, "dismiss", {"reason": "经核查不构成事故隐患"}))
        return
    days = rng.choice([7, 15, 30, 30, 45, 60])
    due = (t + timedelta(days=days)).astimezone(clock.CHINA).date()
    if rng.random() < 0.5:
        steps.append(Step(t, i, i, "submit_plan", {"rectify_by": due.isoformat(), "measures": "制定整改方案并落实",
                                                   "funds": round(rng.uniform(0.5, 50), 1),
                                                   "responsible_person": "安全负责人"}, "enterprise_user"))
    else:
        steps.append(Step(t, i, i, "order_rectification", {"rectify_by": due.isoformat(),
                                                          "requirements": "责令限期整改"}))
    fate = rng.random()
    if fate < 0.12:
        return                                   # never reported done: overdue, listed
    late = fate < 0.22
    done_at = (t + timedelta(days=days * rng.uniform(1.1, 1.8))) if late else (
        t + timedelta(days=days * rng.uniform(0.3, 0.95)))
    steps.append(Step(done_at, i, i, "submit_report", {"completed_on": _day_of, "description": "已按要求整改完毕"},
                      "enterprise_user"))
    check = done_at + timedelta(days=rng.uniform(1, 9))
    role = "city_regulator"
    if rng.random() < 0.1:
        redo = (check + timedelta(days=15)).astimezone(clock.CHINA).date()
        steps.append(Step(check, i, i, "reject", {"reason": "整改不到位", "rectify_by": redo.isoformat()}, role))
        done_at = check + timedelta(days=rng.uniform(3, 12))
        steps.append(Step(done_at, i, i, "submit_report", {"completed_on": _day_of, "description": "再次整改完毕"},
                          "enterprise_user"))
        check = done_at + timedelta(days=rng.uniform(1, 5))
    steps.append(Step(check, i, i, "accept", {"opinion": "复查合格，同意销号"}, role))


def _day_of(at: datetime) -> str:
    return at.astimezone(clock.CHINA).date().isoformat()


def _caller(role: str, ent: Any) -> tuple[Identity, LayerAccess]:
    names = {"enterprise_user": f"demo_ent_{ent.uscc[-4:]}", "grid_worker": f"demo_grid_{ent.district_code}",
             "district_regulator": f"demo_district_{ent.district_code}", "city_regulator": "demo_city"}
    who = Identity(user_id=None, username=names[role], roles=frozenset({role}), method="demo",
                   district_code=ent.district_code, enterprise_uscc=ent.uscc)
    return who, LayerAccess.unrestricted()


__all__ = ["generate", "load_demo"]
