"""Triggers that start runs by themselves: pushes seen by polling a repository, cron
schedules, and GitHub/GitLab push webhooks. Pure decisions where possible; positions kept
in the pipelines_triggers table so a restart neither misses nor repeats a push."""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from stackwright.pipelines.model import PipelineDef, PushTrigger
from stackwright.pipelines.service import PipelineService
from stackwright.pipelines.sources import load_declared
from stackwright.pipelines.steps import repo_address
from stackwright.tools.git import Git
from stackwright.workloads.schedule import latest_due


def ref_matches(push: PushTrigger, ref: str) -> bool:
    if ref.startswith("refs/heads/"):
        branch = ref.removeprefix("refs/heads/")
        return any(fnmatch.fnmatchcase(branch, p) for p in push.branches)
    if ref.startswith("refs/tags/"):
        tag = ref.removeprefix("refs/tags/")
        return any(fnmatch.fnmatchcase(tag, p) for p in push.tags)
    return False


def new_pushes(seen: Mapping[str, str], heads: Mapping[str, str], push: PushTrigger
               ) -> list[tuple[str, str]]:
    """(ref, sha) of matching refs that moved or appeared since ``seen``."""
    return [(ref, sha) for ref, sha in sorted(heads.items())
            if ref_matches(push, ref) and seen.get(ref) != sha]


def current_definition(service: PipelineService, name: str) -> PipelineDef:
    spec = service.spec(name)
    return load_declared(service.project_dir, service.engine.environment, name, spec
                         ).definition


def poll_push(service: PipelineService, name: str) -> list[dict[str, Any]]:
    """Start a run for each matching ref that moved since the last poll. The first poll
    only records where every ref is (a new watcher does not rebuild history)."""
    spec = service.spec(name)
    definition = current_definition(service, name)
    push = definition.on.push
    if push is None or spec.repo is None:
        return []
    heads = Git().heads(repo_address(spec.repo, service.project_dir))
    store = service.store
    seen = {ref: store.trigger_value(name, f"push:{ref}") or "" for ref in heads}
    first = store.trigger_value(name, "push:watching") is None
    started = []
    for ref, sha in new_pushes(seen, heads, push):
        if not first:
            started.append(service.start(name, ref=ref, sha=sha, trigger="push"))
        store.set_trigger_value(name, f"push:{ref}", sha)
    store.set_trigger_value(name, "push:watching", "1")
    return started


def poll_schedule(service: PipelineService, name: str, now: datetime | None = None
                  ) -> list[dict[str, Any]]:
    """Start a run for each schedule due since the last check (at most one each)."""
    now = now or datetime.now(UTC)
    definition = current_definition(service, name)
    started = []
    for i, schedule in enumerate(definition.on.schedule):
        key = f"cron:{i}:{schedule.cron}"
        last_text = service.store.trigger_value(name, key)
        if last_text is not None:
            due = latest_due(schedule.cron, datetime.fromisoformat(last_text), now)
            if due is not None:
                started.append(service.start(name, ref=schedule.ref, trigger="schedule"))
        service.store.set_trigger_value(name, key, now.isoformat())
    return started


class WebhookError(ValueError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_webhook(headers: Mapping[str, str], body: bytes, secret: str | None
                  ) -> tuple[str, str] | None:
    """(ref, sha) of a GitHub or GitLab push payload; None for other events (ping).

    GitHub signs with ``X-Hub-Signature-256`` (HMAC-SHA256 of the body), GitLab sends the
    token in ``X-Gitlab-Token``; with a secret configured, one of them must match."""
    import json

    lower = {k.lower(): v for k, v in headers.items()}
    if secret is not None:
        _verify(lower, body, secret)
    event = lower.get("x-github-event") or lower.get("x-gitlab-event")
    if event is None:
        raise WebhookError(400, "not a GitHub or GitLab webhook (no X-GitHub-Event or "
                           "X-Gitlab-Event header)")
    if event not in ("push", "Push Hook", "Tag Push Hook"):
        return None
    try:
        doc = json.loads(body)
        ref = str(doc["ref"])
        sha = str(doc.get("checkout_sha") or doc["after"])
    except (ValueError, KeyError, TypeError) as exc:
        raise WebhookError(400, f"push payload without ref/after: {exc}") from exc
    return ref, sha


def _verify(headers: Mapping[str, str], body: bytes, secret: str) -> None:
    signature = headers.get("x-hub-signature-256")
    if signature is not None:
        expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        if hmac.compare_digest(signature, expected):
            return
    token = headers.get("x-gitlab-token")
    if token is not None and hmac.compare_digest(token, secret):
        return
    raise WebhookError(401, "webhook signature or token does not match")
