"""What the policy, scan and sbom commands do, behind their typer signatures in ``cli``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from stackwright.errors import SpecError
from stackwright.policy import library
from stackwright.policy.findings import Finding, at_or_above, parse_severity
from stackwright.policy.rego import Module


def collect_test_modules(opts: Any, paths: list[Path], with_library: bool,
                         eng: Any = None) -> list[Module]:
    """The modules ``policy test`` compiles: the given files and directories (every .rego
    below), or every Policy of the project (its modules, built-in rules and tests)."""
    if paths:
        modules = _from_paths(opts.chdir, paths)
    elif with_library and not (opts.chdir / "stackwright.yaml").is_file():
        modules = []  # `policy test --library` outside a project: the library alone
    else:
        modules = project_test_modules(eng) if eng is not None else _from_project(opts)
    if with_library:
        # A library file given as a path too (or a project's copy of it) is compiled once:
        # the same rules twice are a conflict in Rego.
        seen = {m.source for m in modules} | {m.name for m in modules}
        shipped = [(f"<library {name}>", library.module_path(name))
                   for name in sorted(library.LIBRARY)]
        shipped += [(f"<library {p.name}>", p) for p in library.test_paths()]
        for label, path in shipped:
            source = path.read_text()
            if label not in seen and source not in seen:
                modules.append(Module(label, source))
    if not modules:
        raise SpecError("no Rego modules to test",
                        hint="declare a Policy, name .rego files or directories, or --library")
    return modules


def _from_paths(root: Path, paths: list[Path]) -> list[Module]:
    found: list[Path] = []
    for path in paths:
        full = path if path.is_absolute() else root / path
        if full.is_dir():
            found.extend(sorted(full.rglob("*.rego")))
        elif full.is_file():
            found.append(full)
        else:
            raise SpecError(f"{path}: no such file or directory",
                            hint="give .rego files or directories holding them")
    return [Module(_rel(p, root), p.read_text()) for p in dict.fromkeys(found)]


def _rel(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def _from_project(opts: Any) -> list[Module]:
    from stackwright.cli.main import engine

    return project_test_modules(engine(opts))


def project_test_modules(eng: Any) -> list[Module]:
    """Every module and test file of the Policies an engine's project declares."""
    from stackwright.policy.gate import declared_policies, load_policy

    modules: dict[str, Module] = {}
    for decl, spec in declared_policies(eng.project.declared):
        loaded = load_policy(decl, spec, eng.root)
        for module in (*loaded.modules, *loaded.tests):
            modules.setdefault(module.name, module)
    return list(modules.values())


def report_findings(opts: Any, findings: list[Finding], notes: list[str], sarif: Path | None,
                    fail_on: str, what: str) -> int:
    """Print findings (table or JSON), write SARIF if asked; 1 when any is at or above
    ``fail_on``."""
    from stackwright.cli.main import emit_json, printer
    from stackwright.policy.findings import render_table
    from stackwright.policy.sarif import to_sarif

    threshold = parse_severity(fail_on)
    failing = [f for f in findings if at_or_above(f, threshold)]
    if sarif is not None:
        text = json.dumps(to_sarif(findings), indent=2)
        if str(sarif) == "-":
            sys.stdout.write(text + "\n")
            return 1 if failing else 0
        (sarif if sarif.is_absolute() else opts.chdir / sarif).write_text(text + "\n")
    if opts.json:
        emit_json({"ok": not failing, "what": what, "fail_on": fail_on,
                   "findings": [f.to_json() for f in findings], "notes": notes,
                   "failing": len(failing)}, opts.out)
    else:
        out = printer(opts)
        render_table(findings, out)
        for note in notes:
            out.line(out.paint(f"note: {note}", "dim"))
        verdict = (out.paint(f"{len(failing)} finding(s) at or above {fail_on}", "red", "bold")
                   if failing else out.paint(f"nothing at or above {fail_on}", "green"))
        out.line(f"{what}: {len(findings)} finding(s); {verdict}.")
    return 1 if failing else 0


def run_sbom(opts: Any, image: str, out_file: Path | None, osv: Path | None,
             sarif: Path | None, fail_on: str | None) -> int:
    from stackwright.cli.main import emit_json, printer
    from stackwright.policy.osv import load_feed, match
    from stackwright.policy.sbom import image_ref, inventory, to_cyclonedx

    ref = image_ref(opts, image)
    packages = inventory(ref)
    doc = to_cyclonedx(ref, packages)
    if out_file is not None:
        target = out_file if out_file.is_absolute() else opts.chdir / out_file
        target.write_text(json.dumps(doc, indent=2) + "\n")
    feed = None if osv is None else (osv if osv.is_absolute() else opts.chdir / osv)
    findings = match(packages, load_feed(feed), ref) if feed is not None else []
    level = fail_on or _environment_fail_on(opts) or "high"
    if osv is not None or sarif is not None:
        counts = {"packages": len(packages)}
        return report_findings(opts, findings, [f"{counts['packages']} packages in {ref}"],
                               sarif, level, f"sbom {ref}")
    if opts.json:
        emit_json(doc, opts.out)
    else:
        out = printer(opts)
        for p in packages:
            out.line(f"  {p.ecosystem:<7} {p.name} {p.version}")
        out.line(f"{ref}: {len(packages)} package(s)"
                 + (f"; SBOM written to {out_file}" if out_file else ""))
    return 0


def _environment_fail_on(opts: Any) -> str | None:
    """``vulnerabilities.failOn`` of the params of a Policy that applies here, if any."""
    try:
        from stackwright.cli.main import engine
        from stackwright.policy.gate import declared_policies
        from stackwright.policy.imagegate import fail_on_for

        eng = engine(opts)
        for _, spec in declared_policies(eng.project.declared):
            level = fail_on_for(spec.params, eng.environment)
            if spec.applies_to(eng.environment) and level:
                return level
    except SpecError:
        return None
    return None
