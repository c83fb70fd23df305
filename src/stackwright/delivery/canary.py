"""Canary: the new revision beside the stable one, its share of traffic set step by step
through HAProxy server weights (runtime API, no reload), analysed in the background.

1. ``canary.replicas`` replicas of the new revision start, pass their health check and join
   every backend at weight 0 (UP, sent nothing).
2. The steps run in order: ``setWeight: N`` sets the weights of both revisions so the canary
   gets N % (:func:`stackwright.delivery.weights.split`); ``pause: {duration}`` waits;
   ``pause: {}`` waits for ``stackwright rollout promote``. The analysis measures every
   ``interval`` throughout; a human can pause, resume, promote or abort at any time.
3. Success: the rolling path takes over (the canary's replicas kept, the rest started at
   full weight, the stable ones drained and removed).
4. Failure (analysis failed, abort, Ctrl-C): in one runtime-API call per load balancer the
   stable replicas get their full weight back and the canary 0; the canary is drained and
   removed; the record, the audit log and the apply's error name the failed measurements.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwright.delivery.analysis import AnalysisRun
from stackwright.delivery.providers import Subject, provider_registry
from stackwright.delivery.run import Interrupt, RolloutAborted, RolloutRun, of_revision
from stackwright.delivery.spec import CanarySpec
from stackwright.delivery.weights import FULL, split
from stackwright.durations import seconds
from stackwright.services.replicas import Replica


class CanaryRun(RolloutRun):
    strategy = "canary"

    def __init__(self, *args: object, canary: CanarySpec, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.canary_spec = canary
        self.stable: list[Replica] = []
        self.canary: list[Replica] = []

    def run(self, stable: Sequence[Replica], seen: Sequence[Replica]) -> list[Replica]:
        """Steps, then promotion through the rolling path; the replicas serving at the end."""
        self.stable = list(stable)
        self.begin(stable[0].revision, len(self.canary_spec.steps))
        try:
            self.canary = self.rollout.start_weighted(self._indexes(seen), 0)
            self._start_analysis()
            for number, step in enumerate(self.canary_spec.steps, start=1):
                self.note(step=number)
                if step.setWeight is not None:
                    self._set_weight(step.setWeight, number)
                else:
                    assert step.pause is not None
                    self._pause(step.pause.duration, number)
                self._check()
        except Interrupt as stop:
            self._abort(stop.reason)
        except BaseException as exc:
            self._abort(f"the rollout failed: {exc}", raise_it=False)
            raise
        return self._promote()

    def _indexes(self, seen: Sequence[Replica]) -> list[int]:
        used = {r.index for r in of_revision(seen, self.rollout.revision)}
        free = (i for i in range(1, 1000) if i not in used)
        return [next(free) for _ in range(self.canary_spec.replicas)]

    def _start_analysis(self) -> None:
        if self.canary_spec.analysis is None:
            return
        rollout = self.rollout
        subject = Subject(self.ident.name, self.ident.id, self.ident.env, rollout.revision,
                          lambda: rollout.traffic.stat_rows(self.targets()))
        self.analysis = AnalysisRun(self.canary_spec.analysis, subject, provider_registry())

    def _weights(self, percent: int) -> dict[str, int]:
        stable_w, canary_w = split(percent, len(self.stable), len(self.canary))
        return {**{r.server: stable_w for r in self.stable},
                **{r.server: canary_w for r in self.canary}}

    def _set_weight(self, percent: int, number: int) -> None:
        weights = self._weights(percent)
        self.set_weights(weights)
        self.note(f"step {number}/{len(self.canary_spec.steps)}: setWeight {percent} "
                  f"(haproxy weights: stable {weights[self.stable[0].server]}"
                  f" x{len(self.stable)}, canary {weights[self.canary[0].server]}"
                  f" x{len(self.canary)})", weight=percent, message=f"{percent}% to the canary")

    def _pause(self, duration: str | None, number: int) -> None:
        total = len(self.canary_spec.steps)
        if duration is None:
            self.note(f"step {number}/{total}: paused until `stackwright rollout promote "
                      f"{self.ident.name}`", state="paused", message="waiting for promote")
            self.wait(None, self._check, gate=True)
        else:
            self.note(f"step {number}/{total}: pause {duration}")
            self.wait(seconds(duration), self._check)

    # analysis

    def _check(self) -> None:
        self.check_analysis("analysis")

    # ending

    def _abort(self, reason: str, *, raise_it: bool = True) -> None:
        self.log(f"aborting: {reason}")
        self.set_weights({**{r.server: FULL for r in self.stable},
                          **{r.server: 0 for r in self.canary}})
        self.note("all traffic is back on the stable revision", weight=0)
        self.rollout.retire(self.canary)
        failed = [m.as_json() for m in self.analysis.failed()] if self.analysis else []
        self.finish("aborted", reason, {"failed": failed})
        if raise_it:
            raise RolloutAborted(
                f"canary of revision {self.rollout.revision} aborted: {reason}; all traffic "
                f"is back on revision {self.stable[0].revision} ({len(self.stable)} "
                "replicas) and the canary was removed",
                hint=f"`stackwright rollout history {self.ident.name}` shows every "
                     "measurement; fix the revision (or the analysis) and apply again")

    def _promote(self) -> list[Replica]:
        self.note("promoting: the canary becomes stable", state="progressing", weight=100,
                  message="promoting")
        try:
            self.set_weights({r.server: FULL for r in self.canary})
            serving = self.rollout.run(self._listed())
        except BaseException as exc:
            self.finish("failed", f"promotion failed: {exc}")
            raise
        self.finish("succeeded", f"revision {self.rollout.revision} is stable")
        return serving

    def _listed(self) -> list[Replica]:
        from stackwright.services.replicas import list_replicas

        return list_replicas(self.rollout.podman, self.ident)
