"""Image tags per environment and the log line of a build, without podman."""

from __future__ import annotations

import pytest

from stackwright.images.tagging import describe
from stackwright.tools.images import BuiltImage, image_tag

DIGEST = "0123456789abcdef" + "f" * 48


@pytest.mark.parametrize(("env", "tag"), [
    ("dev", "dev-0123456789abcdef"),
    ("pr/12", "pr-12-0123456789abcdef"),      # characters a tag may not hold
    (".hidden", "hidden-0123456789abcdef"),  # a tag may not start with . or -
    ("", "0123456789abcdef"),                # no environment: the hash alone
])
def test_the_tag_names_the_environment_then_the_inputs(env: str, tag: str) -> None:
    assert image_tag("localhost/shop/app", DIGEST, env) == f"localhost/shop/app:{tag}"


def test_environments_never_share_a_tag() -> None:
    tags = {image_tag("localhost/shop/app", DIGEST, env) for env in ("dev", "prod", "dev-2")}
    assert len(tags) == 3


@pytest.mark.parametrize(("built", "line"), [
    (BuiltImage("r:dev-1", DIGEST, built=True), "built r:dev-1"),
    (BuiltImage("r:dev-1", DIGEST, built=False), "reused r:dev-1"),
    (BuiltImage("r:prod-1", DIGEST, built=False, tagged_from="r:dev-1"),
     "tagged r:prod-1 from r:dev-1 (same inputs, nothing to build)"),
])
def test_the_log_says_whether_it_built(built: BuiltImage, line: str) -> None:
    assert describe(built) == line
