"""Human output: plans as colored diffs, apply progress, summaries. Plain ANSI writes, so a
plan of thousands of resources prints in milliseconds."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, TextIO

from stackwright.core.model import Action, Change, Plan
from stackwright.core.values import SENSITIVE_TEXT, UNKNOWN, UNKNOWN_TEXT, leaf_paths

if TYPE_CHECKING:
    from stackwright.core.executor import ApplyResult, Event

_COLORS = {"green": "32", "yellow": "33", "red": "31", "magenta": "35", "bold": "1",
           "dim": "2", "cyan": "36"}
_SYMBOL = {
    Action.CREATE: ("+", "green", "will be created"),
    Action.UPDATE: ("~", "yellow", "will be updated in place"),
    Action.REPLACE: ("-/+", "magenta", "must be replaced"),
    Action.DELETE: ("-", "red", "will be destroyed"),
}
_PROGRESS = {
    Action.CREATE: ("Creating...", "Creation complete"),
    Action.UPDATE: ("Modifying...", "Modifications complete"),
    Action.REPLACE: ("Replacing...", "Replacement complete"),
    Action.DELETE: ("Destroying...", "Destruction complete"),
}


class Printer:
    """Writes lines to a stream, colored when the stream is a terminal (or forced)."""

    def __init__(self, stream: TextIO | None = None, color: str = "auto") -> None:
        self.stream = stream or sys.stdout
        if color == "auto":
            tty = hasattr(self.stream, "isatty") and self.stream.isatty()
            self.color = tty and "NO_COLOR" not in os.environ
        else:
            self.color = color == "always"

    def paint(self, text: str, *styles: str) -> str:
        if not self.color or not styles:
            return text
        codes = ";".join(_COLORS[s] for s in styles)
        return f"\x1b[{codes}m{text}\x1b[0m"

    def line(self, text: str = "") -> None:
        self.stream.write(text + "\n")

    def flush(self) -> None:
        self.stream.flush()


def show(value: Any, sensitive: bool = False) -> str:
    if sensitive:
        return SENSITIVE_TEXT
    if value is UNKNOWN:
        return UNKNOWN_TEXT
    return json.dumps(value)


def render_plan(plan: Plan, out: Printer) -> None:
    changes = [c for c in plan.changes if c.action is not Action.NOOP]
    if plan.drift:
        render_drift(list(plan.drift), out, heading=True)
    if not changes:
        out.line(out.paint("No changes.", "green", "bold") +
                 " Your infrastructure matches the spec.")
        render_checks(plan, out)
        return
    where = f"project {plan.project}, environment {plan.environment}"
    out.line(f"Stackwright will perform the following actions ({where}):")
    out.line()
    for change in changes:
        for text in change_lines(change, out):
            out.line(text)
        out.line()
    out.line(summary_line(plan, out))
    render_checks(plan, out)


_CHECK_MARK = {"deny": ("✗", "red"), "warn": ("!", "yellow")}


def render_checks(plan: Plan, out: Printer) -> None:
    """The plan checks' results (policies), under the diff."""
    if not plan.checks:
        return
    refused = sum(1 for r in plan.checks if r.refuses)
    out.line()
    out.line(out.paint("Plan checks:", "bold") + f" {len(plan.checks)} result(s), "
             f"{refused} mandatory denial(s).")
    for r in plan.checks:
        mark, color = _CHECK_MARK.get(r.level, ("-", "dim"))
        level = out.paint(f"{r.level} [{r.enforcement.value}]", color)
        out.line(f"  {out.paint(mark, color, 'bold')} {level} {r.source}: {r.message}")


def change_lines(change: Change, out: Printer) -> Iterator[str]:
    symbol, color, verb = _SYMBOL[change.action]
    head = f"  {out.paint(symbol, color, 'bold')} {out.paint(str(change.address), 'bold')} {verb}"
    if change.reason:
        head += out.paint(f" ({change.reason})", "dim")
    yield head
    if change.action is Action.CREATE and change.after is not None:
        yield from _tree_lines(change.after, change, "+", "green", out)
    elif change.action is Action.DELETE and change.before is not None:
        yield from _tree_lines(change.before, change, "-", "red", out)
    else:
        for d in change.diffs:
            arrow = f"{show(d.before, d.sensitive)} -> {show(d.after, d.sensitive)}"
            note = out.paint("  # forces replacement", "red") if d.forces_replacement else ""
            yield f"      {out.paint('~', 'yellow')} {d.path}: {arrow}{note}"


def _tree_lines(tree: Any, change: Change, sign: str, color: str, out: Printer
                ) -> Iterator[str]:
    from stackwright.core.values import is_sensitive

    for path, value in leaf_paths(dict(tree)):
        text = show(value, is_sensitive(path, change.sensitive))
        yield f"      {out.paint(sign, color)} {path} = {text}"


def summary_line(plan: Plan, out: Printer) -> str:
    c = plan.counts()
    return (out.paint("Plan:", "bold") + f" {c['create']} to create, {c['update']} to update, "
            f"{c['replace']} to replace, {c['delete']} to destroy.")


def render_drift(drift: list[Change], out: Printer, heading: bool = False) -> None:
    if not drift:
        out.line(out.paint("No drift.", "green", "bold") + " Live objects match the state.")
        return
    out.line(out.paint(f"Drift: {len(drift)} resource(s) changed outside Stackwright:", "yellow",
                       "bold"))
    for change in drift:
        if change.action is Action.DELETE:
            out.line(f"  {out.paint('-', 'red')} {change.address} no longer exists")
            continue
        out.line(f"  {out.paint('~', 'yellow')} {change.address}")
        for d in change.diffs:
            out.line(f"      {d.path}: {show(d.before, d.sensitive)} -> "
                     f"{show(d.after, d.sensitive)}")
    if heading:
        out.line()


class ProgressPrinter:
    """Prints one line when an action starts and one when it ends, like Terraform."""

    def __init__(self, out: Printer) -> None:
        self.out = out

    def __call__(self, event: Event) -> None:
        out = self.out
        name = out.paint(str(event.address), "bold")
        if event.phase == "log":
            out.line(f"{name} {out.paint('|', 'dim')} {event.message}")
            return
        start, done = _PROGRESS.get(event.action, ("Working...", "Done"))
        if event.phase == "start":
            out.line(f"{name}: {start}")
        elif event.phase == "done":
            ident = f" [id={event.object_id}]" if event.object_id else ""
            out.line(f"{name}: {done} after {event.elapsed:.1f}s{ident}")
        elif event.phase == "failed":
            out.line(f"{name}: {out.paint('failed', 'red', 'bold')}: {event.message}")
        elif event.phase == "skipped":
            out.line(f"{name}: {out.paint('not started', 'yellow')} ({event.message})")


def render_result(result: ApplyResult, out: Printer, verb: str = "Apply") -> None:
    c = result.counts
    counts = (f"{c.get('create', 0)} created, {c.get('update', 0)} updated, "
              f"{c.get('replace', 0)} replaced, {c.get('delete', 0)} destroyed")
    if result.ok:
        out.line(out.paint(f"{verb} complete!", "green", "bold") + f" Resources: {counts}.")
        return
    out.line(out.paint(f"{verb} failed.", "red", "bold") + f" Resources: {counts}; "
             f"{len(result.failed)} failed, {len(result.skipped)} not started.")
    for address, message in sorted(result.failed.items()):
        out.line(f"  {out.paint('✗', 'red')} {address}: {message}")
    for address in result.rolled_back:
        out.line(f"  {out.paint('↩', 'yellow')} {address}: rolled back to its previous record")
    for address, message in sorted(result.rollback_failed.items()):
        out.line(f"  {out.paint('✗', 'red')} {address}: rollback failed: {message}")


def result_to_json(result: ApplyResult) -> dict[str, Any]:
    return {
        "ok": result.ok,
        "counts": result.counts,
        "done": [str(a) for a in result.done],
        "failed": {str(a): m for a, m in sorted(result.failed.items())},
        "skipped": sorted(str(a) for a in result.skipped),
        "interrupted": result.interrupted,
        "halted_by": str(result.halted_by) if result.halted_by else None,
        "rolled_back": [str(a) for a in result.rolled_back],
        "rollback_failed": {str(a): m for a, m in sorted(result.rollback_failed.items())},
        "elapsed_s": round(result.elapsed, 3),
    }
