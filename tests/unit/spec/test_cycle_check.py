"""The quick acyclicity check agrees with a full search for cycles, on any graph."""

from __future__ import annotations

import graphlib

from hypothesis import given
from hypothesis import strategies as st

from stackwright.core.model import Address
from stackwright.core.spec.semantics import find_cycles

NODES = [Address("Command", f"n{i}") for i in range(8)]
EDGES = st.dictionaries(
    st.sampled_from(NODES),
    st.lists(st.sampled_from([*NODES, Address("File", "elsewhere")]), max_size=4),
    max_size=len(NODES),
)


@given(EDGES)
def test_cycles_are_found_exactly_when_there_are_some(edges: dict[Address, list[Address]]) -> None:
    known = {a: [d for d in ds if d in edges] for a, ds in edges.items()}
    try:
        tuple(graphlib.TopologicalSorter(known).static_order())
        has_cycle = False
    except graphlib.CycleError:
        has_cycle = True
    cycles = find_cycles(edges)
    assert bool(cycles) == has_cycle
    for cycle in cycles:
        assert cycle[0] == cycle[-1]
        assert all(b in edges[a] for a, b in zip(cycle, cycle[1:], strict=False))
