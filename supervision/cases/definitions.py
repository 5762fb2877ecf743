"""Case types as data: loading and validating ``cases/*.yaml`` in stages, like the layer registry.

Stage 1 reads each file (YAML syntax), stage 2 checks it against ``schema.yaml``, stage 3 checks references inside
the file and across files (states, clocks, roles, document templates, child case types, effects, expressions,
forms) and stage 4 builds frozen :class:`CaseType` objects. Every problem names its file and field, and all of
them are reported together (:class:`CaseTypeError`) before anything starts.

A case type's *version* is the SHA-256 of its file's text: a case is pinned to the version it was opened under
(the engine stores every version it has run in ``case_type_versions``), so editing a file never changes the rules
of a case already running.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from core import yamlload
from core.docnumbers import DocumentType
from core.identity import ROLES
from supervision.cases import expressions

SCHEMA_FILE = Path(__file__).with_name("schema.yaml")
BUILTIN_EFFECTS = ("set", "issue_number", "open_case", "act_on_children", "notify", "update_feature",
                   "extend_clock")
STATE_COLUMNS = ("case_id", "code", "state", "overdue", "due_date", "district_code", "enterprise_uscc",
                 "grid_cell_code", "geom")


class CaseTypeError(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("invalid case types: " + "; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Effect:
    kind: str
    spec: Any


@dataclass(frozen=True)
class State:
    id: str
    label: Mapping[str, str]
    final: bool = False
    pause: tuple[str, ...] = ()


@dataclass(frozen=True)
class Clock:
    id: str
    label: Mapping[str, str]
    start: tuple[str, ...]              # entering one of these states starts (or restarts) the clock
    stop: tuple[str, ...]               # entering one of these stops it
    bound: bool                         # a state-bound clock (``state:``) also stops when its state is left
    days: int | None = None
    unit: str | None = None
    date: str | None = None             # or: the deadline is this expression's date
    warn: int = 0                       # working days before the due date at which it warns
                                        # (an elapsed-time clock: minutes, or hours, before the due instant)
    on_warn: tuple[Effect, ...] = ()
    breach: tuple[Effect, ...] = ()
    minutes: int | None = None          # or: elapsed time from the instant it started ({minutes: N} / {hours: N})
    warn_unit: str = "working_days"     # "minutes" or "hours" for an elapsed-time clock

    @property
    def elapsed(self) -> bool:
        """An elapsed-time clock: counted in minutes from the instant it started, due at an instant."""
        return self.minutes is not None


@dataclass(frozen=True)
class Transition:
    id: str
    label: Mapping[str, str]
    from_states: tuple[str, ...]        # empty: the transition opens a case
    to: str
    roles: frozenset[str]
    system: bool = False                # run only by the engine (an effect or a timer), never by a user
    scope: frozenset[str] = frozenset({"city", "district", "enterprise"})
    guard: str | None = None
    guard_message: Mapping[str, str] = field(default_factory=dict)
    form: Mapping[str, Any] = field(default_factory=lambda: {"type": "object", "additionalProperties": False})
    effects: tuple[Effect, ...] = ()

    @property
    def opening(self) -> bool:
        return not self.from_states


@dataclass(frozen=True)
class Document:
    id: str
    title: Mapping[str, str]
    doc_type: DocumentType
    unit: str | None = None             # expression for the issuing unit's 代字; default: configuration


@dataclass(frozen=True)
class CaseType:
    id: str
    title: Mapping[str, str]
    version: str
    source: str
    code_prefix: str
    anchor: tuple[str, ...]
    states: Mapping[str, State]
    clocks: Mapping[str, Clock]
    transitions: tuple[Transition, ...]
    documents: Mapping[str, Document] = field(default_factory=dict)
    layer: str | None = None
    layer_fields: Mapping[str, str] = field(default_factory=dict)
    document: Mapping[str, Any] = field(default_factory=dict)   # the file as read (stored with the version)
    console_start: bool = True        # offered by the console's generic 发起 (false: a module's own tool starts it)

    def transition(self, action: str) -> Transition | None:
        return next((t for t in self.transitions if t.id == action), None)

    def openings(self) -> list[Transition]:
        return [t for t in self.transitions if t.opening]

    def leaving(self, state: str) -> list[Transition]:
        return [t for t in self.transitions if state in t.from_states]

    def actionable(self, roles: Iterable[str]) -> set[str]:
        """States in which a holder of ``roles`` has a transition (before guards and scope)."""
        roles = set(roles)
        return {s for t in self.transitions if not t.system and t.roles & roles for s in t.from_states}


# -- loading ---------------------------------------------------------------------------------------------------
@cache
def _schema() -> dict[str, Any]:
    return yamlload.parse(SCHEMA_FILE.read_text(encoding="utf-8"))


def load_files(paths: Iterable[Path], *, layers: Mapping[str, Any] | None = None,
               effects: Iterable[str] = ()) -> dict[str, CaseType]:
    """Load and check case-type files; raise :class:`CaseTypeError` listing every problem.

    ``layers``: layer id -> registry layer (to check projections); ``effects``: effect names modules add."""
    problems: list[str] = []
    docs: list[tuple[str, str, dict[str, Any]]] = []
    validator = jsonschema.Draft202012Validator(_schema())
    for path in paths:
        name = _display(path)
        try:
            raw = Path(path).read_text(encoding="utf-8")
            doc = yamlload.parse(raw)
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            problems.append(f"{name}: cannot be read: {_one_line(exc)}")
            continue
        errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.absolute_path))
        if errors:
            problems.extend(f"{name}: {_path(e.absolute_path)}: {e.message}" for e in errors)
            continue
        docs.append((name, raw, doc))
    ids: dict[str, str] = {}
    for name, _raw, doc in docs:
        if doc["id"] in ids:
            problems.append(f"{name}: id: case type {doc['id']!r} is already defined in {ids[doc['id']]}")
        ids.setdefault(doc["id"], name)
    known_effects = set(BUILTIN_EFFECTS) | set(effects)
    for name, _raw, doc in docs:
        problems.extend(f"{name}: {p}" for p in _references(doc, set(ids), known_effects, layers))
    if problems:
        raise CaseTypeError(problems)
    return {doc["id"]: build(name, hashlib.sha256(raw.encode("utf-8")).hexdigest(), doc) for name, raw, doc in docs}


def _references(doc: Mapping[str, Any], case_types: set[str], effects: set[str],
                layers: Mapping[str, Any] | None) -> list[str]:
    out: list[str] = []
    states = doc["states"]
    clocks = doc.get("clocks") or {}
    documents = doc.get("documents") or {}

    def state_ref(where: str, value: str) -> None:
        if value not in states:
            out.append(f"{where}: unknown state {value!r} (states: {', '.join(states)})")

    def expr(where: str, value: str) -> None:
        out.extend(f"{where}: {p}" for p in expressions.problems(value))

    def effect_list(where: str, items: list[Mapping[str, Any]]) -> None:
        for i, item in enumerate(items or []):
            (kind, spec), = item.items()
            here = f"{where}[{i}].{kind}"
            if isinstance(spec, dict) and "when" in spec:  # any effect may be conditional
                expr(f"{here}.when", str(spec["when"]))
            if kind not in effects:
                out.append(f"{where}[{i}]: unknown effect {kind!r} (known: {', '.join(sorted(effects))})")
            elif kind == "set":
                if not isinstance(spec, dict) or not spec:
                    out.append(f"{here}: a mapping of data fields to expressions")
                else:
                    for k, v in spec.items():
                        expr(f"{here}.{k}", str(v))
            elif kind == "issue_number" and spec not in documents:
                out.append(f"{here}: unknown document {spec!r} (documents: {', '.join(documents) or 'none'})")
            elif kind in ("open_case", "act_on_children"):
                if not isinstance(spec, dict) or "type" not in spec:
                    out.append(f"{here}: needs 'type' (a case type id)")
                elif spec["type"] not in case_types:
                    out.append(f"{here}.type: unknown case type {spec['type']!r}")
                if kind == "act_on_children" and not (isinstance(spec, dict) and spec.get("action")):
                    out.append(f"{here}: needs 'action' (a transition of the child case type)")
                for k, v in ((spec or {}).get("data") or {}).items() if isinstance(spec, dict) else ():
                    expr(f"{here}.data.{k}", str(v))
            elif kind == "notify":
                if not isinstance(spec, dict) or "message" not in spec:
                    out.append(f"{here}: needs 'message' ({{zh-CN, en}}) and optionally 'roles'")
                else:
                    out.extend(f"{here}.roles: unknown role {r!r}" for r in spec.get("roles") or () if r not in ROLES)
            elif kind == "update_feature":
                if not isinstance(spec, dict) or not isinstance(spec.get("fields"), dict):
                    out.append(f"{here}: needs 'fields' (column: expression)")
                else:
                    for k, v in spec["fields"].items():
                        expr(f"{here}.fields.{k}", str(v))
            elif kind == "extend_clock":
                if not isinstance(spec, dict) or spec.get("clock") not in clocks \
                        or not isinstance(spec.get("days"), int) or spec["days"] < 1:
                    out.append(f"{here}: needs 'clock' (one of {', '.join(clocks) or 'none'}) and 'days' (≥ 1)")
                elif {"minutes", "hours"} & set(clocks[spec["clock"]]["period"]):
                    out.append(f"{here}.clock: {spec['clock']!r} counts minutes or hours; it is not extended by days")

    for sid, state in states.items():
        for c in state.get("pause") or ():
            if c not in clocks:
                out.append(f"states.{sid}.pause: unknown clock {c!r}")
    for cid, clock in clocks.items():
        where = f"clocks.{cid}"
        bound = clock.get("state")
        if bound is not None and ("start" in clock or "stop" in clock):
            out.append(f"{where}: give either 'state' (bound to one state) or 'start' and 'stop', not both")
        elif bound is None and not ("start" in clock and "stop" in clock):
            out.append(f"{where}: needs 'state', or both 'start' and 'stop'")
        for s in ([bound] if bound else []) + list(clock.get("start") or []) + list(clock.get("stop") or []):
            state_ref(where, s)
        if "date" in clock["period"]:
            expr(f"{where}.period.date", clock["period"]["date"])
        if "minutes" in clock["period"] or "hours" in clock["period"]:
            unit = "minutes" if "minutes" in clock["period"] else "hours"
            # an alarm's minutes run on while a case waits: nothing stands still for a few minutes, and a pause
            # counted in days would be meaningless here
            out.extend(f"states.{sid}.pause: the clock {cid!r} counts {unit} ({{{unit}: N}}) and cannot pause"
                       for sid, state in states.items() if cid in (state.get("pause") or ()))
            if clock.get("warn", 0) >= clock["period"][unit]:
                out.append(f"{where}.warn: {clock['warn']} {unit} before the due instant is not within the period "
                           f"of {clock['period'][unit]} {unit}")
        effect_list(f"{where}.breach", clock.get("breach") or [])
        effect_list(f"{where}.on_warn", clock.get("on_warn") or [])
    for did, d in documents.items():
        try:
            DocumentType(f"{doc['id']}.{did}", d["template"])
        except ValueError as exc:
            out.append(f"documents.{did}.template: {exc}")
        if d.get("unit"):
            expr(f"documents.{did}.unit", d["unit"])
    seen: set[str] = set()
    openings = 0
    for i, t in enumerate(doc["transitions"]):
        where = f"transitions[{i}] ({t['id']})"
        if t["id"] in seen:
            out.append(f"{where}.id: duplicate transition id {t['id']!r}")
        seen.add(t["id"])
        state_ref(f"{where}.to", t["to"])
        for s in t.get("from") or ():
            state_ref(f"{where}.from", s)
            if states.get(s, {}).get("final"):
                out.append(f"{where}.from: {s!r} is a final state: nothing leaves it")
        if not t.get("from"):
            openings += 1
        roles = t.get("roles") or []
        out.extend(f"{where}.roles: unknown role {r!r}" for r in roles if r not in ROLES)
        if not roles and not t.get("system"):
            out.append(f"{where}: needs 'roles' (who may take it) or 'system: true' (only the engine does)")
        if t.get("guard"):
            expr(f"{where}.guard", t["guard"])
        if "form" in t:
            out.extend(f"{where}.form: {p}" for p in _form_problems(t["form"]))
        effect_list(f"{where}.effects", t.get("effects") or [])
    if openings == 0:
        out.append("transitions: no transition opens a case (one without 'from' is needed)")
    reachable = {t["to"] for t in doc["transitions"]}
    out.extend(f"states.{s}: no transition leads to it" for s in states if s not in reachable)
    layer = doc.get("layer")
    if layer and layers is not None:
        reg = layers.get(layer["id"])
        if reg is None:
            out.append(f"layer.id: unknown layer {layer['id']!r}")
        else:
            names = set(reg.field_names) | {"geom"}
            out.extend(f"layer.fields.{k}: the layer {layer['id']} has no field {k!r}"
                       for k in (layer.get("fields") or {}) if k not in names)
            out.extend(f"layer.id: the layer {layer['id']} lacks the field {c!r} the engine writes"
                       for c in ("case_id", "code", "state", "district_code") if c not in names)
            for k, v in (layer.get("fields") or {}).items():
                expr(f"layer.fields.{k}", v)
    return out


def _form_problems(form: Any) -> list[str]:
    if not isinstance(form, dict) or form.get("type") != "object":
        return ["a form is a JSON Schema of type object"]
    try:
        jsonschema.Draft202012Validator.check_schema(form)
    except jsonschema.SchemaError as exc:
        return [f"{_path(exc.absolute_path)}: {exc.message}"]
    out = []
    props = form.get("properties") or {}
    out.extend(f"required: {r!r} is not a property" for r in form.get("required") or () if r not in props)
    for name, prop in props.items():
        if not isinstance(prop, dict) or "title" not in prop:
            out.append(f"properties.{name}: needs a 'title' (the field's label, zh-CN)")
    return out


def build(name: str, version: str, doc: Mapping[str, Any]) -> CaseType:
    """The :class:`CaseType` of a checked document (also of a stored old version)."""
    def effects(items: list[Mapping[str, Any]] | None) -> tuple[Effect, ...]:
        return tuple(Effect(*next(iter(item.items()))) for item in items or ())

    clocks = {}
    for cid, c in (doc.get("clocks") or {}).items():
        bound = c.get("state")
        period = c["period"]
        minutes = period["minutes"] if "minutes" in period else (period["hours"] * 60 if "hours" in period else None)
        warn_unit = "minutes" if "minutes" in period else ("hours" if "hours" in period else "working_days")
        clocks[cid] = Clock(cid, c["label"], tuple([bound] if bound else c["start"]), tuple(c.get("stop") or ()),
                            bool(bound), period.get("days"), period.get("unit"), period.get("date"),
                            c.get("warn", 0), effects(c.get("on_warn")), effects(c.get("breach")),
                            minutes, warn_unit)
    transitions = []
    for t in doc["transitions"]:
        form = dict(t.get("form") or {"type": "object"})
        form.setdefault("additionalProperties", False)  # a form takes only the fields it declares
        form.setdefault("properties", {})
        transitions.append(Transition(
            t["id"], t["label"], tuple(t.get("from") or ()), t["to"], frozenset(t.get("roles") or ()),
            bool(t.get("system")), frozenset(t.get("scope") or ("city", "district", "enterprise")), t.get("guard"),
            t.get("guard_message") or {}, form, effects(t.get("effects"))))
    documents = {did: Document(did, d["title"], DocumentType(f"{doc['id']}.{did}", d["template"]), d.get("unit"))
                 for did, d in (doc.get("documents") or {}).items()}
    layer = doc.get("layer") or {}
    return CaseType(
        id=doc["id"], title=doc["title"], version=version, source=name,
        code_prefix=doc["code"]["prefix"], anchor=tuple(doc["anchor"]),
        states={sid: State(sid, s["label"], bool(s.get("final")), tuple(s.get("pause") or ()))
                for sid, s in doc["states"].items()},
        clocks=clocks, transitions=tuple(transitions), documents=documents, layer=layer.get("id"),
        layer_fields=dict(layer.get("fields") or {}), document=doc, console_start=doc.get("console_start", True))


def _display(path: Path) -> str:
    parts = Path(path).parts
    return "/".join(parts[-3:]) if len(parts) >= 3 else str(path)


def _path(parts: Iterable[Any]) -> str:
    out = ""
    for p in parts:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out or "(top)"


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())


__all__ = ["BUILTIN_EFFECTS", "CaseType", "CaseTypeError", "Clock", "Document", "Effect", "State", "Transition",
           "build", "load_files"]
