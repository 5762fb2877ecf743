"""The emergency module's lifecycles (incident, dispatch order), declared as data for :mod:`core.lifecycle`."""

from __future__ import annotations

from core.lifecycle import Lifecycle, frozen

INCIDENT_LIFECYCLE = Lifecycle(
    name="incident",
    initial="reported",
    transitions=frozen({
        "reported": ("verified",),
        "verified": ("responding",),
        "responding": ("under_control",),
        "under_control": ("closed",),
        "closed": ("reviewed",),
        "reviewed": (),
    }),
    labels=frozen({"reported": "已接报", "verified": "已核实", "responding": "处置中", "under_control": "已控制",
                    "closed": "已结束", "reviewed": "已评估"}),
)
#: Statuses in which an incident takes dispatch orders and material requests.
INCIDENT_ACTIVE = ("reported", "verified", "responding", "under_control")

DISPATCH_LIFECYCLE = Lifecycle(
    name="dispatch order",
    initial="dispatched",
    transitions=frozen({
        "dispatched": ("en_route",),
        "en_route": ("on_scene",),
        "on_scene": ("returned",),
        "returned": (),
    }),
    labels=frozen({"dispatched": "已下达", "en_route": "出发途中", "on_scene": "已到达现场", "returned": "已归队"}),
)
