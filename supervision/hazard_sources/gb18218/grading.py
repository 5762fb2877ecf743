"""Identification (S) and grading (R) of a major hazard source per GB 18218-2018.

    S = Σ qᵢ/Qᵢ ≥ 1  → major hazard source                     (clause 4.2, formula (1))
    R = α · Σ βᵢ · qᵢ/Qᵢ, grade from Table 6                   (clauses 4.3.2–4.3.3, formula (2))

Rules where the standard leaves a choice (each is also returned in ``rules`` of the result):

* Q of a substance in Table 1 comes from Table 1 even if it also fits a Table 2 category
  (4.1.2 a). A substance outside Table 1 with several hazards takes the lowest Q of its categories
  (4.1.2 b) — this one the standard states.
* β: Table 3 for the toxic gases it names, else Table 4 by category (4.3.2). For a substance in
  several categories the standard is silent; OneMap takes the LARGEST β of them (conservative).
  Table 1 substances absent from Table 3 use OneMap's default categories (see ``tables``) unless
  the caller gives ``category``; a substance with no Table 4 category gets β = 1.
* A CAS or name shared by several Table 1 entries (nitrocellulose 37–42, ammonium nitrate 43–44)
  resolves to the entry with the lowest Q (conservative, by analogy with 4.1.2 b) unless
  ``table1_no`` says which.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Any

from core.errors import InvalidInput, range_text, require_number
from supervision.hazard_sources.gb18218.tables import (
    ADDITIONAL_CAS,
    ADDITIONAL_NAMES,
    ALPHA_BANDS,
    CATEGORIES,
    GRADE_BANDS,
    TABLE1,
    TABLE3_BETA,
    Chemical,
)

__all__ = ["Assessment", "ChemicalLine", "alpha_for_population", "assess", "grade_for_r", "resolve_chemical"]

_CAS_RE = re.compile(r"^\d{2,7}-\d{2}-\d$")
_SPEC_KEYS = frozenset({"cas", "name", "table1_no", "category", "quantity_t"})
MAX_QUANTITY_T = 10_000_000.0
MAX_POPULATION = 10_000_000
MAX_CHEMICALS = 500


@dataclass(frozen=True)
class ChemicalLine:
    """One input substance after resolution, with its contribution to S and R."""

    index: int
    source: str  # "table1" or "table2"
    table1_no: int | None
    name_zh: str
    name_en: str
    cas: str | None
    categories: list[str]
    quantity_t: float
    critical_quantity_t: float
    ratio: float  # q/Q
    beta: float
    beta_source: str  # "table3" or "table4:<codes>" or "default"
    weighted_ratio: float  # β·q/Q
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Assessment:
    s: float
    r: float
    alpha: float
    exposed_population: int
    is_major: bool
    grade: int | None  # 1..4, None when not a major hazard source
    grade_label_zh: str | None
    chemicals: list[ChemicalLine]
    rules: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _norm(text: str) -> str:
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).lower()


def _base(text: str) -> str:
    return re.split(r"[(\[]", unicodedata.normalize("NFKC", text), maxsplit=1)[0]


@lru_cache(maxsize=1)
def _indexes() -> tuple[dict[str, list[Chemical]], dict[str, list[Chemical]]]:
    by_no = {c.no: c for c in TABLE1}
    by_cas: dict[str, list[Chemical]] = {}
    by_name: dict[str, list[Chemical]] = {}
    for c in TABLE1:
        for cas in c.cas:
            by_cas.setdefault(cas, []).append(c)
        names = {c.name_zh, _base(c.name_zh), c.name_en, _base(c.name_en), *c.aliases_zh}
        for n in names:
            if _norm(n):
                by_name.setdefault(_norm(n), []).append(c)
    for cas, no in ADDITIONAL_CAS.items():
        by_cas.setdefault(cas, []).append(by_no[no])
    for n, no in ADDITIONAL_NAMES.items():
        by_name.setdefault(_norm(n), []).append(by_no[no])
    return by_cas, by_name


def _cas_valid(cas: str) -> bool:
    digits = cas.replace("-", "")
    return sum(i * int(d) for i, d in enumerate(reversed(digits[:-1]), start=1)) % 10 == int(digits[-1])


def _pick(candidates: list[Chemical], key: str, notes: list[str]) -> Chemical:
    unique = sorted({c.no: c for c in candidates}.values(), key=lambda c: (c.critical_quantity_t, c.no))
    if len(unique) > 1:
        nos = ", ".join(str(c.no) for c in unique)
        notes.append(
            f"{key} matches Table 1 entries {nos}; took entry {unique[0].no} (lowest Q); "
            "give table1_no to choose"
        )
    return unique[0]


def _categories(raw: Any, field_name: str) -> list[str]:
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not items:
        raise InvalidInput(
            field_name, 'a GB 18218 Table 2 code or list of codes, e.g. "W2" or ["J3", "W2"]', value=raw
        )
    codes = []
    for item in items:
        code = item.strip().upper() if isinstance(item, str) else item
        if code not in CATEGORIES:
            close = difflib.get_close_matches(str(code), list(CATEGORIES), n=3, cutoff=0.5)
            raise InvalidInput(
                field_name, "one of " + ", ".join(CATEGORIES), value=item, details={"close_matches": close}
            )
        codes.append(code)
    return codes


def _table1_by_cas(cas: Any, field_name: str, notes: list[str]) -> Chemical | None:
    if not isinstance(cas, str) or not _CAS_RE.match(cas.strip()):
        raise InvalidInput(
            field_name, "a CAS number such as 7782-50-5 (digits-digits-check digit)", value=cas
        )
    cas = cas.strip()
    if not _cas_valid(cas):
        raise _unknown("cas", cas, field_name, reason="check digit mismatch, so not a real CAS number")
    by_cas, _ = _indexes()
    found = by_cas.get(cas)
    return _pick(found, f"CAS {cas}", notes) if found else None


def _table1_by_name(name: Any, field_name: str, notes: list[str]) -> Chemical | None:
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(field_name, "a non-empty substance name (Chinese, alias or English)", value=name)
    _, by_name = _indexes()
    found = by_name.get(_norm(name))
    return _pick(found, f"name {name!r}", notes) if found else None


def _unknown(
    kind: str, value: str, field_name: str, reason: str = "not in GB 18218-2018 Table 1"
) -> InvalidInput:
    by_cas, by_name = _indexes()
    pool = by_cas if kind == "cas" else by_name
    keys = difflib.get_close_matches(value if kind == "cas" else _norm(value), list(pool), n=5, cutoff=0.6)
    close = [f"{k} ({pool[k][0].name_zh})" if kind == "cas" else pool[k][0].name_zh for k in keys]
    label = "CAS" if kind == "cas" else "name"
    allowed = (
        f"a {label} listed in GB 18218-2018 Table 1, "
        "or add 'category' (Table 2 code) for a substance outside Table 1"
    )
    hint = f"; close matches: {', '.join(close)}" if close else ""
    return InvalidInput(
        field_name,
        allowed,
        f"unknown {label} {value!r} in '{field_name}': {reason}{hint}; allowed: {allowed}",
        f"{field_name} 中的{'CAS号' if kind == 'cas' else '名称'} {value!r} "
        + ("校验位错误" if reason.startswith("check digit") else "不在 GB 18218-2018 表1 中")
        + (f"；相近：{'、'.join(close)}" if close else "")
        + "；表1以外的物质请给出 category（表2类别代码）",
        value=value,
        details={"close_matches": close, "reason": reason},
    )


def resolve_chemical(spec: Mapping[str, Any], index: int = 0) -> ChemicalLine:
    """Resolve one input row ({cas | name | table1_no | category, quantity_t}) to its Q and β."""
    where = f"chemicals[{index}]"
    if not isinstance(spec, Mapping):
        raise InvalidInput(
            where, "an object with quantity_t and one of cas, name, table1_no, category", value=spec
        )
    extra = set(spec) - _SPEC_KEYS
    if extra:
        raise InvalidInput(f"{where}.{sorted(extra)[0]}", "keys: " + ", ".join(sorted(_SPEC_KEYS)))
    if "quantity_t" not in spec:
        allowed = range_text(f"{where}.quantity_t", 0.0, MAX_QUANTITY_T, False, False, "t")
        raise InvalidInput(f"{where}.quantity_t", f"{allowed} (required)")
    q = require_number(
        f"{where}.quantity_t", spec["quantity_t"], minimum=0.0, maximum=MAX_QUANTITY_T, unit="t"
    )
    notes: list[str] = []
    cats = _categories(spec["category"], f"{where}.category") if "category" in spec else []

    entry: Chemical | None = None
    if "table1_no" in spec:
        no = spec["table1_no"]
        if isinstance(no, bool) or not isinstance(no, int) or not 1 <= no <= len(TABLE1):
            raise InvalidInput(f"{where}.table1_no", f"an integer 1–{len(TABLE1)}", value=no)
        entry = TABLE1[no - 1]
        if "cas" in spec and entry not in _indexes()[0].get(str(spec["cas"]).strip(), []):
            raise InvalidInput(f"{where}.cas", f"a CAS of Table 1 entry {no} ({', '.join(entry.cas) or 'none'})",
                               value=spec["cas"], details={"reason": "contradicts table1_no"})
    elif "cas" in spec:
        entry = _table1_by_cas(spec["cas"], f"{where}.cas", notes)
        if entry is None and not cats:
            raise _unknown("cas", str(spec["cas"]).strip(), f"{where}.cas")
    elif "name" in spec:
        entry = _table1_by_name(spec["name"], f"{where}.name", notes)
        if entry is None and not cats:
            raise _unknown("name", spec["name"], f"{where}.name")
    elif not cats:
        raise InvalidInput(where, "one of cas, name, table1_no or category must be given")

    if entry is not None:
        big_q = entry.critical_quantity_t
        if entry.no in TABLE3_BETA:
            beta, beta_source = TABLE3_BETA[entry.no][1], "table3"
            if cats:
                notes.append("category ignored for β: Table 3 names this substance")
        else:
            use = cats or list(entry.beta_categories)
            beta = max((CATEGORIES[c].beta for c in use), default=1.0)
            beta_source = f"table4:{'+'.join(use)}" if use else "default"
            if not use:
                notes.append("no Table 4 category applies; β = 1")
        used = cats or list(entry.beta_categories)
        cas = entry.cas[0] if entry.cas else None
        return ChemicalLine(
            index=index, source="table1", table1_no=entry.no, name_zh=entry.name_zh, name_en=entry.name_en,
            cas=cas, categories=used, quantity_t=q, critical_quantity_t=big_q, ratio=q / big_q, beta=beta,
            beta_source=beta_source, weighted_ratio=beta * q / big_q, notes=notes,
        )  # fmt: skip

    big_q = min(CATEGORIES[c].critical_quantity_t for c in cats)
    beta = max(CATEGORIES[c].beta for c in cats)
    label = str(spec.get("name") or spec.get("cas") or "+".join(cats))
    if len(cats) > 1:
        notes.append("several categories: lowest Q (4.1.2 b), largest β (OneMap rule)")
    return ChemicalLine(
        index=index, source="table2", table1_no=None, name_zh=label, name_en=label, cas=spec.get("cas"),
        categories=cats, quantity_t=q, critical_quantity_t=big_q, ratio=q / big_q, beta=beta,
        beta_source=f"table4:{'+'.join(cats)}", weighted_ratio=beta * q / big_q, notes=notes,
    )  # fmt: skip


def alpha_for_population(exposed_population: int) -> float:
    """Table 5: α from the number of residents within 500 m of the site boundary."""
    return next(alpha for minimum, alpha, _ in ALPHA_BANDS if exposed_population >= minimum)


def grade_for_r(r: float) -> tuple[int, str]:
    """Table 6: (grade 1..4, label) for R; only meaningful for a major hazard source."""
    return next((grade, label) for minimum, grade, label in GRADE_BANDS if r >= minimum)


def assess(chemicals: Sequence[Mapping[str, Any]], exposed_population: int) -> Assessment:
    """Identify and grade one unit (生产单元 or 储存单元) holding ``chemicals``."""
    if isinstance(chemicals, (str, bytes, Mapping)) or not isinstance(chemicals, Sequence) or not chemicals:
        raise InvalidInput(
            "chemicals", f"a list of 1–{MAX_CHEMICALS} substances", value=type(chemicals).__name__
        )
    if len(chemicals) > MAX_CHEMICALS:
        raise InvalidInput("chemicals", f"a list of 1–{MAX_CHEMICALS} substances", value=len(chemicals))
    n = exposed_population
    if isinstance(n, float) and n.is_integer():
        n = int(n)
    if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= MAX_POPULATION:
        raise InvalidInput(
            "exposed_population",
            f"an integer 0 ≤ exposed_population ≤ {MAX_POPULATION} persons",
            value=exposed_population,
        )
    lines = [resolve_chemical(spec, i) for i, spec in enumerate(chemicals)]
    s = sum(line.ratio for line in lines)
    alpha = alpha_for_population(n)
    r = alpha * sum(line.weighted_ratio for line in lines)
    is_major = s >= 1.0
    grade, label = grade_for_r(r) if is_major else (None, None)
    rules = [
        "S = Σ q/Q; S ≥ 1 → major hazard source (GB 18218-2018, 4.2, formula (1))",
        "R = α·Σ β·q/Q, grade by Table 6 (4.3.2–4.3.3); α by Table 5 from persons within 500 m",
        "Q: Table 1 where listed (4.1.2 a), else lowest Q of the Table 2 categories (4.1.2 b)",
        "β: Table 3 for the gases it names; else Table 4, largest β over the categories (OneMap rule)",
    ]
    return Assessment(s, r, alpha, n, is_major, grade, label, lines, rules)
