"""Inputs of the hazard source API, checked into values (each failure names the input and what it allows)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import InvalidInput
from core.params import int_arg
from supervision.hazard_sources.gb18218.grading import MAX_POPULATION

# the layer's code field is a string of at most 20 characters; demo and registered codes look like HS-329902-0001
CODE_RE = re.compile(r"^[A-Za-z0-9_-]{1,20}$")
CODE_ALLOWED = "a hazard source code of 1–20 letters, digits, '-' or '_' (e.g. HS-329902-0001)"
ASSESSMENT_PARAMS = frozenset({"exposed_population", "lang"})


@dataclass(frozen=True)
class AssessmentQuery:
    code: str
    exposed_population: int | None  # None: the persons within 500 m on record


def hazard_source_code(raw: str) -> str:
    if not CODE_RE.match(raw):
        raise InvalidInput("code", CODE_ALLOWED, value=raw)
    return raw


def assessment_query(code: str, args: Mapping[str, str]) -> AssessmentQuery:
    """``GET /api/hazard-sources/<code>/assessment[?exposed_population=N]``.

    ``exposed_population`` re-grades with another head count within 500 m (Table 5's α): what an inspector asks when
    a school or housing estate is planned next to the site.
    """
    unknown = sorted(set(args) - ASSESSMENT_PARAMS)
    if unknown:
        raise InvalidInput(unknown[0], "query parameters: " + ", ".join(sorted(ASSESSMENT_PARAMS)),
                           details={"reason": "unknown query parameter"})
    population = None
    if args.get("exposed_population", "") != "":
        population = int_arg(args, "exposed_population", 0, 0, MAX_POPULATION)
    return AssessmentQuery(hazard_source_code(code), population)


__all__ = ["ASSESSMENT_PARAMS", "CODE_ALLOWED", "AssessmentQuery", "assessment_query", "hazard_source_code"]
