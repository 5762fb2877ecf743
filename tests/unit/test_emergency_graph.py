"""The in-memory road graph follows pgRouting's edge semantics on a network small enough to check by hand."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from emergency.dispatch.graph import build_graph
from emergency.lifecycles import DISPATCH_LIFECYCLE, INCIDENT_LIFECYCLE

#   1 ──a(10 s, one-way →)── 2
#   │                        │
#   b(5 s both ways)         c(5 s both ways; and a parallel 50 s road d)
#   │                        │
#   3 ────e(20 s both)────── 4
ROADS = [  # id, source, target, cost_s, reverse_cost_s, length_m, from, to
    (1, 1, 2, 10.0, -1.0, 100.0, (0, 1), (1, 1)),
    (2, 1, 3, 5.0, 5.0, 50.0, (0, 1), (0, 0)),
    (3, 2, 4, 5.0, 5.0, 50.0, (1, 1), (1, 0)),
    (4, 2, 4, 50.0, 50.0, 500.0, (1, 1), (1, 0)),
    (5, 3, 4, 20.0, 20.0, 200.0, (0, 0), (1, 0)),
]


@pytest.fixture(scope="module")
def graph():  # noqa: ANN201
    rows = [(i, s, t, c, rc, length, shapely.LineString([a, b]).wkb) for i, s, t, c, rc, length, a, b in ROADS]
    return build_graph(rows)


def test_one_way_and_cheapest_parallel_edge(graph) -> None:  # noqa: ANN001
    one, two, three, four = graph.index_of(np.array([1, 2, 3, 4]))
    forward, _ = graph.search(one, towards=False)
    assert forward[[one, two, three, four]].tolist() == [0.0, 10.0, 5.0, 15.0]
    # From 2 to 1 the one-way road is closed: 2 → 4 → 3 → 1 = 5 + 20 + 5.
    back, _ = graph.search(two, towards=False)
    assert back[one] == 30.0


def test_towards_gives_drive_times_to_the_origin_and_the_route(graph) -> None:  # noqa: ANN001
    one, two, three, four = graph.index_of(np.array([1, 2, 3, 4]))
    to_one, pred = graph.search(one, towards=True)
    assert to_one[[two, three, four]].tolist() == [30.0, 5.0, 25.0]
    coords, length = graph.route(int(two), pred)
    assert coords.tolist() == [[1, 1], [1, 0], [0, 0], [0, 1]]  # 2 → 4 → 3 → 1, drawn in driving direction
    assert length == 50.0 + 200.0 + 50.0


def test_unknown_nodes_map_to_minus_one(graph) -> None:  # noqa: ANN001
    assert graph.index_of(np.array([4, 99])).tolist()[1] == -1


@pytest.mark.parametrize("lifecycle", [INCIDENT_LIFECYCLE, DISPATCH_LIFECYCLE])
def test_lifecycles_are_well_formed(lifecycle) -> None:  # noqa: ANN001
    states = set(lifecycle.states)
    assert lifecycle.initial in states and set(lifecycle.labels) == states
    assert all(set(targets) <= states for targets in lifecycle.transitions.values())
    reachable, frontier = {lifecycle.initial}, [lifecycle.initial]
    while frontier:
        for nxt in lifecycle.transitions[frontier.pop()]:
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == states  # no dead state
