"""Artifacts a run kept: listed with their expiry, downloaded while kept, removed past their
retention (by the daemon's pipelines component, see :func:`expire_due`).

An artifact's row stays after its file is removed, so ``pipeline artifacts`` and the API
list it as expired and a download names when it expired instead of "not found".
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackwright.errors import StackwrightError
from stackwright.pipelines.store import RunStore
from stackwright.pipelines.workspace import unpack


class ArtifactExpired(StackwrightError):
    """An artifact asked for after its retention ran out."""


def _iso(when: float) -> str:
    return datetime.fromtimestamp(when, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _span(seconds: float | None) -> str:
    if not seconds:
        return "?"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def expired(row: Mapping[str, Any], now: float | None = None) -> bool:
    return bool(row.get("expired")) or float(row["expires"]) <= (now or time.time())


def doc(row: Mapping[str, Any], now: float | None = None) -> dict[str, Any]:
    return {"job": row["job"], "size": row["size"], "expires": row["expires"],
            "expires_at": _iso(float(row["expires"])), "retention": _span(row.get("retention")),
            "expired": expired(row, now), "removed": row.get("expired")}


def expire_due(store: RunStore, now: float | None = None) -> list[dict[str, Any]]:
    """Remove the files of artifacts past their retention; their rows say when."""
    now = now or time.time()
    gone = []
    for row in store.due_artifacts(now):
        Path(row["path"]).unlink(missing_ok=True)
        store.mark_expired(row["run_id"], row["job"], now)
        gone.append({"run": row["run_id"], "job": row["job"], "size": row["size"]})
    return gone


def expired_error(run_id: str, row: Mapping[str, Any]) -> ArtifactExpired:
    return ArtifactExpired(
        f"the artifact of job {row['job']} in run {run_id} expired at "
        f"{_iso(float(row['expires']))} (kept {_span(row.get('retention'))})",
        hint="artifacts are kept for artifacts.retention (default: the pipeline's "
             f"artifactRetention, 7d); `stackwright pipeline rerun {run_id}` builds it again")


def usable(store: RunStore, run_id: str, job: str) -> dict[str, Any]:
    """The artifact row of ``job``, when its file is still kept."""
    from stackwright.errors import StateError

    for row in store.artifacts(run_id):
        if row["job"] != job:
            continue
        if expired(row) or not Path(row["path"]).is_file():
            raise expired_error(run_id, row)
        return row
    kept = ", ".join(r["job"] for r in store.artifacts(run_id)) or "none"
    raise StateError(f"run {run_id} kept no artifact of job {job!r}",
                     hint=f"jobs with artifacts: {kept}")


def listing(store: RunStore, run: Mapping[str, Any], job: str | None,
            download: Path | None) -> dict[str, Any]:
    """The run's artifacts; with ``download`` the kept ones are extracted there (a job named
    with ``job`` must still be kept)."""
    rows = [r for r in store.artifacts(run["id"]) if job is None or r["job"] == job]
    if job is not None:
        rows = [usable(store, run["id"], job)] if download is not None else rows
    items = []
    for row in rows:
        item = doc(row)
        if download is not None and not item["expired"]:
            target = download / row["job"]
            target.mkdir(parents=True, exist_ok=True)
            unpack(Path(row["path"]), target)
            item["extracted_to"] = str(target)
        items.append(item)
    if download is not None and rows and all(i["expired"] for i in items):
        raise expired_error(run["id"], rows[0])
    return {"run": run["id"], "artifacts": items}
