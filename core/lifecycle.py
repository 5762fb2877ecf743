"""Lifecycles declared as data (states and allowed transitions), checked by one small engine.

A module declares its lifecycles next to its code (``emergency/lifecycles.py``) and checks every status change
with :meth:`Lifecycle.check`; the case engine will read the same declarations.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from core.errors import Conflict, InvalidInput


@dataclass(frozen=True)
class Lifecycle:
    name: str
    initial: str
    transitions: Mapping[str, tuple[str, ...]]  # state → the states it may move to (every state is a key)
    labels: Mapping[str, str]  # state → zh-CN label

    @property
    def states(self) -> tuple[str, ...]:
        return tuple(self.transitions)

    def allowed(self, state: str) -> list[str]:
        return list(self.transitions.get(state, ()))

    def check(self, current: str, target: object, input_name: str = "to") -> str:
        """Return ``target`` if ``current → target`` is allowed; 400 for an unknown state, 409 otherwise."""
        if not isinstance(target, str) or target not in self.transitions:
            raise InvalidInput(input_name, "one of " + ", ".join(self.states), value=target)
        if target not in self.transitions[current]:
            allowed = self.allowed(current)
            raise Conflict(
                f"{self.name} cannot go from {current} to {target}; allowed next: {', '.join(allowed) or 'none'}",
                f"{self.labels[current]}状态不能变为{self.labels[target]}；可变为："
                f"{'、'.join(self.labels[s] for s in allowed) or '无（已是最终状态）'}",
                details={"current": current, "requested": target, "allowed": allowed},
                code="invalid_transition",
            )
        return target


def frozen(d: dict) -> Mapping:
    """A read-only mapping for a lifecycle declaration."""
    return MappingProxyType(d)
