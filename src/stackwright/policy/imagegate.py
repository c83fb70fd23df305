"""SBOMs of the images Stackwright builds, and the vulnerability gate on them.

- ``image_built`` (entry point ``stackwright.image_built`` ``sbom``): after every Image or
  BaseImage build (or reuse), the image's packages as CycloneDX JSON, kept at
  ``.stackwright/sbom/<env>/<Kind>-<name>.json`` with the image's digest; an unchanged digest
  is not inventoried again. An image that cannot be read (``podman image mount`` refused) is
  logged and left without SBOM; the build itself stands.
- ``vulnerability_results`` (part of the ``policy`` plan check): a Policy whose params give
  ``vulnerabilities: {feed: osv.json, failOn: {prod: high, "*": critical}}`` denies a plan
  that creates or updates an image, or a resource using one (``refs``), whose kept SBOM has
  packages the OSV feed marks at or above ``failOn`` for the environment, at the Policy's
  enforcement level. An image built for the first time has no SBOM yet when the plan is
  made: it is gated from its next plan on (``stackwright sbom Image/x --osv`` checks it at
  once).

```yaml
apiVersion: stackwright.dev/v1
kind: Policy
metadata: {name: vulnerabilities}
spec:
  enforcement: {prod: hard-mandatory, "*": advisory}
  params: {vulnerabilities: {feed: security/osv.json, failOn: {prod: high, "*": critical}}}
```
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.core.model import Action, Address, CheckResult, Declared
from stackwright.errors import SpecError, TargetError

if TYPE_CHECKING:
    from stackwright.core.checks import PlanCheckInput
    from stackwright.core.kinds import DriverContext
    from stackwright.policy.kind import PolicySpec
    from stackwright.policy.sbom import Package
    from stackwright.tools.images import BuiltImage

IMAGE_KINDS = ("Image", "BaseImage")
_DIGEST = "stackwright:digest"


def sbom_path(project_dir: Path, environment: str, address: Address) -> Path:
    name = f"{address.kind}-{address.name}.json"
    return project_dir / ".stackwright" / "sbom" / environment / name


def image_built(ctx: DriverContext, address: Address, built: BuiltImage) -> None:
    """Keep the SBOM of the image just built (or reused) for ``address``."""
    from stackwright.policy.sbom import inventory, to_cyclonedx

    path = sbom_path(ctx.project_dir, ctx.environment, address)
    if kept_digest(path) == built.digest and built.digest:
        return
    try:
        packages = inventory(built.ref)
    except TargetError as exc:  # the image is built: say so, and leave it ungated
        ctx.log(f"no SBOM of {built.ref}: {exc.message}")
        return
    doc = to_cyclonedx(built.ref, packages)
    doc["metadata"]["properties"] = [{"name": _DIGEST, "value": built.digest}]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    tmp.replace(path)
    ctx.log(f"SBOM of {built.ref}: {len(packages)} package(s) in "
            f"{path.relative_to(ctx.project_dir)}")


def kept_digest(path: Path) -> str | None:
    doc = read_sbom(path)
    if doc is None:
        return None
    for prop in doc.get("metadata", {}).get("properties", []):
        if prop.get("name") == _DIGEST:
            return str(prop.get("value"))
    return None


def read_sbom(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return None
    return doc if isinstance(doc, dict) else None


def packages_of(doc: Mapping[str, Any]) -> list[Package]:
    """The packages a kept CycloneDX SBOM lists (as ``sbom.to_cyclonedx`` wrote them)."""
    from stackwright.policy.sbom import Package

    out = []
    for comp in doc.get("components", []):
        props = {p.get("name"): p.get("value") for p in comp.get("properties", [])}
        purl = str(comp.get("purl", ""))
        arch = purl.partition("?arch=")[2]
        out.append(Package(str(props.get("stackwright:ecosystem", "")), str(comp.get("name")),
                           str(comp.get("version")), arch,
                           str(props.get("stackwright:debian-source") or "")))
    return out


def fail_on_for(params: Mapping[str, Any], environment: str) -> str | None:
    """``vulnerabilities.failOn`` of a Policy's params for ``environment`` (``*``: others)."""
    vulns = params.get("vulnerabilities")
    level = vulns.get("failOn") if isinstance(vulns, Mapping) else None
    if isinstance(level, Mapping):
        level = level.get(environment, level.get("*"))
    return str(level) if level else None


def vulnerability_results(inp: PlanCheckInput, policies: Iterable[tuple[Declared, PolicySpec]]
                          ) -> list[CheckResult]:
    """Denials for the images the plan touches whose kept SBOM matches the Policy's feed."""
    images = touched_images(inp)
    if not images:
        return []
    out: list[CheckResult] = []
    for decl, spec in policies:
        vulns = spec.params.get("vulnerabilities")
        feed = vulns.get("feed") if isinstance(vulns, Mapping) else None
        level = fail_on_for(spec.params, inp.environment)
        if not feed or not level:
            continue
        out.extend(_gate(inp, decl, spec, str(feed), level, images))
    return out


def touched_images(inp: PlanCheckInput) -> list[Address]:
    """Images the plan creates or updates, and those that changed resources refer to."""
    found: dict[Address, None] = {}
    for change in inp.plan.changes:
        if change.action in (Action.NOOP, Action.DELETE):
            continue
        if change.address.kind in IMAGE_KINDS:
            found[change.address] = None
        decl = inp.declared.get(change.address)
        for ref in decl.refs if decl else ():
            if ref.target is not None and ref.target.kind in IMAGE_KINDS:
                found[ref.target] = None
    return list(found)


def _gate(inp: PlanCheckInput, decl: Declared, spec: PolicySpec, feed: str, level: str,
          images: list[Address]) -> list[CheckResult]:
    from stackwright.policy.findings import at_or_above, parse_severity
    from stackwright.policy.gate import CHECK
    from stackwright.policy.osv import load_feed, match

    entries = load_feed(_feed_path(inp.project_dir, feed, decl))
    threshold = parse_severity(level)
    out = []
    for image in images:
        doc = read_sbom(sbom_path(inp.project_dir, inp.environment, image))
        if doc is None:
            continue
        ref = str(doc.get("metadata", {}).get("component", {}).get("name", image))
        for f in match(packages_of(doc), entries, ref):
            if at_or_above(f, threshold):
                out.append(CheckResult(
                    check=CHECK, source=f"{decl.address} vulnerabilities", level="deny",
                    message=f"{image}: {f.rule} ({f.severity.name.lower()}, at or above "
                            f"{level} in {inp.environment}): {f.message}",
                    enforcement=spec.level_for(inp.environment), address=str(image)))
    return out


def _feed_path(root: Path, feed: str, decl: Declared) -> Path:
    path = Path(feed) if Path(feed).is_absolute() else root / feed
    if not path.is_file():
        raise SpecError(f"the OSV feed {feed} does not exist", location=decl.location,
                        field="spec.params.vulnerabilities.feed",
                        hint="a local JSON file of OSV entries, relative to the project")
    return path


__all__ = ["fail_on_for", "image_built", "packages_of", "read_sbom", "sbom_path",
           "touched_images", "vulnerability_results"]
