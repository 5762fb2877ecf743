"""Guards and computed values in case-type files: a small, safe expression language (simpleeval), never ``eval``.

An expression reads the names below and nothing else (no imports, no attribute starting with ``_``, no calls
but the listed functions); dotted names read mapping keys (``form.level``) and a missing key reads ``None``::

    form.level != 'major' or 'city_regulator' in actor.roles
    data.rectify_by
    case.code + ' 整改'

Expressions are parsed when case types are loaded (an unknown name is a definition error naming file and field),
and evaluated by the engine with the case in hand.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from simpleeval import EvalWithCompoundTypes

NAMES = ("data", "form", "case", "actor", "parent", "today", "now")
FUNCTIONS = {"len": len, "min": min, "max": max, "str": str, "int": int, "float": float, "abs": abs,
             "bool": bool, "date": lambda value: value if isinstance(value, date) else date.fromisoformat(value)}
_ALLOWED_NODES = (ast.Expression, ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare, ast.IfExp, ast.Call,
                  ast.Constant, ast.Name, ast.Load, ast.Attribute, ast.Subscript, ast.List, ast.Tuple, ast.Dict,
                  ast.And, ast.Or, ast.Not, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In,
                  ast.NotIn, ast.Is, ast.IsNot, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Mod, ast.USub,
                  ast.FloorDiv)


class Namespace(dict):
    """A mapping whose keys read as attributes; a missing key reads ``None`` (an absent optional form field)."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.get(name)


def wrap(value: Any) -> Any:
    if isinstance(value, Namespace):
        return value
    if isinstance(value, Mapping):
        return Namespace({k: wrap(v) for k, v in value.items()})
    if isinstance(value, list):
        return [wrap(v) for v in value]
    return value


def problems(expression: str) -> list[str]:
    """Why ``expression`` is not acceptable (empty list: it is)."""
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError as exc:
        return [f"syntax error: {exc.msg}"]
    out = []
    for node in ast.walk(tree):
        if not isinstance(node, _ALLOWED_NODES):
            out.append(f"{type(node).__name__} is not allowed")
        elif isinstance(node, ast.Name) and node.id not in NAMES and node.id not in FUNCTIONS \
                and node.id not in ("True", "False", "None"):
            out.append(f"unknown name {node.id!r} (allowed: {', '.join(NAMES)}; functions: {', '.join(FUNCTIONS)})")
        elif isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            out.append(f"attribute {node.attr!r} is not allowed")
        elif isinstance(node, ast.Call) and not (isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS):
            out.append("only the functions " + ", ".join(FUNCTIONS) + " may be called")
    return out


def evaluate(expression: str, names: Mapping[str, Any]) -> Any:
    """The value of ``expression`` with ``names`` (mappings are readable as ``a.b``)."""
    evaluator = EvalWithCompoundTypes(names={k: wrap(v) for k, v in names.items()}, functions=dict(FUNCTIONS))  # it adds its own to the dict it gets
    return unwrap(evaluator.eval(expression))


def unwrap(value: Any) -> Any:
    if isinstance(value, Namespace):
        return {k: unwrap(v) for k, v in value.items()}
    if isinstance(value, list):
        return [unwrap(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


__all__ = ["FUNCTIONS", "NAMES", "Namespace", "evaluate", "problems"]
