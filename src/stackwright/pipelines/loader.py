"""Pipeline files (``.stackwright/pipelines/*.yaml``) → checked :class:`PipelineDef` values,
with every problem reported at once as ``file:line:col: field: message (hint)``.

Phases, as the spec loader runs them: YAML with positions, then the schema (pydantic,
unknown fields and unknown ``uses`` named), then semantics: ``needs`` naming jobs that
exist, no cycle, expressions that parse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from stackwright.core.spec.messages import schema_errors
from stackwright.core.spec.yamlpos import FieldPath, YamlDocument, parse_documents
from stackwright.errors import Location, SpecError, SpecErrors
from stackwright.pipelines import expressions
from stackwright.pipelines.model import PipelineDef
from stackwright.registry import did_you_mean

PIPELINES_DIR = Path(".stackwright") / "pipelines"
Locate = Callable[..., Location]  # (path, *, value=False) -> where it is written


@dataclass(frozen=True)
class LoadedPipeline:
    name: str
    definition: PipelineDef
    file: str


def load_file(path: Path, name: str | None = None) -> LoadedPipeline:
    """One pipeline file; raises :class:`SpecErrors` with every problem found. (YAML 1.1
    reads a bare ``on:`` key as true; it is taken as ``on``, as Actions does.)"""
    try:
        text = path.read_text()
    except OSError as exc:
        raise SpecErrors([SpecError(f"cannot read pipeline file: {exc.strerror}",
                                    location=Location(str(path)),
                                    hint="check the path the Pipeline names")]) from exc
    documents, errors = parse_documents(text, str(path))
    if errors:
        raise SpecErrors(errors)
    if len(documents) != 1 or not isinstance(documents[0].tree, dict):
        raise SpecErrors([SpecError("a pipeline file holds one mapping (jobs: ...)",
                                    location=Location(str(path), 1, 1))])
    doc = documents[0]
    tree = {("on" if key is True else key): value for key, value in doc.tree.items()}
    return LoadedPipeline(name or path.stem, check(tree, _document_locator(doc)), str(path))


def load_repo(repo: Path) -> dict[str, LoadedPipeline]:
    """Every ``.stackwright/pipelines/*.yaml`` of a checkout, by file stem."""
    found: dict[str, LoadedPipeline] = {}
    problems: list[SpecError] = []
    for path in sorted((repo / PIPELINES_DIR).glob("*.y*ml")):
        try:
            loaded = load_file(path)
        except SpecErrors as exc:
            problems.extend(exc.errors)
            continue
        found[loaded.name] = loaded
    if problems:
        raise SpecErrors(problems)
    return found


def _document_locator(doc: YamlDocument) -> Locate:
    return lambda path, value=False: doc.location(path, value=value)


def check(tree: Mapping[str, Any], locate: Locate, prefix: FieldPath = ()) -> PipelineDef:
    """Validate a pipeline's value tree; ``prefix`` is where it sits in its file."""
    try:
        definition = PipelineDef.model_validate(dict(tree))
    except ValidationError as exc:
        raise SpecErrors(_schema_errors(exc, tree, locate, prefix)) from exc
    problems = semantic_errors(definition, lambda p: locate((*prefix, *p)), prefix)
    if problems:
        raise SpecErrors(problems)
    return definition


def _schema_errors(exc: ValidationError, tree: Mapping[str, Any], locate: Locate,
                   prefix: FieldPath) -> list[SpecError]:
    """core.spec's messages, re-rooted: it names fields under ``spec``."""

    def at(path: FieldPath, *, value: bool = False) -> Location:
        return locate((*prefix, *path[1:]), value=value)

    errors = schema_errors(exc, PipelineDef, dict(tree), at)
    for error in errors:
        if error.field is not None:
            error.field = ".".join(map(str, (*prefix, *error.field.split(".")[1:])))
    return errors


def semantic_errors(definition: PipelineDef, locate: Locate,
                    prefix: FieldPath = ()) -> list[SpecError]:
    """needs that name no job, cycles, and expressions that do not parse."""
    problems: list[SpecError] = []
    jobs = definition.jobs

    def error(path: FieldPath, message: str, hint: str | None = None) -> None:
        problems.append(SpecError(message, location=locate(path),
                                  field=".".join(map(str, (*prefix, *path))), hint=hint))

    for name, job in jobs.items():
        for i, need in enumerate(job.needs):
            if need not in jobs:
                error(("jobs", name, "needs", i), f"unknown job {need!r}",
                      did_you_mean(need, list(jobs)) or f"jobs: {', '.join(jobs)}")
        _check_expressions(name, job, error)
    cycle = find_cycle({n: list(j.needs) for n, j in jobs.items()})
    if cycle:
        error(("jobs", cycle[0], "needs"), "needs form a cycle: " + " -> ".join(cycle),
              "a job cannot wait for itself; remove one of these needs")
    return problems


def _check_expressions(name: str, job: Any, error: Callable[..., None]) -> None:
    texts: list[tuple[FieldPath, str]] = []
    if job.if_:
        texts.append((("jobs", name, "if"), job.if_))
    for i, step in enumerate(job.steps):
        if step.if_:
            texts.append((("jobs", name, "steps", i, "if"), step.if_))
        if step.run:
            texts += [(("jobs", name, "steps", i, "run"), e)
                      for e in expressions.template_expressions(step.run)]
        texts += [(("jobs", name, "steps", i, "with", *path), e)
                  for path, text in _strings(step.with_)
                  for e in expressions.template_expressions(text)]
    if job.cache:
        texts += [(("jobs", name, "cache", "key"), e)
                  for e in expressions.template_expressions(job.cache.key)]
    for path, text in texts:
        try:
            unknown = expressions.needs_read(text) - set(job.needs)
        except expressions.ExpressionError as exc:
            error(path, str(exc), "conditions look like: branch == 'main' && success()")
            continue
        for need in sorted(unknown):
            error(path, f"reads needs.{need}, which is not in this job's needs",
                  f"add {need} to needs")


def _strings(tree: Any, path: FieldPath = ()) -> list[tuple[FieldPath, str]]:
    if isinstance(tree, str):
        return [(path, tree)]
    if isinstance(tree, dict):
        return [s for k, v in tree.items() for s in _strings(v, (*path, k))]
    if isinstance(tree, list):
        return [s for i, v in enumerate(tree) for s in _strings(v, (*path, i))]
    return []


def find_cycle(edges: Mapping[str, list[str]]) -> list[str] | None:
    """A path that returns to its start (``a -> b -> a``), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if nxt not in edges:
                continue
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state and (found := visit(node)):
            return found
    return None
