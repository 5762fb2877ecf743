"""Lifecycles declared as data (states and allowed transitions), checked by one small engine.

When the bureau-wide workflow engine of ``app/`` lands, these declarations move into it unchanged; until then
this is the only place that knows which status may follow which.
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


def _frozen(d: dict) -> Mapping:
    return MappingProxyType(d)


INCIDENT_LIFECYCLE = Lifecycle(
    name="incident",
    initial="reported",
    transitions=_frozen({
        "reported": ("verified",),
        "verified": ("responding",),
        "responding": ("under_control",),
        "under_control": ("closed",),
        "closed": ("reviewed",),
        "reviewed": (),
    }),
    labels=_frozen({"reported": "已接报", "verified": "已核实", "responding": "处置中", "under_control": "已控制",
                    "closed": "已结束", "reviewed": "已评估"}),
)
#: Statuses in which an incident takes dispatch orders and material requests.
INCIDENT_ACTIVE = ("reported", "verified", "responding", "under_control")

DISPATCH_LIFECYCLE = Lifecycle(
    name="dispatch order",
    initial="dispatched",
    transitions=_frozen({
        "dispatched": ("en_route",),
        "en_route": ("on_scene",),
        "on_scene": ("returned",),
        "returned": (),
    }),
    labels=_frozen({"dispatched": "已下达", "en_route": "出发途中", "on_scene": "已到达现场", "returned": "已归队"}),
)
