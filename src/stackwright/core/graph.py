"""The resource graph: nodes are addresses, an edge ``a → b`` means ``a`` depends on ``b``.

Pure and deterministic: orders break ties by address, so plans and outputs are stable.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from stackwright.core.model import Address


@dataclass(frozen=True)
class ResourceGraph:
    """Dependencies of each node; every dependency is itself a node."""

    dependencies: Mapping[Address, tuple[Address, ...]]

    @classmethod
    def build(cls, edges: Mapping[Address, Iterable[Address]]) -> ResourceGraph:
        nodes = set(edges)
        return cls({a: tuple(sorted({d for d in ds if d in nodes and d != a}))
                    for a, ds in edges.items()})

    def dependents(self) -> dict[Address, list[Address]]:
        out: dict[Address, list[Address]] = {a: [] for a in self.dependencies}
        for node, deps in self.dependencies.items():
            for dep in deps:
                out[dep].append(node)
        return out

    def find_cycle(self) -> list[Address] | None:
        """One cycle as a path whose first and last node are the same, or None."""
        state: dict[Address, int] = {}
        for start in sorted(self.dependencies):
            if state.get(start):
                continue
            cycle = self._walk(start, state)
            if cycle:
                return cycle
        return None

    def _walk(self, start: Address, state: dict[Address, int]) -> list[Address] | None:
        stack: list[tuple[Address, int]] = [(start, 0)]
        path: list[Address] = [start]
        state[start] = 1
        while stack:
            node, i = stack[-1]
            deps = self.dependencies[node]
            if i == len(deps):
                stack.pop()
                path.pop()
                state[node] = 2
                continue
            stack[-1] = (node, i + 1)
            dep = deps[i]
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if not state.get(dep):
                state[dep] = 1
                stack.append((dep, 0))
                path.append(dep)
        return None

    def order(self) -> list[Address]:
        """Dependencies first (Kahn's algorithm, ties by address). Raises on a cycle."""
        remaining = {a: len(ds) for a, ds in self.dependencies.items()}
        dependents = self.dependents()
        ready = [a for a, n in remaining.items() if n == 0]
        heapq.heapify(ready)
        out: list[Address] = []
        while ready:
            node = heapq.heappop(ready)
            out.append(node)
            for child in dependents[node]:
                remaining[child] -= 1
                if remaining[child] == 0:
                    heapq.heappush(ready, child)
        if len(out) != len(remaining):
            cycle = self.find_cycle() or []
            raise ValueError("dependency cycle: " + " -> ".join(map(str, cycle)))
        return out

    def to_dot(self, labels: Mapping[Address, str] | None = None) -> str:
        lines = ["digraph stackwright {", "  rankdir=LR;", "  node [shape=box];"]
        for node in sorted(self.dependencies):
            label = (labels or {}).get(node, str(node))
            lines.append(f'  "{node}" [label="{label}"];')
        for node in sorted(self.dependencies):
            for dep in self.dependencies[node]:
                lines.append(f'  "{node}" -> "{dep}";')
        lines.append("}")
        return "\n".join(lines) + "\n"

    def to_mermaid(self) -> str:
        ids = {node: f"n{i}" for i, node in enumerate(sorted(self.dependencies))}
        lines = ["flowchart LR"]
        for node, nid in ids.items():
            lines.append(f'  {nid}["{node}"]')
        for node in sorted(self.dependencies):
            for dep in self.dependencies[node]:
                lines.append(f"  {ids[node]} --> {ids[dep]}")
        return "\n".join(lines) + "\n"
