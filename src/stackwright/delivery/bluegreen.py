"""Blue/green: the new revision comes up beside the active one, at weight 0 in every backend
(UP in HAProxy, reachable on its preview endpoints, sent no user request). Promotion —
at once with ``autoPromotion``, else on ``stackwright rollout promote`` — is one runtime-API
call per load balancer that gives the new replicas their weight and the old ones 0: an
atomic switch. The old revision stays up for ``scaleDownDelay``; ``stackwright rollout
undo`` in that time switches back the same way, and the apply fails saying so (the
service's record keeps the old revision). After the delay the old replicas are drained and
removed.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwright.delivery.analysis import AnalysisRun
from stackwright.delivery.providers import Subject, provider_registry
from stackwright.delivery.run import Interrupt, RolloutAborted, RolloutRun, of_revision
from stackwright.delivery.spec import BlueGreenSpec
from stackwright.delivery.weights import FULL
from stackwright.durations import seconds
from stackwright.services.replicas import Replica


class BlueGreenRun(RolloutRun):
    strategy = "blueGreen"

    def __init__(self, *args: object, blue_green: BlueGreenSpec, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.bg = blue_green
        self.active: list[Replica] = []
        self.preview: list[Replica] = []
        self.preview_text = ""
        self.endpoints: list[str] = []

    def run(self, active: Sequence[Replica], seen: Sequence[Replica]) -> list[Replica]:
        self.active = list(active)
        self.begin(active[0].revision, 2)
        try:
            self._bring_up(seen)
            self._analyse()
            self._gate()
        except Interrupt as stop:
            self._take_back(f"{stop.reason} before the switch", switched=False)
        except BaseException as exc:
            self._take_back(f"the rollout failed: {exc}", switched=False, raise_it=False)
            raise
        self._switch(self.preview, self.active)
        self.note("switched: the new revision serves every request", step=2, weight=100,
                  state="switched", message=f"old revision {self.active[0].revision} kept "
                  f"for {self.bg.scaleDownDelay} for `stackwright rollout undo`")
        try:
            self.wait(seconds(self.bg.scaleDownDelay))
        except Interrupt as stop:
            self._take_back(f"{stop.reason} after the switch", switched=True)
        self.rollout.retire(self.active)
        self.finish("succeeded", f"revision {self.rollout.revision} is active")
        return sorted(self.preview, key=lambda r: r.index)

    def _bring_up(self, seen: Sequence[Replica]) -> None:
        used = {r.index for r in of_revision(seen, self.rollout.revision)}
        free = (i for i in range(1, 1000) if i not in used)
        indexes = [next(free) for _ in range(self.spec.replicas)]
        self.preview = self.rollout.start_weighted(indexes, 0)
        port = self.bg.previewPort or (self.spec.ports[0] if self.spec.ports else None)
        urls = [f"http://127.0.0.1:{r.ports[port]}" for r in self.preview
                if port is not None and port in r.ports]
        self.preview_text = "preview: " + (", ".join(urls) or "(no published port)")
        self.endpoints = [u.removeprefix("http://") for u in urls]
        self.note(self.preview_text, step=1, message=self.preview_text)

    def _analyse(self) -> None:
        """Pre-promotion analysis of the preview: until every metric took its ``count``
        measurements (a failure raises Interrupt: no switch; inconclusive pauses; promote
        skips the rest)."""
        spec = self.bg.prePromotionAnalysis
        if spec is None:
            return
        subject = Subject(self.ident.name, self.ident.id, self.ident.env,
                          self.rollout.revision, lambda: self.rollout.traffic.stat_rows(
                              self.targets()), lambda: self.endpoints)
        self.analysis = AnalysisRun(spec, subject, provider_registry())
        self.note("pre-promotion analysis of the preview", message="analysing the preview; "
                  + self.preview_text)
        self.wait(None, lambda: self.check_analysis("pre-promotion analysis"))
        self.note("pre-promotion analysis passed" if self.analysis.verdict() == "Successful"
                  else "pre-promotion analysis skipped by promote", state="progressing")

    def _gate(self) -> None:
        if self.bg.autoPromotion:
            return
        self.note(f"waiting for `stackwright rollout promote {self.ident.name}` to switch",
                  state="paused", message=f"waiting for promote; {self.preview_text}")
        self.wait(None, gate=True)

    def _switch(self, to: Sequence[Replica], away: Sequence[Replica]) -> None:
        self.set_weights({**{r.server: FULL for r in to}, **{r.server: 0 for r in away}})

    def _take_back(self, reason: str, *, switched: bool, raise_it: bool = True) -> None:
        self._switch(self.active, self.preview)
        self.rollout.retire(self.preview)
        failed = [m.as_json() for m in self.analysis.failed()] if self.analysis else []
        self.finish("undone" if switched else "aborted", reason, {"failed": failed})
        if raise_it:
            raise RolloutAborted(
                f"blue/green of revision {self.rollout.revision} "
                f"{'undone' if switched else 'aborted'}: {reason}; its replicas were removed "
                f"and revision {self.active[0].revision} serves every request",
                hint="the service's record keeps the old revision; revert the spec, or apply "
                     "again to retry")
