"""Phase 4: references and dependsOn point at what exists, the graph has no cycle, and each
kind's checks across its resources pass."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from stackwright.core.kinds import Kind
from stackwright.core.model import Address, Declared
from stackwright.core.spec.config import ProjectConfig
from stackwright.core.spec.validate import Checked, Locator
from stackwright.core.spec.yamlpos import FieldPath, field_name
from stackwright.errors import Location, SpecError
from stackwright.registry import did_you_mean


@dataclass(frozen=True)
class Universe:
    """What references may point at. ``named`` includes resources that failed earlier phases
    (no second error for those); when ``complete`` is false a file did not parse, so a missing
    address may just be unread."""

    checked: Sequence[Checked]
    named: frozenset[Address]
    kinds: Mapping[str, Kind]
    complete: bool

    def missing(self, address: Address) -> bool:
        return self.complete and address not in self.named

    def hint(self, address: Address) -> str | None:
        return did_you_mean(str(address), [str(a) for a in self.named])


def check_semantics(
    universe: Universe, config: ProjectConfig
) -> tuple[dict[Address, Declared], list[SpecError]]:
    """Phase 4: declared resources in declaration order, and every problem found."""
    errors = [*_reference_errors(universe), *_override_errors(universe, config)]
    declared = {c.resource.address: _declared(c) for c in universe.checked}
    edges = {address: decl.depends_on for address, decl in declared.items()}
    for cycle in find_cycles(edges):
        where = declared[cycle[0]].location
        path = " -> ".join(str(a) for a in cycle)
        hint = "remove a reference or a dependsOn entry to break it"
        errors.append(SpecError(f"dependency cycle: {path}", location=where, hint=hint))
    located = {c.resource.location: c.locate for c in universe.checked}
    for name, kind in universe.kinds.items():
        mine = [d for d in declared.values() if d.address.kind == name]
        if mine:
            errors.extend(_at_fields(kind.validate_together(mine), located))
    return declared, errors


def _at_fields(
    errors: Sequence[SpecError], located: Mapping[Location, Locator]
) -> Iterator[SpecError]:
    """A kind's error that names a field of a resource but is placed at the resource is
    placed where the field is written (the kind sees ``Declared``, which has no positions)."""
    for error in errors:
        locate = located.get(error.location) if error.location and error.field else None
        if locate is not None and error.field is not None:
            path = tuple(int(p) if p.isdigit() else p for p in error.field.split("."))
            error.location = locate(path)
        yield error


def _declared(checked: Checked) -> Declared:
    res = checked.resource
    return Declared(
        address=res.address,
        api_version=res.api_version,
        spec=checked.spec,
        labels=res.labels,
        depends_on=_dependencies(checked),
        refs=checked.refs,
        location=res.location,
        sensitive=checked.sensitive,
    )


def _dependencies(checked: Checked) -> tuple[Address, ...]:
    explicit = checked.resource.depends_on
    refs = checked.refs
    if not explicit and len(refs) == 1 and refs[0].target is not None:
        return (refs[0].target,)  # the usual case, without building a set
    targets = {a for a, _ in explicit}
    targets.update(ref.target for ref in refs if ref.target is not None)
    return tuple(sorted(targets))


def _reference_errors(universe: Universe) -> Iterator[SpecError]:
    checked_refs: dict[tuple[Address, str], tuple[str, str | None] | None] = {}
    for checked in universe.checked:
        for ref, path in zip(checked.refs, checked.ref_paths, strict=True):
            assert ref.target is not None and ref.output is not None
            key = (ref.target, ref.output)
            if key not in checked_refs:  # a spec refers to the same outputs again and again
                checked_refs[key] = _ref_error(universe, ref.target, ref.output)
            error = checked_refs[key]
            if error is not None:
                message, hint = error
                where: FieldPath = ("spec", *path)
                yield SpecError(
                    message,
                    location=checked.locate(where, value=True),
                    field=field_name(where),
                    hint=hint,
                )
        for address, dep_path in checked.resource.depends_on:
            if universe.missing(address):
                yield SpecError(
                    f"depends on {address}, which is not declared",
                    location=checked.resource.document.location(dep_path),
                    field=field_name(dep_path),
                    hint=universe.hint(address),
                )


def _ref_error(universe: Universe, target: Address, output: str) -> tuple[str, str | None] | None:
    if universe.missing(target):
        return f"reference to {target}, which is not declared", universe.hint(target)
    kind = universe.kinds.get(target.kind)
    if kind is None or target not in universe.named:
        return None
    outputs = kind.all_outputs()
    if output in outputs:
        return None
    hint = did_you_mean(output, outputs) or f"outputs of {target.kind}: {', '.join(outputs)}"
    return f"{target} has no output {output!r}", hint


def _override_errors(universe: Universe, config: ProjectConfig) -> Iterator[SpecError]:
    for env, spec in config.environment_specs.items():
        for address in spec.overrides:
            if universe.missing(address):
                path: FieldPath = ("environments", env, "overrides", str(address))
                yield SpecError(
                    f"override of {address}, which is not declared",
                    location=config.locate(path),
                    field=field_name(path),
                    hint=universe.hint(address),
                )


def find_cycles(edges: Mapping[Address, Sequence[Address]]) -> list[list[Address]]:
    """One cycle per strongly connected component, as a path that starts and ends at the
    component's first node in ``edges`` order."""
    if _acyclic(edges):
        return []
    order = {address: i for i, address in enumerate(edges)}
    cycles = []
    for component in _components(edges):
        start = min(component, key=order.__getitem__)
        cycles.append(_cycle_from(start, component, edges))
    return sorted(cycles, key=lambda c: order[c[0]])


def _acyclic(edges: Mapping[Address, Sequence[Address]]) -> bool:
    """Whether the graph has no cycle (Kahn's algorithm): a quick answer for the usual case,
    before looking for the cycles themselves."""
    waiting = dict.fromkeys(edges, 0)
    for targets in edges.values():
        for target in targets:
            if target in waiting:
                waiting[target] += 1
    ready = [node for node, count in waiting.items() if count == 0]
    done = 0
    while ready:
        done += 1
        for target in edges[ready.pop()]:
            if target in waiting:
                waiting[target] -= 1
                if waiting[target] == 0:
                    ready.append(target)
    return done == len(waiting)


def _components(edges: Mapping[Address, Sequence[Address]]) -> Iterator[set[Address]]:
    """Tarjan's strongly connected components, iteratively; only those with a cycle."""
    index: dict[Address, int] = {}
    low: dict[Address, int] = {}
    stack: list[Address] = []
    on_stack: set[Address] = set()
    for root in edges:
        if root in index:
            continue
        work = [(root, iter(edges[root]))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next((c for c in children if c in edges), None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(edges[child])))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = _pop_component(node, stack, on_stack)
                if len(component) > 1 or node in edges[node]:
                    yield component


def _pop_component(node: Address, stack: list[Address], on_stack: set[Address]) -> set[Address]:
    component: set[Address] = set()
    while True:
        member = stack.pop()
        on_stack.discard(member)
        component.add(member)
        if member == node:
            return component


def _cycle_from(
    start: Address, component: set[Address], edges: Mapping[Address, Sequence[Address]]
) -> list[Address]:
    """The shortest path from ``start`` back to itself inside its component."""
    came_from: dict[Address, Address] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in edges[node]:
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came_from[path[-1]])
                return [start, *reversed(path[:-1]), start] if node != start else [start, start]
            if child in component and child not in came_from:
                came_from[child] = node
                queue.append(child)
    return [start, start]  # pragma: no cover - a component always has a cycle through start
