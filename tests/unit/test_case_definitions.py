"""Case-type files are checked in stages before anything runs; every problem names its file and field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from supervision.cases import expressions
from supervision.cases.definitions import CaseTypeError, load_files
from supervision.cases.registry import case_types

GOOD = {
    "id": "demo", "title": {"zh-CN": "示例", "en": "Demo"}, "code": {"prefix": "DM"}, "anchor": ["enterprise"],
    "states": {"open": {"label": {"zh-CN": "办理中", "en": "Open"}},
               "done": {"label": {"zh-CN": "办结", "en": "Done"}, "final": True}},
    "clocks": {"reply": {"label": {"zh-CN": "答复期限", "en": "Reply"}, "state": "open",
                         "period": {"days": 5, "unit": "working_days"}}},
    "transitions": [
        {"id": "open", "label": {"zh-CN": "发起", "en": "Open"}, "to": "open", "roles": ["city_regulator"]},
        {"id": "finish", "label": {"zh-CN": "办结", "en": "Finish"}, "from": ["open"], "to": "done",
         "roles": ["city_regulator"], "guard": "form.ok == True",
         "form": {"type": "object", "properties": {"ok": {"type": "boolean", "title": "是否办结"}}}},
    ],
}


def _write(tmp_path: Path, doc: object, name: str = "demo.yaml") -> Path:
    path = tmp_path / "mod" / "cases" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
    return path


def _problems(tmp_path: Path, doc: object) -> list[str]:
    with pytest.raises(CaseTypeError) as err:
        load_files([_write(tmp_path, doc)])
    return err.value.problems


def _edit(change) -> dict:  # noqa: ANN001
    doc = yaml.safe_load(yaml.safe_dump(GOOD))
    change(doc)
    return doc


def test_the_packaged_case_types_load() -> None:
    types = case_types()
    assert {"hidden_danger", "supervised_listing"} <= set(types)
    assert all(len(t.version) == 64 for t in types.values())


def test_a_good_file_loads(tmp_path: Path) -> None:
    types = load_files([_write(tmp_path, GOOD)])
    assert types["demo"].transition("finish").guard == "form.ok == True"
    assert types["demo"].console_start is True   # offered by the console's generic 发起 unless the file says not


def test_a_type_with_a_tool_of_its_own_is_not_offered_by_the_generic_start(tmp_path: Path) -> None:
    assert load_files([_write(tmp_path, _edit(lambda d: d.update(console_start=False)))])["demo"].console_start is False
    assert case_types()["enterprise_change"].console_start is False   # records' 申请变更 starts it


@pytest.mark.parametrize(("change", "where"), [
    (lambda d: d.update(id="Bad-Id"), "id"),
    (lambda d: d.update(console_start="no"), "console_start"),
    (lambda d: d["transitions"][1].update(to="nowhere"), "transitions[1] (finish).to: unknown state 'nowhere'"),
    (lambda d: d["transitions"][1].update(roles=["mayor"]), "transitions[1] (finish).roles: unknown role 'mayor'"),
    (lambda d: d["transitions"][1].update(guard="__import__('os').system('x')"), "transitions[1] (finish).guard"),
    (lambda d: d["transitions"][1].update(guard="secret.value > 1"), "unknown name 'secret'"),
    (lambda d: d["transitions"][1].update(effects=[{"launch": {}}]), "transitions[1] (finish).effects[0]: unknown effect"),
    (lambda d: d["transitions"][1].update(effects=[{"issue_number": "permit"}]), "effects[0].issue_number: unknown document"),
    (lambda d: d["transitions"][1].update(effects=[{"open_case": {"type": "ghost"}}]), "open_case.type: unknown case type"),
    (lambda d: d["clocks"]["reply"].update(state="closed"), "clocks.reply: unknown state 'closed'"),
    (lambda d: d["clocks"]["reply"].update(period={"days": 5, "unit": "fortnights"}), "clocks.reply.period"),
    (lambda d: d["states"]["open"].update(pause=["nap"]), "states.open.pause: unknown clock 'nap'"),
    (lambda d: d["transitions"][1]["form"].update(required=["missing"]), "form: required: 'missing' is not a property"),
    (lambda d: d["transitions"][1]["form"]["properties"]["ok"].pop("title"), "form: properties.ok: needs a 'title'"),
    (lambda d: d["transitions"][1].update(form={"type": "object", "properties": {"x": {"type": "banana"}}}),
     "transitions[1] (finish).form"),
    (lambda d: d["transitions"].pop(0), "transitions: no transition opens a case"),
    (lambda d: d.update(documents={"order": {"title": {"zh-CN": "令", "en": "Order"}, "template": "第{seq}号"}}),
     "documents.order.template"),
    (lambda d: d["transitions"][1].update(**{"from": ["done"]}), "'done' is a final state"),
    # elapsed-time clocks (minutes, hours): they cannot pause, warn within their period, are not extended by days
    (lambda d: d["clocks"]["reply"].update(period={"minutes": 0}), "clocks.reply.period"),
    (lambda d: d["clocks"]["reply"].update(period={"minutes": 5, "unit": "working_days"}), "clocks.reply.period"),
    (lambda d: (d["clocks"]["reply"].update(period={"minutes": 5}), d["states"]["open"].update(pause=["reply"])),
     "states.open.pause: the clock 'reply' counts minutes ({minutes: N}) and cannot pause"),
    (lambda d: d["clocks"]["reply"].update(period={"hours": 2}, warn=2),
     "clocks.reply.warn: 2 hours before the due instant is not within the period of 2 hours"),
    (lambda d: (d["clocks"]["reply"].update(period={"minutes": 5}),
                d["transitions"][1].update(effects=[{"extend_clock": {"clock": "reply", "days": 1}}])),
     "effects[0].extend_clock.clock: 'reply' counts minutes or hours; it is not extended by days"),
])
def test_a_bad_definition_names_file_and_field(tmp_path: Path, change, where: str) -> None:  # noqa: ANN001
    problems = _problems(tmp_path, _edit(change))
    assert any(p.startswith("mod/cases/demo.yaml: ") and where in p for p in problems), problems


def test_an_elapsed_time_clock_counts_minutes(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    from supervision.cases.clocks import compute_elapsed

    doc = _edit(lambda d: d["clocks"]["reply"].update(period={"hours": 2}, warn=1))
    hours = load_files([_write(tmp_path, doc)])["demo"].clocks["reply"]
    doc = _edit(lambda d: d["clocks"]["reply"].update(period={"minutes": 15}, warn=5))
    minutes = load_files([_write(tmp_path, doc)])["demo"].clocks["reply"]
    assert (hours.elapsed, hours.minutes, minutes.minutes) == (True, 120, 15)
    start = datetime(2026, 12, 7, 15, 45, tzinfo=UTC)         # 23:45 in China: due on the next China day
    due = compute_elapsed(minutes, start)
    assert (due.due_at, due.warn_at) == (start + timedelta(minutes=15), start + timedelta(minutes=10))
    assert (due.due_date.isoformat(), due.warn_date.isoformat()) == ("2026-12-08", "2026-12-07")
    assert compute_elapsed(hours, start).warn_at == start + timedelta(hours=1)   # warn: hours before, for hours
    assert not case_types()["hidden_danger"].clocks["plan"].elapsed


def test_yaml_syntax_errors_name_the_file(tmp_path: Path) -> None:
    problems = _problems(tmp_path, "id: [unclosed\n")
    assert problems[0].startswith("mod/cases/demo.yaml: cannot be read")


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = _problems(tmp_path, _edit(lambda d: (d["transitions"][1].update(to="x", roles=["mayor"]))))
    assert len(problems) >= 2


def test_two_files_may_not_define_the_same_type(tmp_path: Path) -> None:
    a, b = _write(tmp_path, GOOD, "a.yaml"), _write(tmp_path, GOOD, "b.yaml")
    with pytest.raises(CaseTypeError) as err:
        load_files([a, b])
    assert any("b.yaml: id: case type 'demo' is already defined in mod/cases/a.yaml" in p for p in err.value.problems)


@pytest.mark.parametrize("expression", ["__import__('os')", "form.__class__", "open('x')", "(lambda: 1)()",
                                        "[x for x in form]", "data.a if True else exec('1')"])
def test_expressions_cannot_reach_python(expression: str) -> None:
    assert expressions.problems(expression)


def test_expressions_read_mappings_and_missing_keys_as_none() -> None:
    names = {"form": {"level": "major"}, "actor": {"roles": ["city_regulator"]}, "data": {}}
    assert expressions.evaluate("form.level == 'major' and 'city_regulator' in actor.roles", names) is True
    assert expressions.evaluate("data.nothing", names) is None
    assert expressions.evaluate("date('2026-01-02') > date('2026-01-01')", names) is True
