"""The ``Service`` kind: replicas of one image as podman containers, rolled without downtime."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

from stackwright.core.engine import actor
from stackwright.core.kinds import Driver, DriverContext, Kind, SpecModel
from stackwright.core.model import Applied, Observed, Recorded
from stackwright.delivery.strategy import roll_out
from stackwright.errors import PermanentError
from stackwright.services.identity import Identity, identity
from stackwright.services.replicas import (
    LABEL_SERVICE,
    Replica,
    list_replicas,
    preflight,
)
from stackwright.services.rollout import Rollout, remove_all
from stackwright.services.routes import RouteTable, run_dir
from stackwright.services.secretrefs import deliver, forget, tmpfs_root
from stackwright.services.spec import ServiceSpec, config_hash, revision_of
from stackwright.tools._proc import NameInUseError
from stackwright.tools.podman import Podman, PodmanSettings

REVISIONS_KEPT = 20
STOP_SECONDS = 10  # SIGTERM, then SIGKILL (replicas run with an init: they stop at once)


class ServiceKind(Kind):
    """Replicas of one image behind health checks, updated by rolling without downtime.

    ```yaml
    apiVersion: stackwright.dev/v1
    kind: Service
    metadata: {name: web}
    spec:
      image: ${{ Image.app.image }}
      env: {GREETING: hello}
      ports: [8080]                 # each replica publishes it on a free 127.0.0.1 port
      replicas: 2
      resources: {cpus: 0.5, memory: 64m}
      networks: [backend]           # joined with the alias "web"
      healthCheck: {http: /healthz, interval: 1s}
      rollout: {maxSurge: 1, maxUnavailable: 0, healthTimeout: 30s}
    ```

    A change of image, command, env, ports, resources, volumes, networks or healthCheck makes
    a new revision, rolled out replica by replica through every LoadBalancer routing to the
    service; a change of ``replicas`` only starts or stops replicas. Outputs: ``endpoints``
    (``127.0.0.1:port`` of healthy replicas, first port), ``revision``, ``replicas`` and
    ``revisions`` (each revision deployed: revision, image, config hash, time, and who).
    Services are transactional within an apply: when one fails, nothing more starts and the
    services already updated in that apply are rolled back (rolling) to their previous spec.
    """

    name: ClassVar[str] = "Service"
    spec_model = ServiceSpec
    outputs = ("endpoints", "revision", "replicas", "revisions")
    drivers = {"local": lambda: LocalServiceDriver()}
    transactional = True  # a failed rollout takes back the other services of its apply

    def normalize(self, spec: SpecModel) -> dict[str, Any]:
        # ``replicas`` is always recorded, so a replica lost behind our back is a diff even
        # when the spec leaves the count at its default.
        assert isinstance(spec, ServiceSpec)
        return {**super().normalize(spec), "replicas": spec.replicas}

    def predict_outputs(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        spec = ServiceSpec.model_validate(dict(inputs))
        return {"revision": revision_of(spec)}


def podman_for(ctx: DriverContext) -> Podman:
    state = run_dir(ctx.project_dir, ctx.environment) / "podman"
    return Podman(PodmanSettings(state_dir=state))


class LocalServiceDriver(Driver):
    """Podman containers named ``sw-<project>-<key>-<env>-<service>-<revision>-<n>``."""

    def read(self, ctx: DriverContext, recorded: Recorded) -> Observed | None:
        ident = identity(ctx, recorded.address.name, recorded.id)
        podman = podman_for(ctx)
        seen = list_replicas(podman, ident)
        if not seen:
            return None
        spec = ServiceSpec.model_validate(dict(recorded.inputs))
        revision = str(recorded.outputs.get("revision") or revision_of(spec))
        rollout = Rollout(podman, ident, spec, revision, _table(ctx))
        healthy = [r for r in seen if r.revision == revision and rollout.healthy(r, 2)]
        inputs: dict[str, Any] = {"replicas": len(healthy)}
        return Observed(inputs=inputs, outputs={
            "endpoints": _endpoints(spec, healthy), "replicas": len(healthy)})

    def create(self, ctx: DriverContext, inputs: Mapping[str, Any]) -> Applied:
        ident = identity(ctx)
        return self._converge(ctx, ident, inputs, [])

    def update(
        self, ctx: DriverContext, recorded: Recorded, inputs: Mapping[str, Any]
    ) -> Applied:
        ident = identity(ctx, recorded.address.name, recorded.id)
        return self._converge(ctx, ident, inputs, list(recorded.outputs.get("revisions") or []))

    def delete(self, ctx: DriverContext, recorded: Recorded) -> None:
        ident = identity(ctx, recorded.address.name, recorded.id)
        podman = podman_for(ctx)
        remove_all(podman, _table(ctx), ident.id, list_replicas(podman, ident), ctx.log)
        forget(ctx, ident)

    def suspend(self, ctx: DriverContext, recorded: Recorded) -> bool:
        """``podman stop`` every running replica, keeping the containers; the next apply
        (or the daemon's repair) replaces them, as it does any replica that is not running."""
        ident = identity(ctx, recorded.address.name, recorded.id)
        podman = podman_for(ctx)
        names = [c.name for c in podman.container_list({LABEL_SERVICE: ident.id},
                                                       stopped=False) if ident.owns(c.labels)]
        if names:
            ctx.log("stopping " + ", ".join(names))
            podman.call(["stop", "--time", str(STOP_SECONDS), *names],
                        f"stop of the replicas of {recorded.address}",
                        timeout=STOP_SECONDS + 60)
        return bool(names)

    def _converge(self, ctx: DriverContext, ident: Identity, inputs: Mapping[str, Any],
                  history: list[Any]) -> Applied:
        spec = ServiceSpec.model_validate(dict(inputs))
        revision = revision_of(spec)
        podman = podman_for(ctx)
        table = _table(ctx)
        fresh = not history and table.service(ident.id) is None
        with ThreadPoolExecutor(max_workers=2) as pool:  # podman calls side by side
            listed = pool.submit(list_replicas, podman, ident)
            if not fresh:
                pool.submit(preflight, podman, spec).result()
            delivery = deliver(ctx, ident, revision, spec.secrets)
            rollout = Rollout(podman, ident, spec, revision, table, ctx.log, delivery)
            try:
                serving = (_create(rollout, spec, listed) if fresh
                           else roll_out(ctx, rollout, listed.result()))
            finally:
                _forget_unused(ctx, podman, ident)
        if len(serving) < spec.replicas:
            raise PermanentError(f"only {len(serving)} of {spec.replicas} replicas serve")
        return Applied(id=ident.id, outputs={
            "endpoints": _endpoints(spec, serving), "revision": revision,
            "replicas": len(serving), "revisions": _history(history, spec, revision)})


def _create(rollout: Rollout, spec: ServiceSpec, listed: Future[list[Replica]]
            ) -> list[Replica]:
    """A service with no record and no route entry: its replicas start at once, while podman
    is asked beside them whether containers of the service survived a lost record. Those
    are adopted if they hold a replica's name (the start stops at the name, and the service
    converges with them as an update does), or removed once the new replicas serve. The
    image and networks are checked only when a start failed, to say what is missing."""
    try:
        serving = rollout.run([])
    except NameInUseError:
        rollout.log("containers of this service exist already: converging with them")
        return rollout.run(list_replicas(rollout.podman, rollout.ident))
    except Exception:
        preflight(rollout.podman, spec)  # a missing image or network, said plainly
        raise
    mine = {r.name for r in serving}
    left = [r for r in listed.result() if r.name not in mine]
    if left:
        rollout.log("removing containers left by a lost record: "
                    + ", ".join(r.name for r in left))
        rollout.discard(left)
    return serving


def reconcile_service(ctx: DriverContext, name: str, inputs: Mapping[str, Any],
                      history: Sequence[Any] = ()) -> Applied:
    """Bring service ``name`` to ``inputs`` now: what ``apply`` does, for a controller that
    repairs continuously (the decision itself is :func:`stackwright.services.rollout.reconcile`)."""
    return LocalServiceDriver()._converge(ctx, identity(ctx, name), inputs, list(history))


def _forget_unused(ctx: DriverContext, podman: Podman, ident: Identity) -> None:
    """Remove the secret files of revisions no container runs any more."""
    if (tmpfs_root(ctx) / ident.id).is_dir():
        forget(ctx, ident, keep=sorted({r.revision for r in list_replicas(podman, ident)}))


def _table(ctx: DriverContext) -> RouteTable:
    return RouteTable.at(Path(ctx.project_dir), ctx.environment)


def _endpoints(spec: ServiceSpec, replicas: Sequence[Replica]) -> list[str]:
    if not spec.ports:
        return []
    port = spec.ports[0]
    ordered = sorted(replicas, key=lambda r: r.index)
    return [f"127.0.0.1:{r.ports[port]}" for r in ordered if port in r.ports]


def _history(history: list[Any], spec: ServiceSpec, revision: str) -> list[dict[str, Any]]:
    entries = [dict(h) for h in history if isinstance(h, Mapping)]
    if entries and entries[-1].get("revision") == revision:
        return entries[-REVISIONS_KEPT:]
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    entries.append({"revision": revision, "image": spec.image, "config": config_hash(spec),
                    "at": now, "by": actor()})
    return entries[-REVISIONS_KEPT:]


SERVICE_KIND = ServiceKind()
