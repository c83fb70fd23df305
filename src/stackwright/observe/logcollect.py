"""Collects every container's stdout and stderr of the project environment into the log
store, continuously, from podman's own log files (the ``k8s-file`` driver: one line per
record, ``<RFC 3339 time> <stdout|stderr> <F|P> <text>``).

Each file is read from the offset stored with the last lines taken from it (a restart
resumes there); only whole records are taken (a partial ``P`` record waits for its end).
Secrets delivered to a container (its secret files, its secret environment values) are
masked in every line before it is stored.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.observe.discovery import service_name
from stackwright.observe.logstore import LogLine, parse_message
from stackwright.services.replicas import LABEL_INDEX, LABEL_REVISION, LABEL_SERVICE
from stackwright.tools.podman import Podman

if TYPE_CHECKING:
    from stackwright.observe.logview import AnyLogStore
    from stackwright.server.app import PlatformContext

MASK = "********"
_MIN_SECRET = 4  # shorter values would mask ordinary words
_READ_CHUNK = 4 << 20


@dataclass(frozen=True)
class Source:
    """One container's log file and what its lines are labelled with."""

    container: str
    path: str
    service: str
    revision: str
    replica: str
    secrets: tuple[str, ...] = ()


def parse_record(raw: str) -> tuple[float, str, bool, str] | None:
    """(time, stream, complete, text) of one k8s-file record; None if it is not one."""
    parts = raw.split(" ", 3)
    if len(parts) < 3 or parts[1] not in ("stdout", "stderr") or parts[2] not in ("F", "P"):
        return None
    text = parts[3] if len(parts) == 4 else ""
    return _epoch(parts[0]), parts[1], parts[2] == "F", text


_SECONDS: dict[str, float] = {}


def _epoch(stamp: str) -> float:
    """RFC 3339 with nanoseconds (``2026-12-03T09:00:00.123456789+00:00``); the whole
    seconds of a stamp are parsed once and kept (a log has many lines a second)."""
    if stamp.endswith("Z"):
        zone_at = len(stamp) - 1
    elif len(stamp) > 25 and stamp[-6] in "+-":
        zone_at = len(stamp) - 6
    else:
        zone_at = len(stamp)
    head, frac = stamp[:19], stamp[20:zone_at] if stamp[19:20] == "." else ""
    key = head + stamp[zone_at:]
    base = _SECONDS.get(key)
    if base is None:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        zone = stamp[zone_at:].replace("Z", "+00:00") or "+00:00"
        base = _SECONDS[key] = datetime.fromisoformat(head + zone).timestamp()
    return base + float("0." + frac) if frac else base


def mask(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


@dataclass
class Chunk:
    lines: list[LogLine] = field(default_factory=list)
    position: int = 0  # offset just after the last whole record taken


def read_records(source: Source, environment: str, data: bytes, start: int) -> Chunk:
    """The whole records in ``data`` (read from ``start``), as log lines (pure)."""
    chunk = Chunk(position=start)
    pending: list[str] = []
    offset = start
    for raw in data.splitlines(keepends=True):
        if not raw.endswith(b"\n"):
            break  # the writer is in the middle of this line
        offset += len(raw)
        record = parse_record(raw.decode(errors="replace").rstrip("\n"))
        if record is None:
            chunk.position = offset
            continue
        when, stream, complete, text = record
        pending.append(text)
        if not complete:
            continue
        chunk.lines.append(_line(source, environment, when, stream, "".join(pending)))
        pending = []
        chunk.position = offset
    return chunk


def _line(source: Source, environment: str, when: float, stream: str, text: str) -> LogLine:
    if source.secrets:
        text = mask(text, source.secrets)
    message, level, trace, fields = parse_message(text)
    return LogLine(when, source.service, environment, source.revision, source.replica,
                   source.container, stream, message, level, trace, fields,
                   text.strip() if fields else None)


def collect_once(store: AnyLogStore, sources: Iterable[Source], environment: str) -> int:
    """Read what is new in every source's file; the number of lines stored."""
    offsets = store.offsets()
    stored = 0
    for source in sources:
        try:
            with open(source.path, "rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                position, known_inode = offsets.get(source.path, (0, inode))
                if known_inode != inode or position > os.fstat(f.fileno()).st_size:
                    position = 0  # a new or truncated file
                f.seek(position)
                data = f.read(_READ_CHUNK)
        except FileNotFoundError:
            continue
        chunk = read_records(source, environment, data, position)
        if chunk.position != position:
            store.append(chunk.lines, source.path, source.container, chunk.position, inode)
            stored += len(chunk.lines)
    return stored


@dataclass(frozen=True)
class Deployed:
    """What the record of a ready service says: its secret env names and its revisions."""

    secret_env: frozenset[str]
    revisions: frozenset[str]


def deployed_services(resources: Mapping[Any, Any]) -> dict[str, Deployed]:
    """Service name -> what its READY record says (records being written are left out: a
    new revision's secret names are known only once its record is)."""
    out: dict[str, Deployed] = {}
    for address, rec in resources.items():
        if address.kind != "Service" or str(rec.status.value) != "ready":
            continue
        refs = rec.inputs.get("secrets") or []
        names = {str(r["env"]) for r in refs if isinstance(r, dict) and r.get("env")}
        revisions = {str(rec.outputs.get("revision") or "")}
        for item in rec.outputs.get("revisions") or []:
            revisions.add(str(item.get("revision") if isinstance(item, dict) else item))
        out[address.name] = Deployed(frozenset(names), frozenset(revisions))
    return out


def discover_sources(podman: Podman, selector: Mapping[str, str],
                     services: Mapping[str, Deployed], tmpfs: Path) -> list[Source]:
    """The project environment's containers (running or stopped) and their log files. A
    service replica whose revision no ready record names yet waits (its lines stay in its
    file): which of its environment variables hold secrets is not known before.
    ``selector``: the labels of this checkout's project environment."""
    summaries = podman.container_list(selector)
    if not summaries:
        return []
    done = podman.probe(["container", "inspect", *[s.name for s in summaries]])
    docs = json.loads(done.stdout) if done.stdout.strip() else []
    return [s for s in (_source(d, services, tmpfs) for d in docs) if s is not None]


def _source(doc: dict[str, Any], services: Mapping[str, Deployed],
            tmpfs: Path) -> Source | None:
    log = (doc.get("HostConfig") or {}).get("LogConfig") or {}
    path = log.get("Path") or doc.get("LogPath")
    if not path or log.get("Type", "k8s-file") != "k8s-file":
        return None
    labels = (doc.get("Config") or {}).get("Labels") or {}
    name = str(doc.get("Name", "")).lstrip("/")
    service = service_name(labels) or name
    names: frozenset[str] = frozenset()
    if LABEL_SERVICE in labels:
        deployed = services.get(service)
        if deployed is None or labels.get(LABEL_REVISION, "") not in deployed.revisions:
            return None
        names = deployed.secret_env
    return Source(name, str(path), service, labels.get(LABEL_REVISION, ""),
                  labels.get(LABEL_INDEX, ""),
                  tuple(_secrets(doc, names, tmpfs)))


def _secrets(doc: dict[str, Any], env_names: Iterable[str], tmpfs: Path) -> list[str]:
    """The values delivered to the container as secrets, longest first."""
    found: set[str] = set()
    for item in (doc.get("Config") or {}).get("Env") or []:
        key, _, value = str(item).partition("=")
        if key in set(env_names) and len(value) >= _MIN_SECRET:
            found.add(value)
    for mount in doc.get("Mounts") or []:
        source = Path(str(mount.get("Source", "")))
        if tmpfs in source.parents:
            found.update(_file_values(source))
    return sorted(found, key=len, reverse=True)


def _file_values(path: Path) -> set[str]:
    files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
    values: set[str] = set()
    for f in files:
        try:
            text = f.read_text(errors="replace")
        except OSError:
            continue
        values.update(v for v in (text, text.strip()) if len(v) >= _MIN_SECRET)
    return values


class LogCollector:
    """The ``logs`` platform component: collects every second, prunes every minute."""

    name = "logs"

    def __init__(self, ctx: PlatformContext, interval: float = 1.0,
                 retention_s: float = 7 * 86400, max_lines: int = 5_000_000) -> None:
        from stackwright.observe.logview import store_for

        self.ctx = ctx
        self.interval = interval
        self.retention_s = retention_s
        self.max_lines = max_lines
        self.store = store_for(ctx.engine, create=True)
        self.collected = 0
        self.error: str | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="observe-logs", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        ticks = 0
        while True:
            try:
                self.tick(prune=ticks % 60 == 0)
                self.error = None
            except Exception as exc:  # reported in status, tried again next tick
                self.error = str(exc)
            ticks += 1
            if self._stop.wait(self.interval):
                break
        self.tick(prune=False)  # what was written up to the stop

    def tick(self, *, prune: bool) -> None:
        import time

        from stackwright.local import checkout_selector, podman_for
        from stackwright.services.secretrefs import tmpfs_root

        engine = self.ctx.engine
        dctx = engine.driver_context()
        services = deployed_services(engine.snapshot().resources)
        sources = discover_sources(podman_for(dctx), checkout_selector(dctx), services,
                                   tmpfs_root(dctx))
        self.collected += collect_once(self.store, sources, engine.environment)
        if prune:
            self.store.prune(older_than=time.time() - self.retention_s,
                             max_lines=self.max_lines)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self.store.close()

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"state": "running" if self._thread.is_alive() else "stopped",
                               "lines_collected": self.collected}
        if self.error:
            doc["error"] = self.error
        return doc


def logs_component(ctx: PlatformContext) -> LogCollector | None:
    from stackwright.observe.settings import observe_settings

    settings = observe_settings(ctx.engine.config.settings)
    if not settings.enabled or not settings.logs.enabled:
        return None
    return LogCollector(ctx, retention_s=settings.logs.retention_seconds,
                        max_lines=settings.logs.maxLines)
