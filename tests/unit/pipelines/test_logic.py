"""The pure parts of pipelines: matrix expansion and order, expressions, masking, caches,
JUnit summaries, push and webhook decisions."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from stackwright.pipelines.dag import dependents, expand
from stackwright.pipelines.expressions import Context, ExpressionError, checks_status
from stackwright.pipelines.model import PipelineDef, PushTrigger
from stackwright.pipelines.triggers import WebhookError, new_pushes, parse_webhook
from stackwright.pipelines.workspace import CacheStore, Masker, hash_files, junit_summary

STEP = [{"run": "true"}]


def _def(jobs: dict[str, dict[str, object]]) -> PipelineDef:
    return PipelineDef.model_validate(
        {"jobs": {n: {"host": True, "steps": STEP, **j} for n, j in jobs.items()}})


def test_matrix_expands_into_named_jobs_and_needs_into_every_cell() -> None:
    definition = _def({"deploy": {"needs": ["test"]},
                       "test": {"matrix": {"py": ["3.11", "3.12"], "os": ["a b"]}}})
    jobs = expand(definition)
    assert [j.name for j in jobs] == ["test-3.11-a_b", "test-3.12-a_b", "deploy"]
    assert jobs[0].matrix == {"py": "3.11", "os": "a b"}
    assert jobs[2].needs == ("test-3.11-a_b", "test-3.12-a_b")
    assert dependents(jobs, "test-3.11-a_b") == {"deploy"}


def test_dependents_are_transitive() -> None:
    jobs = expand(_def({"a": {}, "b": {"needs": ["a"]}, "c": {"needs": ["b"]}, "d": {}}))
    assert dependents(jobs, "a") == {"b", "c"}


def test_expressions_render_and_decide() -> None:
    ctx = Context({"branch": "main", "matrix": {"py": "3.12"}, "ref": "refs/tags/v1",
                   "needs": {"build": {"outputs": {"image": "x@sha256:1"}}}},
                  {"success": lambda: True, "failure": lambda: False})
    assert ctx.render("py${{ matrix.py }}-${{ needs.build.outputs.image }}") == \
        "py3.12-x@sha256:1"
    assert ctx.condition("branch == 'main' && success()")
    assert not ctx.condition("${{ branch != 'main' || failure() }}")
    assert ctx.condition("startsWith(ref, 'refs/tags/') && !contains(branch, 'rel')")
    assert ctx.condition(None)
    assert checks_status("always()") and not checks_status("branch == 'main'")


@pytest.mark.parametrize("text", ["__import__('os')", "matrix.py.__class__", "1 + 1",
                                  "[x for x in 'a']", "open('f')"])
def test_expressions_refuse_anything_else(text: str) -> None:
    ctx = Context({"matrix": {"py": "3"}})
    with pytest.raises(ExpressionError):
        ctx.evaluate(text)


def test_undefined_names_say_what_is_defined() -> None:
    with pytest.raises(ExpressionError, match="'nope' is not defined.*defined: branch"):
        Context({"branch": "x"}).evaluate("nope == 1")


def test_masker_hides_values_and_their_lines() -> None:
    mask = Masker(["s3cr3t-value", "line-one\nline-two", "ab"])
    assert mask("token=s3cr3t-value!") == "token=***!"
    assert mask("got line-two here") == "got *** here"
    assert mask("ab stays: too short to mask safely") == "ab stays: too short to mask safely"


def test_cache_restores_exact_then_by_prefix(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "deps").mkdir(parents=True)
    (ws / "deps" / "lib.txt").write_text("v1")
    (ws / "req.txt").write_text("a==1")
    key = f"deps-{hash_files(ws, 'req*.txt')}"
    cache = CacheStore(tmp_path / "cache")
    assert cache.restore(key, ["deps-"], ws) is None
    assert cache.save(key, ["deps"], ws) > 0
    assert cache.save(key, ["deps"], ws) == 0, "a key is written once"
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    hit = cache.restore(key, [], fresh)
    assert hit is not None and hit.exact and (fresh / "deps" / "lib.txt").read_text() == "v1"
    other = tmp_path / "other"
    other.mkdir()
    partial = cache.restore("deps-changed", ["deps-"], other)
    assert partial is not None and not partial.exact and partial.key == key
    assert hash_files(ws, "nothing*") == ""
    (ws / "req.txt").write_text("a==2")
    assert f"deps-{hash_files(ws, 'req*.txt')}" != key


def test_junit_summary(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "a.xml").write_text(
        '<testsuites><testsuite name="s"><testcase classname="t" name="ok"/>'
        '<testcase classname="t" name="bad"><failure message="x"/></testcase>'
        '<testcase classname="t" name="skip"><skipped/></testcase></testsuite></testsuites>')
    summary = junit_summary(tmp_path, ["reports/*.xml"])
    assert summary == {"tests": 3, "failures": 1, "errors": 0, "skipped": 1, "passed": 1,
                       "failed": ["t.bad"]}
    assert junit_summary(tmp_path, ["none/*.xml"]) is None


def test_new_pushes_match_branches_and_tags() -> None:
    push = PushTrigger(branches=["main", "release/*"], tags=["v*"])
    heads = {"refs/heads/main": "b", "refs/heads/feature": "c", "refs/heads/release/1": "d",
             "refs/tags/v1.0": "e", "refs/tags/other": "f"}
    seen = {"refs/heads/main": "a", "refs/heads/release/1": "d"}
    assert new_pushes(seen, heads, push) == [("refs/heads/main", "b"), ("refs/tags/v1.0", "e")]


def test_webhooks_of_github_and_gitlab() -> None:
    body = json.dumps({"ref": "refs/heads/main", "after": "abc123"}).encode()
    sig = "sha256=" + hmac.new(b"k3y", body, hashlib.sha256).hexdigest()
    assert parse_webhook({"X-GitHub-Event": "push", "X-Hub-Signature-256": sig}, body,
                         "k3y") == ("refs/heads/main", "abc123")
    assert parse_webhook({"X-GitHub-Event": "ping"}, b"{}", None) is None
    lab = json.dumps({"ref": "refs/heads/dev", "checkout_sha": "def456", "after": "x"})
    assert parse_webhook({"X-Gitlab-Event": "Push Hook", "X-Gitlab-Token": "k3y"},
                         lab.encode(), "k3y") == ("refs/heads/dev", "def456")
    with pytest.raises(WebhookError) as bad:
        parse_webhook({"X-GitHub-Event": "push", "X-Hub-Signature-256": "sha256=00"}, body,
                      "k3y")
    assert bad.value.status == 401
    with pytest.raises(WebhookError, match="no X-GitHub-Event"):
        parse_webhook({}, body, None)
