"""The demo city's emergency plans: the city's 危险化学品事故专项应急预案, one district's 综合应急预案 and the
现场处置方案 of an enterprise holding chlorine (its chlorine leak), made through the service like any client's.

The city plan's levels follow 《生产安全事故报告和调查处理条例》 第三条 (deaths 30 / 10 / 3, serious injuries
100 / 50 / 10) and the 国家安全生产事故灾难应急预案 style of 紧急转移安置 numbers (100 000 / 10 000); the lower levels
add alarm and chemical triggers as a city plan would. The district plan was approved a little over three years
ago, so the overdue list has an entry on the demo.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from access.policy.rowscope import LayerAccess
from core import clock
from emergency.plans.service import insert_plan

CHLORINE = "7782-50-5"
AMMONIA = "7664-41-7"
HAZCHEM_KINDS = ["leak", "fire", "explosion", "poisoning"]


def _first(conn: Connection, sql: str, **params: Any) -> Any:
    return conn.execute(text(sql), params).first()


def _resources(conn: Connection, district: str | None = None) -> list[dict[str, Any]]:
    where = "" if district is None else " AND district_code = :d"
    out = []
    for kind, table, extra, task in (
            ("rescue_team", "rescue_teams", " AND speciality = 'hazchem'", "危化品泄漏处置、堵漏、洗消"),
            ("depot", "depots", "", "调运防化服、堵漏器材、中和剂"),
            ("shelter", "shelters", "", "开放避难场所，接收疏散群众"),
            ("expert", "experts", "", "赶赴现场提供技术支持")):
        rows = conn.execute(text(f"SELECT id FROM {table} WHERE TRUE{extra}{where} ORDER BY id LIMIT 2"),
                            {"d": district}).scalars().all()
        out += [{"kind": kind, "id": rid, "task": task} for rid in rows]
    return out


def city_plan(conn: Connection) -> dict[str, Any]:
    return {
        "title": "示范市危险化学品事故专项应急预案", "kind": "special", "owner": {"level": "city"},
        "approved_on": (clock.today() - timedelta(days=400)).isoformat(),
        "description": "依据《生产安全事故应急条例》、GB/T 29639-2020 编制，适用于本市行政区域内危险化学品生产、"
                       "储存、使用、经营、运输过程中发生的火灾、爆炸、泄漏、中毒事故。",
        "scope": {"incident_kinds": HAZCHEM_KINDS},
        "organisation": [
            {"role": "commander", "name": "总指挥", "unit": "市人民政府分管副市长", "duties": "决定启动和终止应急响应"},
            {"role": "command_office", "name": "市应急指挥部办公室", "unit": "市应急管理局", "duties": "信息汇总、上报，协调调度"},
            {"role": "rescue", "name": "抢险救援组", "unit": "市消防救援支队", "duties": "灭火、堵漏、搜救"},
            {"role": "monitoring", "name": "环境监测组", "unit": "市生态环境局", "duties": "大气、水体监测"},
            {"role": "medical", "name": "医疗救治组", "unit": "市卫生健康委", "duties": "伤员救治、转运"},
            {"role": "security", "name": "治安警戒组", "unit": "市公安局", "duties": "警戒、交通管制、疏散"},
        ],
        "levels": [
            {"level": 1, "triggers": [{"fact": "deaths", "min": 30}, {"fact": "injuries", "min": 100},
                                      {"fact": "evacuees", "min": 100000}],
             "actions": [{"action": "报请省政府、应急管理部，启动Ⅰ级响应", "owner_role": "commander", "time_limit_min": 30},
                         {"action": "划定警戒区，实施交通管制，组织群众疏散", "owner_role": "security", "time_limit_min": 30},
                         {"action": "调集全市危化救援力量和物资", "owner_role": "rescue", "time_limit_min": 60}]},
            {"level": 2, "triggers": [{"fact": "deaths", "min": 10}, {"fact": "injuries", "min": 50},
                                      {"fact": "evacuees", "min": 10000}],
             "actions": [{"action": "市应急指挥部总指挥赶赴现场，成立现场指挥部", "owner_role": "commander",
                          "time_limit_min": 60},
                         {"action": "事发区域下风向环境监测，每小时报告", "owner_role": "monitoring", "time_limit_min": 60},
                         {"action": "设置医疗救护点，伤员分级转运", "owner_role": "medical", "time_limit_min": 45}]},
            {"level": 3, "triggers": [{"fact": "deaths", "min": 3}, {"fact": "injuries", "min": 10},
                                      {"fact": "evacuees", "min": 1000},
                                      {"fact": "chemical_quantity_t", "chemical": CHLORINE, "min": 5}],
             "actions": [{"action": "市应急指挥部办公室30分钟内电话报告，1小时内书面报告", "owner_role": "command_office",
                          "time_limit_min": 60},
                         {"action": "危化救援队伍赶赴现场处置", "owner_role": "rescue", "time_limit_min": 30}]},
            {"level": 4, "triggers": [{"fact": "deaths", "min": 1}, {"fact": "injuries", "min": 1},
                                      {"fact": "evacuees", "min": 100}, {"fact": "alarm_level", "min": 2}],
             "actions": [{"action": "核实事故信息，跟踪事态发展", "owner_role": "command_office", "time_limit_min": 30},
                         {"action": "指导事发单位开展先期处置", "owner_role": "rescue", "time_limit_min": 60}]},
        ],
        "resources": _resources(conn),
    }


def district_plan(district: str, name: str, conn: Connection) -> dict[str, Any]:
    return {
        "title": f"{name}生产安全事故综合应急预案", "kind": "comprehensive",
        "owner": {"level": "district", "district_code": district},
        "approved_on": (clock.today() - timedelta(days=3 * 365 + 30)).isoformat(),
        "scope": {"incident_kinds": ["fire", "explosion", "leak", "poisoning", "collapse", "traffic", "other"]},
        "organisation": [
            {"role": "commander", "name": "区应急指挥部总指挥", "unit": f"{name}人民政府", "duties": "指挥本区响应"},
            {"role": "duty_office", "name": "区应急管理局值班室", "unit": f"{name}应急管理局", "duties": "接报、上报、协调"},
            {"role": "street", "name": "属地街道", "unit": "事发地街道办事处", "duties": "群众疏散安置"}],
        "levels": [
            {"level": 3, "triggers": [{"fact": "deaths", "min": 3}, {"fact": "injuries", "min": 10}],
             "actions": [{"action": "区政府主要负责人赶赴现场", "owner_role": "commander", "time_limit_min": 60},
                         {"action": "向市应急管理局报告", "owner_role": "duty_office", "time_limit_min": 30}]},
            {"level": 4, "triggers": [{"fact": "deaths", "min": 1}, {"fact": "injuries", "min": 3},
                                      {"fact": "evacuees", "min": 50}],
             "actions": [{"action": "值班室核实信息并续报", "owner_role": "duty_office", "time_limit_min": 30},
                         {"action": "属地街道组织周边群众疏散", "owner_role": "street", "time_limit_min": 60}]}],
        "resources": _resources(conn, district),
    }


def enterprise_plan(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "title": f"{row['name']}液氯泄漏现场处置方案", "kind": "on_site",
        "owner": {"level": "enterprise", "enterprise_uscc": row["uscc"]},
        "approved_on": (clock.today() - timedelta(days=200)).isoformat(),
        "scope": {"incident_kinds": ["leak", "poisoning"], "chemicals": [CHLORINE]},
        "organisation": [
            {"role": "shift_leader", "name": "当班班长", "unit": row["name"], "duties": "现场指挥、报警"},
            {"role": "operator", "name": "岗位操作员", "unit": row["name"], "duties": "切断、堵漏、启动碱液吸收"},
            {"role": "safety_officer", "name": "安全员", "unit": row["name"], "duties": "警戒、人员清点"}],
        "levels": [
            {"level": 4, "triggers": [{"fact": "alarm_level", "min": 1},
                                      {"fact": "chemical_quantity_t", "chemical": CHLORINE, "min": 0.1}],
             "actions": [{"action": "佩戴正压式空气呼吸器，关闭泄漏点上下游阀门", "owner_role": "operator",
                          "time_limit_min": 5},
                         {"action": "启动事故碱液吸收装置和水幕", "owner_role": "operator", "time_limit_min": 10},
                         {"action": "拨打119并向园区、区应急管理局报告", "owner_role": "shift_leader",
                          "time_limit_min": 10},
                         {"action": "上风向集合点清点人数，设置警戒", "owner_role": "safety_officer",
                          "time_limit_min": 15}]}],
    }


def load_demo(conn: Connection, settings: Mapping[str, Any]) -> str:
    access = LayerAccess.unrestricted()
    made = [insert_plan(conn, city_plan(conn), access=access, actor="demo")]
    district = _first(conn, "SELECT code, name FROM districts ORDER BY code LIMIT 1")
    if district is not None:
        made.append(insert_plan(conn, district_plan(district.code, district.name, conn), access=access, actor="demo"))
    holder = _first(conn, "SELECT e.uscc, e.name FROM enterprises e JOIN hazard_sources h ON h.enterprise_uscc = "
                          "e.uscc JOIN hazard_source_chemicals c ON c.hazard_source_code = h.code WHERE c.cas = :c "
                          "AND h.status = 'active' ORDER BY e.uscc LIMIT 1", c=CHLORINE)
    if holder is not None:
        made.append(insert_plan(conn, enterprise_plan(holder._mapping), access=access, actor="demo"))
    return f"emergency plans: {len(made)}"
