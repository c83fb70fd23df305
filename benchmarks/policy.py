"""Policy evaluation time against OPA on the same policies and input, and against the plan.

For each size, a project of N ``Command`` resources (every tenth without its ``cost-center``
label, so the library has something to deny) and one advisory ``Policy`` using the whole
built-in library is applied once. Then, in this process:

- ``eval_create_s``: the policy plan check on the plan that creates all N resources (the
  whole plan is one query, on regorus unless ``STACKWRIGHT_REGO=regopy``; the bundle compiled
  once, ``compile_s``, and reused), with its profile: ``change_docs_s`` (the plan's changes as
  the input document), ``input_s`` (handing it to the engine) and ``input_and_query_s``;
- ``opa_eval_s``: OPA (its Go ``rego`` package, as ``opa eval`` runs it, embedded through the
  ``opa-golib-python-bindings`` wheel: ``make bench-peers`` installs it) evaluating the same
  modules, data and query on the same input document, handed over as JSON as ``opa eval -i``
  reads it; the query prepared once, as ours is compiled once. Both engines' answers must be
  equal, or the run fails. ``ratio_vs_opa = eval_create_s / opa_eval_s`` (ours also builds
  the input from the plan), target at most 1;
- ``create_plan_s``: that create plan's own time (warm, no refresh);
- ``no_change_plan_s``: a whole no-change ``Engine.plan()`` (load, read state, observe, plan,
  and the plan checks, which evaluate nothing when nothing changes), and
  ``ratio = eval_create_s / no_change_plan_s``, the issue's figure for a machine without OPA
  (target under 0.2);
- ``eval_no_change_s``: the plan check alone on that no-change plan.

    python benchmarks/policy.py                  # 1,000 and 5,000
    python benchmarks/policy.py --sizes 200      # a quick run
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from _harness import emit_result, log, machine, scratch_dir

TARGET = 0.2  # of the no-change plan
OPA_TARGET = 1.0  # of OPA's time on the same input
LABELS = "{owner: bench, team: platform, cost-center: '42'}"
UNLABELLED = "{owner: bench, team: platform}"  # every tenth resource: one finding each


def write_project(root: Path, size: int) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "stackwright.yaml").write_text(f"project: policy-bench-{size}\n")
    docs = [f"apiVersion: stackwright.dev/v1\nkind: Command\nmetadata: {{name: c{i}, labels: "
            f"{UNLABELLED if i % 10 == 0 else LABELS}}}\nspec:\n  triggers: {{k: \"v{i}\"}}\n"
            for i in range(size)]
    docs.append("apiVersion: stackwright.dev/v1\nkind: Policy\nmetadata: {name: baseline}\n"
                "spec:\n  library: [all]\n  enforcement: advisory\n"
                "  params: {labelled_kinds: [Command]}\n")
    (root / "main.yaml").write_text("---\n".join(docs))


def check_input(engine: Any, plan: Any) -> Any:
    """What the engine hands the plan checks for ``plan``."""
    from stackwright.core.checks import PlanCheckInput

    return PlanCheckInput(plan, engine.project.declared, engine.root, engine.environment, "bench")


def bench_policy(engine: Any) -> tuple[Any, Any]:
    """The project's one ``Policy``: its spec and its loaded modules."""
    from stackwright.policy import gate

    decl, spec = gate.declared_policies(engine.project.declared)[0]
    return spec, gate.load_policy(decl, spec, engine.root)


def timed_check(engine: Any, plan: Any) -> tuple[float, int]:
    from stackwright.policy.gate import policy_check

    inp = check_input(engine, plan)
    started = time.perf_counter()
    found = policy_check(inp)
    return time.perf_counter() - started, len(found)


def profile(engine: Any, plan: Any) -> dict[str, float]:
    """Compile (cold), hand the input over, query: the parts of one evaluation."""
    from stackwright.policy import gate
    from stackwright.policy.rego import _set_regorus_input
    from stackwright.policy.regoinput import build_input

    inp = check_input(engine, plan)
    _, loaded = bench_policy(engine)
    gate._COMPILED.clear()
    started = time.perf_counter()
    compiled = gate.compiled_for(loaded)
    compile_s = time.perf_counter() - started
    started = time.perf_counter()
    doc = {**gate.plan_document(inp), "changes": gate.change_docs(inp)}
    docs_s = time.perf_counter() - started
    started = time.perf_counter()
    if compiled.engine == "regorus":
        _set_regorus_input(compiled._regorus, doc)
    else:
        build_input(doc)
    input_s = time.perf_counter() - started
    started = time.perf_counter()
    compiled.query(doc)
    return {"engine": compiled.engine, "compile_s": round(compile_s, 4),
            "change_docs_s": round(docs_s, 4), "input_s": round(input_s, 4),
            "input_and_query_s": round(time.perf_counter() - started, 4)}


def opa_peer(engine: Any, plan: Any, repeat: int) -> dict[str, Any]:
    """OPA on the same modules, data, query and input document (see the module's docstring);
    {} when OPA is not installed here."""
    try:
        from opa_bindings import OpaEngine
    except ImportError:
        return {}
    import json

    from stackwright.policy import gate

    inp = check_input(engine, plan)
    spec, loaded = bench_policy(engine)
    compiled = gate.compiled_for(loaded)
    doc = {**gate.plan_document(inp), "changes": gate.change_docs(inp)}
    ours = compiled.query(doc)
    with OpaEngine() as opa:
        for module in compiled.modules:
            opa.add_policy(module.name, module.source)
        opa.add_data({"params": spec.params})
        times, answer = [], None
        for _ in range(repeat + 1):  # the first prepares the query (ours compiled before)
            started = time.perf_counter()
            answer = opa.eval_query(compiled.query_text, doc)
            times.append(time.perf_counter() - started)
    theirs = answer[0]["x"] if answer else None

    def canonical(value: Any) -> list[str]:
        return sorted(json.dumps(item, sort_keys=True) for item in value or [])

    if canonical(ours) != canonical(theirs):
        sys.exit(f"OPA and {compiled.engine} disagree on the plan: "
                 f"{len(theirs or [])} against {len(ours or [])} results")
    return {"opa_eval_s": round(statistics.median(times[1:]), 4),
            "opa_prepare_and_eval_s": round(times[0], 4), "opa_results": len(theirs or [])}


def measure(work: Path, size: int, repeat: int) -> dict[str, Any]:
    from stackwright.core.engine import Engine

    root = work / f"p{size}"
    write_project(root, size)
    os.environ["STACKWRIGHT_KEY_DIR"] = str(work / "keys")
    engine = Engine(root)
    create_plan = engine.plan(refresh=False)  # cold: imports, the engine's first plan
    started = time.perf_counter()
    create_plan = engine.plan(refresh=False)
    create_plan_s = time.perf_counter() - started
    parts = profile(engine, create_plan)
    evals = [timed_check(engine, create_plan) for _ in range(repeat)]
    opa = opa_peer(engine, create_plan, repeat)
    log(f"{size}: evaluated {size} creates in {min(e[0] for e in evals):.3f}s "
        f"({evals[0][1]} findings)")
    outcome = engine.apply(create_plan)
    assert outcome is not None and outcome.result.ok
    engine.close()
    plans, checks = [], []
    for _ in range(repeat):
        fresh = Engine(root)
        started = time.perf_counter()
        plan = fresh.plan()
        plans.append(time.perf_counter() - started)
        assert not plan.has_changes
        checks.append(timed_check(fresh, plan)[0])
        fresh.close()
    eval_s = statistics.median(e[0] for e in evals)
    plan_s = statistics.median(plans)
    log(f"{size}: no-change plan {plan_s:.3f}s; ratio {eval_s / plan_s:.2f}")
    vs_opa = round(eval_s / opa["opa_eval_s"], 3) if opa else None
    return {"size": size, "eval_create_s": round(eval_s, 4), "findings": evals[0][1], **parts,
            **opa, "ratio_vs_opa": vs_opa, "opa_target": OPA_TARGET,
            "meets_opa_target": None if vs_opa is None else vs_opa <= OPA_TARGET,
            "create_plan_s": round(create_plan_s, 4), "no_change_plan_s": round(plan_s, 4),
            "eval_no_change_s": round(statistics.median(checks), 6),
            "ratio": round(eval_s / plan_s, 3),
            "ratio_vs_create_plan": round(eval_s / create_plan_s, 3), "target": TARGET,
            "meets_target": eval_s / plan_s < TARGET}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    rows = []
    with scratch_dir(None) as work:
        for size in args.sizes:
            rows.append(measure(Path(work), size, args.repeat))
    for r in rows:
        opa = (f"OPA {r['opa_eval_s']:.3f}s, ratio {r['ratio_vs_opa']:.2f} (target <= "
               f"{OPA_TARGET})" if r["ratio_vs_opa"] is not None
               else "OPA not installed (make bench-peers)")
        print(f"{r['size']:>6} resources: policy {r['eval_create_s']:.3f}s on the create plan "
              f"({r['findings']} findings); {opa}; no-change plan {r['no_change_plan_s']:.3f}s, "
              f"ratio {r['ratio']:.2f} (target < {TARGET}); on the no-change plan "
              f"{r['eval_no_change_s']:.6f}s")
    emit_result({"benchmark": "policy", "machine": machine(), "rows": rows,
                 "targets": {"ratio_vs_opa_max": OPA_TARGET, "ratio_vs_no_change_plan_max": TARGET},
                 "meets_opa_target": all(r["meets_opa_target"] for r in rows),
                 "meets_target": all(r["meets_target"] for r in rows)})


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    main()
