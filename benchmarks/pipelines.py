"""Pipeline runner overhead against the same commands run directly, and the cache speed-up.

What is measured (durations recorded by the runner itself, so CLI start-up is not counted):

- per step, on the host: a job of N ``true`` steps against N ``sh -e -c true`` run one after
  the other by a shell loop of subprocesses (the floor of running N scripts);
- per step, in a container: (a job of N steps - a job of 1 step) / (N - 1), against the same
  per-command floor;
- per job: a chain of J one-step container jobs against J plain ``podman run --rm`` of the
  same image and command (the floor of running a container to completion);
- cache: the example's test job (a 3 s dependency install, skipped when restored) on a cache
  miss against a hit.

    .venv/bin/python benchmarks/pipelines.py            # 20 steps, 4 jobs
    .venv/bin/python benchmarks/pipelines.py --quick    # 3 steps, 2 jobs (smoke test)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _harness import (  # noqa: E402
    REPO_ROOT,
    emit_result,
    format_table,
    log,
    machine,
    ratio,
    scratch_dir,
)

TARGETS = {"job_vs_podman_run_max": 2.0, "host_step_overhead_s_max": 0.15,
           "container_step_overhead_s_max": 0.5, "cache_speedup_min": 1.5}
STACKWRIGHT = str(Path(sys.executable).with_name("stackwright"))


def _busybox(state: Path) -> str:
    sys.path.insert(0, str(REPO_ROOT / "src"))
    from stackwright.tools.images import busybox_rootfs_image
    from stackwright.tools.podman import Podman, PodmanSettings

    podman = Podman(PodmanSettings(state_dir=state))
    return busybox_rootfs_image(podman, cache_dir=Path("/var/tmp/stackwright-test-cache")).ref


def _steps(n: int) -> str:
    return "\n".join("      - run: \"true\"" for _ in range(n))


def _pipelines(image: str, steps: int, jobs: int) -> dict[str, str]:
    chain = []
    for i in range(jobs):
        needs = f"\n    needs: [j{i - 1}]" if i else ""
        chain.append(f"  j{i}:\n    image: {image}{needs}\n    steps:\n      - run: \"true\"")
    return {
        "host": f"jobs:\n  many:\n    host: true\n    steps:\n{_steps(steps)}\n",
        "ctr1": f"jobs:\n  one:\n    image: {image}\n    steps:\n{_steps(1)}\n",
        "ctrn": f"jobs:\n  many:\n    image: {image}\n    steps:\n{_steps(steps)}\n",
        "chain": "jobs:\n" + "\n".join(chain) + "\n",
        "cache": (f"jobs:\n  test:\n    image: {image}\n    cache:\n"
                  "      key: deps-${{ hashFiles('requirements.txt') }}\n      paths: [.deps]\n"
                  "    steps:\n      - run: |\n          cp /dev/null requirements.txt\n"
                  "          [ -f .deps/ok ] || { sleep 3; mkdir -p .deps; echo > .deps/ok; }\n"),
    }


def _project(root: Path, image: str, steps: int, jobs: int) -> None:
    name = f"pl-i10-bench-{uuid.uuid4().hex[:6]}"
    (root / "stackwright.yaml").write_text(f"project: {name}\n")
    docs = []
    for pipeline, text in _pipelines(image, steps, jobs).items():
        path = root / ".stackwright" / "pipelines" / f"{pipeline}.yaml"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        docs.append(f"apiVersion: stackwright.dev/v1\nkind: Pipeline\n"
                    f"metadata: {{name: {pipeline}}}\nspec: {{concurrency: 1}}\n")
    (root / "main.yaml").write_text("---\n".join(docs))


def _sw(root: Path, *args: str) -> Any:
    done = subprocess.run([STACKWRIGHT, "-C", str(root), *args, "-o", "json"],
                          capture_output=True, text=True, timeout=900, check=False)
    if done.returncode != 0:
        raise SystemExit(f"stackwright {' '.join(args)} failed: {done.stdout}{done.stderr}")
    try:
        return json.loads(done.stdout)
    except ValueError:  # run prints the run's document on its last line
        return json.loads(done.stdout.strip().splitlines()[-1])


def _run(root: Path, pipeline: str) -> dict[str, Any]:
    started = _sw(root, "pipeline", "run", pipeline)
    doc: dict[str, Any] = _sw(root, "pipeline", "show", started["id"])
    return doc


def _job(doc: dict[str, Any], name: str) -> float:
    return float(next(j for j in doc["jobs"] if j["name"] == name)["duration_s"])


def _shell_floor(n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(["sh", "-e", "-c", "true"], check=True)
    return time.perf_counter() - start


def _podman_floor(image: str, state: Path, n: int) -> float:
    env = {**os.environ, "CONTAINERS_CONF": str(state / "containers.conf")}
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(["podman", "run", "--rm", "--pull", "never", image, "sh", "-e", "-c",
                        "true"], check=True, env=env, capture_output=True)
    return time.perf_counter() - start


def measure(args: argparse.Namespace) -> dict[str, Any]:
    with scratch_dir("sw-bench-pipelines", keep=args.keep) as root:
        state = root / "podman"
        image = _busybox(state)
        _project(root, image, args.steps, args.jobs)
        _podman_floor(image, state, 1)  # warm podman's storage
        host = _job(_run(root, "host"), "many")
        shell = _shell_floor(args.steps)
        one = _job(_run(root, "ctr1"), "one")
        many = _job(_run(root, "ctrn"), "many")
        chain = _run(root, "chain")["duration_s"]
        podman = _podman_floor(image, state, args.jobs)
        miss = _job(_run(root, "cache"), "test")
        hit = _job(_run(root, "cache"), "test")
    per_cmd = shell / args.steps
    figures = {
        "steps": args.steps, "jobs": args.jobs,
        "host_job_s": round(host, 3), "shell_floor_s": round(shell, 3),
        "host_step_overhead_s": round((host - shell) / args.steps, 4),
        "container_job_1_step_s": round(one, 3), "container_job_n_steps_s": round(many, 3),
        "container_step_s": round((many - one) / max(args.steps - 1, 1), 4),
        "shell_per_command_s": round(per_cmd, 4),
        "chain_run_s": round(chain, 3), "podman_run_floor_s": round(podman, 3),
        "cache_miss_job_s": round(miss, 3), "cache_hit_job_s": round(hit, 3),
    }
    figures["container_step_overhead_s"] = round(figures["container_step_s"] - per_cmd, 4)
    ratios = {"host_job_vs_shell": ratio(host, shell),
              "job_vs_podman_run": ratio(chain, podman),
              "container_step_vs_shell_command": ratio(figures["container_step_s"], per_cmd),
              "cache_speedup": ratio(miss, hit)}
    return {"figures": figures, "ratios": ratios}


def unmet(result: dict[str, Any]) -> list[str]:
    f, r = result["figures"], result["ratios"]
    checks = [("job_vs_podman_run", r["job_vs_podman_run"], TARGETS["job_vs_podman_run_max"],
               False),
              ("host_step_overhead_s", f["host_step_overhead_s"],
               TARGETS["host_step_overhead_s_max"], False),
              ("container_step_overhead_s", f["container_step_overhead_s"],
               TARGETS["container_step_overhead_s_max"], False),
              ("cache_speedup", r["cache_speedup"], TARGETS["cache_speedup_min"], True)]
    return [f"{name} {value} {'<' if at_least else '>'} {target}"
            for name, value, target, at_least in checks
            if value is None or (value < target if at_least else value > target)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="3 steps, 2 jobs")
    parser.add_argument("--keep", action="store_true", help="keep the scratch directory")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.jobs = 3, 2
    log(f"pipelines: {args.steps} steps, {args.jobs} jobs")
    result = measure(args)
    print(format_table(["figure", "value"], sorted(result["figures"].items())))
    print(format_table(["ratio", "value"], sorted(result["ratios"].items())))
    missed = unmet(result)
    emit_result({"benchmark": "pipelines", **result, "targets": TARGETS, "met": not missed,
                 "unmet": missed, "machine": machine()})
    return 0 if not missed else 1


if __name__ == "__main__":
    sys.exit(main())
