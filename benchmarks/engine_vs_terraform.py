"""Engine speed against Terraform: create-apply, no-change plan and destroy on the same graphs.

Each cell of the matrix is (size, shape, mode):

- shape ``fanout``: one root, every other resource references the root's id;
  shape ``chain``: each resource references the previous one's id.
- mode ``data``: Stackwright ``Command`` with only ``triggers`` vs ``terraform_data`` with
  ``triggers_replace``; mode ``process``: ``Command`` with ``create: "true"`` vs
  ``terraform_data`` with a ``local-exec`` provisioner running ``true``.

Both tools run side by side in one run, one command at a time, with the same parallelism
(10), so the ratio ``stackwright_s / terraform_s`` compares them on the same machine and
moment. Targets: ratio <= 0.5 at 1,000 resources, <= 0.1 at 5,000, and Stackwright's time
per resource growing linearly (at most ``GROWTH_TOLERANCE`` times the per-resource time of
the smallest size at the largest).

    python benchmarks/engine_vs_terraform.py            # 1,000 x 4 cells + 5,000 fanout/data
    python benchmarks/engine_vs_terraform.py --full     # 1,000 and 5,000 x 4 cells (hours)
    python benchmarks/engine_vs_terraform.py --quick --skip-terraform   # smoke test
    # apply once and keep the projects; then time only the no-change plan, 5 times each:
    python benchmarks/engine_vs_terraform.py --sizes 5000 --shapes fanout --modes data \
        --ops apply --work /tmp/bench
    python benchmarks/engine_vs_terraform.py --sizes 5000 --shapes fanout --modes data \
        --ops plan --work /tmp/bench --repeat 5

A readable table goes to stdout, progress to stderr, and the last line of stdout is one
JSON object (see ``emit_result`` in ``_harness``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import re
import statistics
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import (
    REPO_ROOT,
    Timing,
    emit_result,
    find_executable,
    format_table,
    log,
    machine,
    ratio,
    run_timed,
    scratch_dir,
    seconds,
)

SHAPES = ("fanout", "chain")
MODES = ("data", "process")
OPS = ("apply", "plan", "destroy")
RATIO_TARGETS = {1000: 0.5, 5000: 0.1}
GROWTH_TOLERANCE = 1.5
DEFAULT_PARALLELISM = 10
DEFAULT_TIMEOUT_S = 1800.0


@dataclass(frozen=True)
class Cell:
    size: int
    shape: str
    mode: str

    @property
    def label(self) -> str:
        return f"{self.size} {self.shape} {self.mode}"

    def names(self) -> list[str]:
        width = max(4, len(str(self.size - 1)))
        return [f"r{i:0{width}d}" for i in range(self.size)]

    def parent(self, index: int) -> int | None:
        """Index of the resource that resource ``index`` references, None for the root."""
        if index == 0:
            return None
        return 0 if self.shape == "fanout" else index - 1


# --- the same graph, written for each tool -------------------------------------------------


def write_stackwright_project(directory: Path, cell: Cell) -> None:
    directory.mkdir(parents=True)
    (directory / "stackwright.yaml").write_text("project: bench\n")
    names = cell.names()
    docs = [_stackwright_doc(cell, names, i) for i in range(cell.size)]
    (directory / "resources.yaml").write_text("---\n".join(docs))


def _stackwright_doc(cell: Cell, names: list[str], i: int) -> str:
    triggers = f'k: "v{i}"'
    parent = cell.parent(i)
    if parent is not None:
        triggers += f', up: "${{{{ Command.{names[parent]}.id }}}}"'
    create = '  create: "true"\n' if cell.mode == "process" else ""
    return (
        "apiVersion: stackwright.dev/v1\nkind: Command\n"
        f"metadata: {{name: {names[i]}}}\nspec:\n{create}  triggers: {{{triggers}}}\n"
    )


def write_terraform_config(directory: Path, cell: Cell) -> None:
    directory.mkdir(parents=True)
    names = cell.names()
    blocks = [_terraform_block(cell, names, i) for i in range(cell.size)]
    (directory / "main.tf").write_text("\n".join(blocks))


def _terraform_block(cell: Cell, names: list[str], i: int) -> str:
    triggers = f'k = "v{i}"'
    parent = cell.parent(i)
    if parent is not None:
        triggers += f", up = terraform_data.{names[parent]}.id"
    provisioner = (
        '  provisioner "local-exec" {\n    command = "true"\n  }\n'
        if cell.mode == "process" else ""
    )
    return (
        f'resource "terraform_data" "{names[i]}" {{\n'
        f"  triggers_replace = {{ {triggers} }}\n{provisioner}}}\n"
    )


# --- the two tools behind one interface -----------------------------------------------------


@dataclass
class Tool:
    """How to prepare a project for one tool and run its three timed operations."""

    name: str
    write: Callable[[Path, Cell], None]
    argv: dict[str, list[str]]
    env: dict[str, str]
    prepare: Callable[[Path, dict[str, str], float], Timing | None] = lambda *_: None
    check: Callable[[str, Cell, Timing], str | None] = lambda *_: None


def stackwright_tool(binary: str, work: Path, parallelism: int) -> Tool:
    key_dir = work / "keys"
    key_dir.mkdir(exist_ok=True)
    p = str(parallelism)
    return Tool(
        name="stackwright",
        write=write_stackwright_project,
        argv={
            "apply": [binary, "-C", "{dir}", "apply", "--yes", "--parallelism", p],
            "plan": [binary, "-C", "{dir}", "plan", "--detailed-exitcode"],
            "destroy": [binary, "-C", "{dir}", "destroy", "--yes", "--parallelism", p],
        },
        env={**os.environ, "STACKWRIGHT_KEY_DIR": str(key_dir)},
        check=count_checker("stackwright"),
    )


def terraform_tool(binary: str, work: Path, parallelism: int) -> Tool:
    config = work / "terraformrc"
    config.write_text("")  # isolate from the user's CLI config (mirrors, plugin cache)
    common = ["-input=false", "-no-color", "-lock=true", f"-parallelism={parallelism}"]
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1",
           "TF_CLI_CONFIG_FILE": str(config)}
    env.pop("TF_LOG", None)
    return Tool(
        name="terraform",
        write=write_terraform_config,
        argv={
            "apply": [binary, "apply", "-auto-approve", *common],
            "plan": [binary, "plan", "-refresh=true", "-detailed-exitcode", *common],
            "destroy": [binary, "destroy", "-auto-approve", *common],
        },
        env=env,
        prepare=lambda d, e, t: _terraform_init(binary, d, e, t),
        check=count_checker("terraform"),
    )


def _terraform_init(binary: str, directory: Path, env: dict[str, str], timeout: float) -> Timing:
    argv = [binary, "init", "-input=false", "-no-color", "-backend=false"]
    return run_timed(argv, cwd=directory, env=env, timeout=timeout)


# Both tools end apply and destroy with a "Resources: N added/created ... N destroyed" line.
_COUNTS = {
    "terraform": {"apply": re.compile(r"Resources: (\d+) added"),
                  "destroy": re.compile(r"Resources: .*?(\d+) destroyed")},
    "stackwright": {"apply": re.compile(r"Resources: (\d+) created"),
                    "destroy": re.compile(r"Resources: .*?(\d+) destroyed")},
}


def count_checker(tool: str) -> Callable[[str, Cell, Timing], str | None]:
    """Check that apply created, and destroy destroyed, every resource of the cell."""

    def check(op: str, cell: Cell, timing: Timing) -> str | None:
        pattern = _COUNTS[tool].get(op)
        if pattern is None:
            return None
        found = pattern.search(timing.stdout_tail)
        if found is None or int(found.group(1)) != cell.size:
            got = found.group(1) if found else "no count in its output"
            return f"{tool} {op} expected {cell.size} resources, got {got}"
        return None

    return check


def _check_exit(op: str, timing: Timing) -> str | None:
    if timing.returncode == 0:
        return None
    if op == "plan" and timing.returncode == 2:
        return "plan after apply reported changes (exit 2 with --detailed-exitcode)"
    return timing.describe_failure()


# --- running a cell ---------------------------------------------------------------------------


@dataclass
class Run:
    """One tool's timings (and first error) in one cell."""

    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None


def run_cell(cell: Cell, tools: list[Tool], work: Path, timeout: float,
             ops: tuple[str, ...] = OPS, repeat: int = 1) -> dict[str, Run]:
    """Interleave the tools op by op: apply, apply, plan, plan, destroy, destroy. A project
    directory already in ``work`` (kept from an earlier run) is used as it is, so ``ops`` can
    time the no-change plan of projects applied before; with ``repeat``, each op that leaves
    the project as it was (plan) runs that many times, interleaved, and the median counts."""
    runs = {tool.name: Run() for tool in tools}
    dirs = {tool.name: work / f"{tool.name}-{cell.size}-{cell.shape}-{cell.mode}" for tool in tools}
    for tool in tools:
        if not dirs[tool.name].exists():
            _prepare(tool, cell, dirs[tool.name], runs[tool.name], timeout)
    for op in (o for o in OPS if o in ops):
        samples: dict[str, list[float]] = {tool.name: [] for tool in tools}
        for _ in range(repeat if op == "plan" else 1):
            for tool in tools:
                run = runs[tool.name]
                if run.error is None:
                    _time_op(tool, op, cell, dirs[tool.name], run, timeout)
                    if op in run.seconds:
                        samples[tool.name].append(run.seconds[op])
        for tool in tools:
            if samples[tool.name] and runs[tool.name].error is None:
                runs[tool.name].seconds[op] = statistics.median(samples[tool.name])
    return runs


def _prepare(tool: Tool, cell: Cell, directory: Path, run: Run, timeout: float) -> None:
    tool.write(directory, cell)
    timing = tool.prepare(directory, tool.env, timeout)
    if timing is not None and timing.returncode != 0:
        run.error = f"{tool.name} prepare: {timing.describe_failure()}"


def _time_op(tool: Tool, op: str, cell: Cell, directory: Path, run: Run, timeout: float) -> None:
    argv = [a.replace("{dir}", str(directory)) for a in tool.argv[op]]
    timing = run_timed(argv, cwd=directory, env=tool.env, timeout=timeout)
    error = _check_exit(op, timing) or tool.check(op, cell, timing)
    status = "ok" if error is None else f"FAILED: {error}"
    log(f"[{cell.label}] {tool.name:11s} {op:7s} {timing.seconds:9.3f}s  {status}")
    if error is None:
        run.seconds[op] = timing.seconds
    else:
        run.error = f"{tool.name} {op}: {error}"


def cell_rows(cell: Cell, runs: dict[str, Run]) -> list[dict[str, Any]]:
    sw, tf = runs.get("stackwright"), runs.get("terraform")
    rows = []
    for op in OPS:
        sw_s = seconds(sw.seconds.get(op)) if sw else None
        tf_s = seconds(tf.seconds.get(op)) if tf else None
        row: dict[str, Any] = {"size": cell.size, "shape": cell.shape, "mode": cell.mode,
                               "op": op, "stackwright_s": sw_s, "terraform_s": tf_s,
                               "ratio": ratio(sw_s, tf_s)}
        errors = [r.error for r in (sw, tf) if r is not None and r.error]
        if errors:
            row["errors"] = errors
        rows.append(row)
    return rows


# --- targets ------------------------------------------------------------------------------


def growth(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-resource seconds at the smallest vs the largest size, per shape/mode/op."""
    sizes = sorted({r["size"] for r in rows})
    if len(sizes) < 2:
        return {}
    small, large = sizes[0], sizes[-1]
    by_key = {(r["size"], r["shape"], r["mode"], r["op"]): r for r in rows}
    result = {}
    for shape, mode, op in itertools.product(SHAPES, MODES, OPS):
        a, b = by_key.get((small, shape, mode, op)), by_key.get((large, shape, mode, op))
        if a is None or b is None:
            continue
        result[f"{shape}/{mode}/{op}"] = _growth_entry(a, b, small, large)
    return result


def _growth_entry(a: dict[str, Any], b: dict[str, Any], small: int, large: int) -> dict[str, Any]:
    entry: dict[str, Any] = {"sizes": [small, large]}
    for tool in ("stackwright", "terraform"):
        per = [_per_resource(a[f"{tool}_s"], small), _per_resource(b[f"{tool}_s"], large)]
        entry[f"{tool}_per_resource_s"] = per
        entry[f"{tool}_growth"] = ratio(per[1], per[0])
    g = entry["stackwright_growth"]
    entry["linear"] = None if g is None else g <= GROWTH_TOLERANCE
    return entry


def _per_resource(total: float | None, size: int) -> float | None:
    return None if total is None else round(total / size, 7)


def unmet_targets(rows: list[dict[str, Any]], grow: dict[str, Any]) -> list[str]:
    """Every target that failed or could not be checked; empty means all were met."""
    unmet = [f"{r['size']} {r['shape']} {r['mode']} {r['op']}: {'; '.join(r['errors'])}"
             for r in rows if r.get("errors")]
    checked = 0
    for r in rows:
        limit = RATIO_TARGETS.get(r["size"])
        if limit is None or r.get("errors"):
            continue
        checked += 1
        where = f"{r['size']} {r['shape']} {r['mode']} {r['op']}"
        if r["ratio"] is None:
            unmet.append(f"{where}: no ratio (a side was skipped)")
        elif r["ratio"] > limit:
            unmet.append(f"{where}: ratio {r['ratio']} > {limit}")
    for key, entry in grow.items():
        if entry["linear"] is False:
            unmet.append(f"growth {key}: x{entry['stackwright_growth']} per resource "
                         f"> {GROWTH_TOLERANCE}")
    if checked == 0:
        unmet.append(f"no ratio target applies to sizes {sorted({r['size'] for r in rows})}")
    return unmet


# --- command line -----------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--full", action="store_true", help="1,000 and 5,000 for every shape x mode")
    p.add_argument("--quick", action="store_true", help="100 resources, fanout/data: a smoke test")
    p.add_argument("--sizes", type=_csv(int), help="comma-separated, e.g. 1000,5000")
    p.add_argument("--shapes", type=_csv(str, SHAPES), help="fanout,chain")
    p.add_argument("--modes", type=_csv(str, MODES), help="data,process")
    p.add_argument("--skip-terraform", action="store_true")
    p.add_argument("--skip-stackwright", action="store_true", help="measure the peer alone")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, help="per command, s")
    p.add_argument("--parallelism", type=int, default=DEFAULT_PARALLELISM)
    p.add_argument("--stackwright", help="path to the stackwright executable")
    p.add_argument("--terraform", help="path to the terraform executable")
    p.add_argument("--keep", action="store_true", help="keep the work dir for inspection")
    p.add_argument("--work", type=Path,
                   help="work in this dir and keep it; projects already there are reused")
    p.add_argument("--ops", type=_csv(str, OPS), default=list(OPS),
                   help="apply,plan,destroy (a subset needs --work projects applied before)")
    p.add_argument("--repeat", type=int, default=1,
                   help="times to run plan (interleaved), reporting the median")
    return p.parse_args(argv)


def _csv(kind: Callable[[str], Any], choices: Iterable[str] = ()) -> Callable[[str], list[Any]]:
    allowed = tuple(choices)

    def parse(text: str) -> list[Any]:
        values = [kind(v.strip()) for v in text.split(",") if v.strip()]
        bad = [v for v in values if allowed and v not in allowed]
        if bad or not values:
            raise argparse.ArgumentTypeError(f"expected a comma-separated subset of {allowed}")
        return values

    return parse


def select_cells(args: argparse.Namespace) -> list[Cell]:
    if args.quick:
        sizes, shapes, modes = [100], ["fanout"], ["data"]
    elif args.full or args.sizes or args.shapes or args.modes:
        sizes, shapes, modes = [1000, 5000], list(SHAPES), list(MODES)
    else:  # default: every cell at 1,000, and only fanout/data at 5,000 (Terraform is slow)
        cells = [Cell(1000, s, m) for s, m in itertools.product(SHAPES, MODES)]
        return [*cells, Cell(5000, "fanout", "data")]
    sizes, shapes, modes = args.sizes or sizes, args.shapes or shapes, args.modes or modes
    return [Cell(*c) for c in itertools.product(sizes, shapes, modes)]


def build_tools(args: argparse.Namespace, work: Path) -> tuple[list[Tool], dict[str, Any]]:
    tools, versions = [], {}
    if not args.skip_stackwright:
        venv_bin = REPO_ROOT / ".venv" / "bin" / "stackwright"
        binary = find_executable("stackwright", args.stackwright or "", venv_bin)
        if binary is None:
            sys.exit("stackwright executable not found (pass --stackwright or --skip-stackwright)")
        tools.append(stackwright_tool(binary, work, args.parallelism))
    if not args.skip_terraform:
        binary = find_executable("terraform", args.terraform or "")
        if binary is None:
            sys.exit("terraform not found on PATH (pass --terraform or --skip-terraform)")
        tools.append(terraform_tool(binary, work, args.parallelism))
        versions["terraform"] = terraform_version(binary)
    if not tools:
        sys.exit("nothing to measure: both sides skipped")
    return tools, versions


def terraform_version(binary: str) -> str | None:
    timing = run_timed([binary, "version", "-json"], timeout=60)
    try:
        return str(json.loads(timing.stdout_tail)["terraform_version"])
    except (ValueError, KeyError):
        return None


def print_table(rows: list[dict[str, Any]]) -> None:
    headers = ["size", "shape", "mode", "op", "stackwright_s", "terraform_s", "ratio", "target"]
    table = [[r["size"], r["shape"], r["mode"], r["op"], r["stackwright_s"], r["terraform_s"],
              r["ratio"], RATIO_TARGETS.get(r["size"])] for r in rows]
    print(format_table(headers, table))
    for r in rows:
        for error in r.get("errors", []):
            print(f"error [{r['size']} {r['shape']} {r['mode']} {r['op']}]: {error}")


@contextlib.contextmanager
def _work_dir(args: argparse.Namespace) -> Iterator[Path]:
    if args.work is None:
        with scratch_dir("sw-bench-tf-", keep=args.keep) as work:
            yield work
        return
    args.work.mkdir(parents=True, exist_ok=True)
    yield args.work.resolve()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cells = select_cells(args)
    rows: list[dict[str, Any]] = []
    with _work_dir(args) as work:
        tools, versions = build_tools(args, work)
        for cell in cells:
            runs = run_cell(cell, tools, work, args.timeout, tuple(args.ops), args.repeat)
            rows += [r for r in cell_rows(cell, runs) if r["op"] in args.ops]
    grow = growth(rows)
    unmet = unmet_targets(rows, grow)
    print_table(rows)
    for reason in unmet:
        print(f"unmet: {reason}")
    emit_result({
        "benchmark": "engine_vs_terraform",
        "rows": rows,
        "targets": {"ratio_max_1000": RATIO_TARGETS[1000], "ratio_max_5000": RATIO_TARGETS[5000],
                    "growth": "linear", "growth_tolerance": GROWTH_TOLERANCE},
        "met": not unmet,
        "unmet": unmet,
        "growth": grow,
        "parallelism": args.parallelism,
        "machine": {**machine(), **versions},
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
