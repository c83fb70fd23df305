"""CLI cold start: a fresh ``stackwright`` process against a bare ``python -c pass``.

Each round starts, interleaved so both see the same machine load: the floor (the venv's
Python running ``pass``), then ``stackwright --help``, ``validate`` and ``plan`` on a small
project (``stackwright init``: a File and a Command, never applied). Every run is a new
process with the bytecode the install compiled; the project and parse caches are warm after
the first round, as in a user's edit-plan loop. Reported per command: the median wall time
and the median CPU time (user + system, from ``wait4``: less disturbed by other work on a
shared machine), the excess over the floor and the target (at most 0.3 s over it).

    .venv/bin/python benchmarks/cli_start.py                # 15 rounds
    .venv/bin/python benchmarks/cli_start.py --rounds 3     # smoke test

The last line of stdout is one JSON object (``emit_result``).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from _harness import REPO_ROOT, emit_result, format_table, log, machine, scratch_dir

TARGET_EXCESS_S = 0.3
COMMANDS = {"help": ["--help"], "validate": ["validate"], "plan": ["plan"]}


def timed(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds of one run; fails loudly on an unexpected exit code."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"{' '.join(argv)} exited {code}: "
                         f"{proc.stderr.read().decode()[-800:] if proc.stderr else ''}")
    return wall, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    bin_dir = Path(sys.executable).parent
    python = str(bin_dir / "python")
    cli = str(bin_dir / "stackwright")
    env_note = {k: os.environ.get(k) for k in ("PYTHONDONTWRITEBYTECODE",)}
    with scratch_dir("sw-cli-start-") as work:
        subprocess.run([cli, "init"], cwd=work, check=True, stdout=subprocess.DEVNULL)
        samples: dict[str, list[tuple[float, float]]] = {k: [] for k in ["floor", *COMMANDS]}
        for n in range(args.rounds):
            samples["floor"].append(timed([python, "-c", "pass"], work))
            for name, extra in COMMANDS.items():
                samples[name].append(timed([cli, *extra], work))
            log(f"round {n + 1}/{args.rounds}")
    report(samples, env_note)


def report(samples: dict[str, list[tuple[float, float]]], env_note: dict[str, str | None]
           ) -> None:
    med = {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
           for k, v in samples.items()}
    floor_wall, floor_cpu = med["floor"]
    rows, result = [], {}
    for name in COMMANDS:
        wall, cpu = med[name]
        excess_wall, excess_cpu = wall - floor_wall, cpu - floor_cpu
        result[name] = {"wall_s": round(wall, 4), "cpu_s": round(cpu, 4),
                        "excess_wall_s": round(excess_wall, 4),
                        "excess_cpu_s": round(excess_cpu, 4),
                        "ratio_wall": round(wall / floor_wall, 2) if floor_wall else None,
                        "met_wall": excess_wall <= TARGET_EXCESS_S,
                        "met_cpu": excess_cpu <= TARGET_EXCESS_S}
        rows.append([name, wall, cpu, excess_wall, excess_cpu, result[name]["met_wall"]])
    rows.insert(0, ["floor (python -c pass)", floor_wall, floor_cpu, 0.0, 0.0, "-"])
    print(format_table(["command", "wall s", "cpu s", "over floor (wall)", "over floor (cpu)",
                        "met"], rows))
    emit_result({"benchmark": "cli_start", "rounds": len(samples["floor"]),
                 "floor": {"wall_s": round(floor_wall, 4), "cpu_s": round(floor_cpu, 4)},
                 "commands": result, "target_excess_s": TARGET_EXCESS_S,
                 "load_average": os.getloadavg()[0], "env": env_note, "machine": machine(),
                 "repo": str(REPO_ROOT)})


if __name__ == "__main__":
    main()
