"""``stackwright policy test|library``, ``stackwright scan DIR`` and ``stackwright sbom IMAGE``.

No ``from __future__ import annotations``: typer reads the annotations at each start. Only
typer is imported here; the domain is imported inside each command.
"""

from pathlib import Path
from typing import Annotated, Any

import typer

FAIL_ON = typer.Option("--fail-on", help="Exit 1 on findings at or above: low, medium, high, "
                                         "critical (none: never).")


def register(app: typer.Typer) -> None:
    policy_app = typer.Typer(help="Rego policies that gate every plan.", no_args_is_help=True)
    policy_app.command(name="test")(policy_test)
    policy_app.command(name="library")(policy_library)
    app.add_typer(policy_app, name="policy")
    app.command(name="scan")(scan)
    app.command(name="sbom")(sbom)


def policy_test(
    ctx: typer.Context,
    paths: Annotated[list[Path] | None, typer.Argument(
        help=".rego files or directories (default: every Policy of the project).")] = None,
    with_library: Annotated[bool, typer.Option(
        "--library", help="Also run the built-in library's own tests.")] = False,
) -> None:
    """Run the test_* rules of the policies' Rego modules, as `opa test` does."""
    from stackwright.cli.main import _options, run

    opts = _options(ctx)
    run(opts, lambda: _policy_test(opts, paths or [], with_library))


def _policy_test(opts: Any, paths: list[Path], with_library: bool) -> None:
    from stackwright.cli.main import emit_json, printer
    from stackwright.policy.commands import collect_test_modules
    from stackwright.policy.testing import run_tests

    modules = collect_test_modules(opts, paths, with_library)
    report = run_tests(modules)
    if opts.json:
        emit_json({"ok": report.ok, "passed": report.passed, "failed": report.failed,
                   "elapsed_s": round(report.elapsed, 3),
                   "tests": [{"name": o.name, "module": o.module, "passed": o.passed}
                             for o in report.outcomes]}, opts.out)
    else:
        out = printer(opts)
        for o in report.outcomes:
            mark = out.paint("PASS", "green") if o.passed else out.paint("FAIL", "red", "bold")
            out.line(f"{mark} {o.name} ({o.module})")
        total = len(report.outcomes)
        out.line(("PASS" if report.ok else "FAIL") + f": {report.passed}/{total} passed, "
                 f"{report.failed} failed in {report.elapsed:.2f}s")
    if not report.ok or not report.outcomes:
        raise typer.Exit(1)


def policy_library(ctx: typer.Context) -> None:
    """List the built-in Rego rules a Policy can name in `library:`."""
    from stackwright.cli.main import _options, emit_json, printer
    from stackwright.policy import library

    opts = _options(ctx)
    rows = [{"name": n, "package": library.package(n), "description": library.describe(n)}
            for n in sorted(library.LIBRARY)]
    if opts.json:
        emit_json(rows, opts.out)
        return
    out = printer(opts)
    for row in rows:
        out.line(f"{out.paint(row['name'], 'bold')} ({row['package']}): {row['description']}")


def scan(
    ctx: typer.Context,
    directory: Annotated[Path, typer.Argument(help="Directory to scan.")] = Path("."),
    sarif: Annotated[Path | None, typer.Option(
        "--sarif", help="Also write SARIF 2.1.0 to this file ('-': print it instead).")] = None,
    fail_on: Annotated[str, FAIL_ON] = "high",
    checkov: Annotated[bool, typer.Option(
        help="Run Checkov on Terraform/Kubernetes files when it is installed.")] = True,
    images: Annotated[list[str] | None, typer.Option(
        "--image", help="Also look for secrets in this image's config and files (a ref, or "
                        "Image/name of the project's state; repeatable).")] = None,
) -> None:
    """Scan a directory: the spec against the built-in policy library, Containerfiles,
    secrets in files and logs, and (when installed) Checkov on Terraform/Kubernetes files;
    with --image, secrets in images too."""
    from stackwright.cli.main import _options, run

    opts = _options(ctx)
    code = run(opts, lambda: _scan(opts, directory, sarif, fail_on, checkov, images or []))
    if code:
        raise typer.Exit(code)


def _scan(opts: Any, directory: Path, sarif: Path | None, fail_on: str, checkov: bool,
          images: list[str]) -> int:
    from stackwright.policy.commands import report_findings
    from stackwright.policy.imagescan import scan_image
    from stackwright.policy.sbom import image_ref
    from stackwright.policy.scan import scan_directory

    root = directory if directory.is_absolute() else opts.chdir / directory
    findings, notes = scan_directory(root, use_checkov=checkov)
    for image in images:
        findings.extend(scan_image(image_ref(opts, image)))
    return report_findings(opts, findings, notes, sarif, fail_on, f"scan {directory}")


def sbom(
    ctx: typer.Context,
    image: Annotated[str, typer.Argument(help="An image reference, or Image/name or "
                                              "BaseImage/name of the project's state.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the CycloneDX JSON "
                                                               "SBOM here.")] = None,
    osv: Annotated[Path | None, typer.Option("--osv", help="An OSV feed (a JSON file of "
                                                          "advisories) to match.")] = None,
    sarif: Annotated[Path | None, typer.Option(
        "--sarif", help="Write the vulnerabilities as SARIF 2.1.0 ('-': print it).")] = None,
    fail_on: Annotated[str | None, typer.Option(
        "--fail-on", help="Exit 1 on vulnerabilities at or above this severity (default: "
                          "the environment's Policy vulnerabilities.failOn, else high).")] = None,
) -> None:
    """The packages really in an image (dpkg status, Python dist-info) as a CycloneDX SBOM,
    matched against a local OSV feed."""
    from stackwright.cli.main import _options, run

    opts = _options(ctx)
    code = run(opts, lambda: _sbom(opts, image, out_file, osv, sarif, fail_on))
    if code:
        raise typer.Exit(code)


def _sbom(opts: Any, image: str, out_file: Path | None, osv: Path | None,
          sarif: Path | None, fail_on: str | None) -> int:
    from stackwright.policy.commands import run_sbom

    return run_sbom(opts, image, out_file, osv, sarif, fail_on)
