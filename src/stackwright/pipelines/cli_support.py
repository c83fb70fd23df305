"""The bodies of ``stackwright pipeline …`` commands: rendering runs, following logs,
carrying a run out here or handing it to the daemon."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from stackwright.errors import SpecErrors
from stackwright.pipelines.loader import PIPELINES_DIR, load_file
from stackwright.pipelines.service import PipelineService
from stackwright.pipelines.store import RunStore

ENDED = ("success", "failed", "cancelled", "interrupted")


def _duration(row: Mapping[str, Any]) -> float | None:
    if row.get("started") and row.get("finished"):
        return round(float(row["finished"]) - float(row["started"]), 2)
    return None


def run_doc(run: Mapping[str, Any]) -> dict[str, Any]:
    keys = ("id", "pipeline", "number", "status", "trigger", "ref", "sha", "source",
            "concurrency_group", "rerun_of", "error", "created", "started", "finished")
    return {**{k: run.get(k) for k in keys}, "duration_s": _duration(run)}


def run_line(run: Mapping[str, Any]) -> str:
    took = _duration(run)
    return (f"{run['id']}  {run['pipeline']}#{run['number']:<4} {run['status']:<11} "
            f"{run['trigger']:<8} {run['ref'].removeprefix('refs/heads/')} "
            f"{(run['sha'] or '')[:10]}" + (f"  {took:.1f}s" if took is not None else ""))


def run_detail(store: RunStore, run: Mapping[str, Any]) -> dict[str, Any]:
    from stackwright.pipelines.dag import expand
    from stackwright.pipelines.runner import definition_of

    steps = store.steps(run["id"])
    order = {p.name: i for i, p in enumerate(expand(definition_of(run)))}
    jobs = []
    for row in sorted(store.jobs(run["id"]), key=lambda r: order.get(r["name"], 1 << 30)):
        jobs.append({
            "name": row["name"], "job": row["source"], "status": row["status"],
            "needs": json.loads(row["needs"]), "matrix": json.loads(row["matrix"]),
            "attempt": row["attempt"], "environment": row["environment"],
            "approved_by": row["approved_by"], "exit_code": row["exit_code"],
            "container": row["container"],
            "error": row["error"], "outputs": json.loads(row["outputs"] or "{}"),
            "tests": json.loads(row["tests"]) if row["tests"] else None,
            "cache": json.loads(row["cache"]) if row["cache"] else None,
            "duration_s": _duration(row),
            "steps": [{"name": s["name"], "status": s["status"], "exit_code": s["exit_code"],
                       "duration_s": _duration(s)} for s in steps if s["job"] == row["name"]],
        })
    from stackwright.pipelines.artifacts import doc

    artifacts = [doc(a) for a in store.artifacts(run["id"])]
    return {**run_doc(run), "jobs": jobs, "artifacts": artifacts}


def print_detail(out: Any, doc: Mapping[str, Any]) -> None:
    out.line(run_line(doc))
    for job in doc["jobs"]:
        took = f" {job['duration_s']:.1f}s" if job["duration_s"] is not None else ""
        extra = f"  ({job['error']})" if job["error"] else ""
        out.line(f"  {job['name']:<24} {job['status']:<11}{took}{extra}")
        for step in job["steps"]:
            out.line(f"      {step['status']:<8} {step['name']}")
        if job["tests"]:
            t = job["tests"]
            out.line(f"      tests: {t['passed']} passed, {t['failures']} failed, "
                     f"{t['errors']} errors, {t['skipped']} skipped")
        if job["cache"]:
            out.line(f"      cache {job['cache']['key']}: {job['cache']['result']}")
    for a in doc["artifacts"]:
        state = "expired" if a["expired"] else f"kept until {a['expires_at']}"
        out.line(f"  artifact of {a['job']}: {a['size']} bytes, {state}")


def logs_dir(service: PipelineService, run_id: str) -> Path:
    return (service.project_dir / ".stackwright" / "pipelines" / service.engine.environment
            / "runs" / run_id / "logs")


def print_logs(service: PipelineService, run: Mapping[str, Any], job: str | None,
               follow: bool, opts: Any) -> None:
    """Each job's log, prefixed by the job's name; --follow tails them to the run's end."""
    folder = logs_dir(service, run["id"])
    offsets: dict[Path, int] = {}
    if job is not None:
        service.store.job(run["id"], job)  # names the jobs if it has none of this name
    while True:
        ended = service.store.run(run["id"])["status"] in ENDED
        for path in sorted(folder.glob("*.log")) if folder.is_dir() else []:
            if job is None or path.stem == job:
                _print_new(path, offsets, opts, prefix=job is None)
        if not follow or ended:
            return
        time.sleep(0.3)


def _print_new(path: Path, offsets: dict[Path, int], opts: Any, prefix: bool) -> None:
    with open(path, errors="replace") as handle:
        handle.seek(offsets.get(path, 0))
        text = handle.read()
        offsets[path] = handle.tell()
    out = opts.out
    for line in text.splitlines():
        if opts.json:
            out.write(json.dumps({"job": path.stem, "line": line}) + "\n")
        else:
            out.write((f"{path.stem} | " if prefix else "") + line + "\n")
    out.flush()


def daemon_running(service: PipelineService) -> bool:
    from stackwright.server.rundir import RunDir

    return RunDir.of(service.project_dir, service.engine.environment).read_info() is not None


def carry_out(service: PipelineService, queued: Mapping[str, Any], opts: Any, *,
              detach: bool) -> None:
    """Leave a queued run to the daemon (following it), to a background worker (detach
    without a daemon), or run it here."""
    run_id = queued["id"]
    if daemon_running(service) or detach:
        if not daemon_running(service):
            spawn_worker(service)
        if detach:
            _report(opts, queued, f"queued run {run_id} ({queued['pipeline']}#"
                    f"{queued['number']})")
            return
        print_logs(service, queued, None, True, opts)
    else:
        if not opts.json:
            opts.out.write(f"run {run_id} ({queued['pipeline']}#{queued['number']}) "
                           f"at {queued['ref']} {queued['sha'][:10]}\n")
        service.execute(run_id, on_event=_progress(opts))
    final = service.store.run(run_id)
    _report(opts, final, run_line(final))
    if final["status"] != "success":
        raise typer.Exit(1)


def _progress(opts: Any) -> Any:
    def on_event(name: str, data: Mapping[str, Any]) -> None:
        if opts.json:
            return
        if name == "pipeline.job.finished":
            opts.out.write(f"  {data['job']}: {data['status']}\n")
        elif name == "pipeline.job.waiting":
            opts.out.write(f"  {data['job']}: waiting for approval to deploy to "
                           f"{data['environment']} (stackwright pipeline approve "
                           f"{data['run']})\n")
        opts.out.flush()

    return on_event


def _report(opts: Any, run: Mapping[str, Any], text: str) -> None:
    if opts.json:
        opts.out.write(json.dumps(run_doc(run), default=str) + "\n")
    else:
        opts.out.write(text + "\n")


def spawn_worker(service: PipelineService) -> None:
    """``pipeline work`` in the background, detached from this terminal."""
    log = (service.project_dir / ".stackwright" / "pipelines" / service.engine.environment
           / "worker.log")
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "stackwright", "-C", str(service.project_dir), "--env",
            service.engine.environment, "pipeline", "work"]
    with open(log, "a") as handle:
        subprocess.Popen(argv, stdout=handle, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, start_new_session=True,
                         env={**os.environ})


def work(service: PipelineService) -> None:
    """Run queued runs, oldest first, until none is left."""
    from stackwright.pipelines.artifacts import expire_due
    from stackwright.pipelines.runner import Dispatcher
    from stackwright.pipelines.store import owner_id

    dispatcher = Dispatcher(service.store, service.runner_config(), owner_id())
    dispatcher.recover()
    while True:
        dispatcher.poll()
        expire_due(service.store)
        if not dispatcher.active and not service.store.runs(statuses=["queued"], limit=1):
            return
        time.sleep(0.3)


def validate_files(chdir: Path, files: list[Path]) -> list[str]:
    paths = files or sorted((chdir / PIPELINES_DIR).glob("*.y*ml"))
    names: list[str] = []
    problems = []
    for path in paths:
        try:
            names.append(load_file(path).name)
        except SpecErrors as exc:
            problems.extend(exc.errors)
    if problems:
        raise SpecErrors(problems)
    return names
