"""Rolling updates and repairs of a service's replicas.

:func:`reconcile` is pure: from the desired revision and count and the replicas seen, it says
what to start, what to remove at once and which old replicas to roll. :class:`Rollout` does
it with podman and HAProxy, never letting serving capacity drop below
``replicas - maxUnavailable``: new replicas are started (at most ``maxSurge`` above the
count), checked healthy from the host, added to every backend and seen UP there; only then
are old ones drained (no new sessions, current ones finish), deleted from HAProxy, stopped
and removed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from stackwright.errors import PermanentError, RolledBack
from stackwright.services import health
from stackwright.services.identity import Identity
from stackwright.services.replicas import Replica, logs_tail, remove, start_replica
from stackwright.services.routes import HealthEntry, RouteTable, ServerEntry, ServiceEntry
from stackwright.services.secretrefs import Delivery
from stackwright.services.spec import ServiceSpec, seconds
from stackwright.services.traffic import ServiceTraffic, Target
from stackwright.tools.podman import Podman

STATE_CHECK_EVERY = 0.5  # seconds between asking podman whether a starting replica still runs


@dataclass(frozen=True)
class ReplicaFact:
    name: str
    revision: str
    index: int
    healthy: bool


@dataclass(frozen=True)
class Reconcile:
    """What brings the replicas to ``replicas`` healthy ones of ``revision``."""

    start: tuple[int, ...]  # indexes of new replicas of the desired revision
    remove_now: tuple[str, ...]  # broken replicas: not running or unhealthy
    scale_down: tuple[str, ...]  # healthy replicas of the revision beyond the count
    roll: tuple[str, ...]  # replicas of other revisions, replaced by rolling
    healthy: int  # healthy replicas of the desired revision kept

    @property
    def converged(self) -> bool:
        return not (self.start or self.remove_now or self.scale_down or self.roll)


def reconcile(revision: str, replicas: int, seen: Sequence[ReplicaFact]) -> Reconcile:
    current = sorted((f for f in seen if f.revision == revision), key=lambda f: f.index)
    good = [f for f in current if f.healthy]
    keep, extra = good[:replicas], good[replicas:]
    used = {f.index for f in keep}
    free = (i for i in range(1, replicas + len(current) + 2) if i not in used)
    start = tuple(next(free) for _ in range(replicas - len(keep)))
    old = tuple(f.name for f in seen if f.revision != revision)
    broken = tuple(f.name for f in current if not f.healthy)
    return Reconcile(start, broken, tuple(f.name for f in extra), old, len(keep))


def surge_batch(desired: int, new: int, old: int, max_surge: int) -> int:
    """How many new replicas may start now."""
    return max(0, min(desired - new, desired + max_surge - new - old))


def removable(desired: int, new: int, old: int, max_unavailable: int) -> int:
    """How many old replicas may go now (``new`` counts only healthy, serving ones)."""
    return max(0, min(old, new + old - (desired - max_unavailable)))


class RolloutFailed(PermanentError):
    """A new replica never became healthy; the old revision keeps serving."""


class RolloutUndone(RolloutFailed, RolledBack):
    """A rolling update failed before it retired any replica or published any new one: the
    service serves exactly what its record says, so the engine keeps that record (READY,
    the previous spec) rather than marking the update interrupted."""


class Rollout:
    """Brings one service to its spec with podman and HAProxy (see the module docstring)."""

    def __init__(self, podman: Podman, ident: Identity, spec: ServiceSpec, revision: str,
                 table: RouteTable, log: Callable[[str], None] = lambda line: None,
                 delivery: Delivery | None = None) -> None:
        self.podman, self.ident, self.spec, self.revision = podman, ident, spec, revision
        self.table, self.log = table, log
        self.delivery = delivery or Delivery()
        self.traffic = ServiceTraffic(table, ident.id, checked=spec.healthCheck is not None,
                                      log=log)
        self.serving: dict[str, Replica] = {}  # what the route table lists, by name
        self.weights: dict[str, int] = {}  # server name -> weight in HAProxy
        self.changed = False  # a replica was retired, or one published, by this rollout

    # observing

    def probe(self, replica: Replica) -> health.HealthResult:
        port = self.spec.health_port()
        host_port = replica.ports.get(port) if port is not None else None
        return health.check(self.podman, self.spec.healthCheck, replica.name, host_port,
                            replica.running)

    def healthy(self, replica: Replica, attempts: int = 1) -> bool:
        for i in range(attempts):
            if self.probe(replica).ok:
                return True
            if i + 1 < attempts:
                time.sleep(0.2)
        return False

    # the whole run

    def run(self, seen: Sequence[Replica]) -> list[Replica]:
        """Converge; returns the replicas serving at the end (all of ``self.revision``)."""
        entry = self.table.service(self.ident.id)
        listed = {s.container: s for s in entry.servers} if entry else {}
        self.serving = {r.name: r for r in seen if r.name in listed and r.running}
        self.weights = {s.name: s.weight for s in listed.values()}
        by_name = {r.name: r for r in seen}
        self._retire(vanished(listed, by_name), drain=False)
        facts = [ReplicaFact(r.name, r.revision, r.index,
                             r.revision == self.revision and self.healthy(r, 2)) for r in seen]
        plan = reconcile(self.revision, self.spec.replicas, facts)
        self._retire([by_name[n] for n in plan.remove_now], drain=False)
        new = [by_name[f.name] for f in facts if f.revision == self.revision and f.healthy]
        new = [r for r in new if r.name not in plan.scale_down]
        self._publish([r for r in new if r.name not in self.serving])
        old = [by_name[n] for n in plan.roll]
        new = self._roll(new, old, list(plan.start))
        self._retire([by_name[n] for n in plan.scale_down], drain=True)
        return sorted(new, key=lambda r: r.index)

    def adopt(self, seen: Sequence[Replica]) -> list[Replica]:
        """Take the running replicas the route table lists as this rollout's serving ones
        (what :meth:`run` does first; a strategy that works beside them calls it)."""
        entry = self.table.service(self.ident.id)
        listed = {s.container for s in entry.servers} if entry else set()
        self.serving = {r.name: r for r in seen if r.name in listed and r.running}
        self.weights = {s.name: s.weight for s in entry.servers} if entry else {}
        return list(self.serving.values())

    def start_weighted(self, indexes: Sequence[int], weight: int) -> list[Replica]:
        """Start replicas of the revision, healthy, in HAProxy at ``weight`` (a canary at 0
        gets no request until its weight is set)."""
        return self._start_healthy(indexes, weight)

    def retire(self, replicas: Sequence[Replica], *, drain: bool = True) -> None:
        """Out of HAProxy (drained first), stopped and removed."""
        self._retire(replicas, drain=drain)

    def discard(self, replicas: Sequence[Replica]) -> None:
        """Remove replicas this rollout does not serve (out of HAProxy, then gone)."""
        self._retire([r for r in replicas if r.name not in self.serving], drain=False)

    def _roll(self, new: list[Replica], old: list[Replica], indexes: list[int]) -> list[Replica]:
        desired, r = self.spec.replicas, self.spec.rollout
        dead = [o for o in old if not o.running]
        self._retire(dead, drain=False)
        old = [o for o in old if o.running]
        while indexes or old:
            count = surge_batch(desired, len(new), len(old), r.maxSurge) if indexes else 0
            batch, indexes = indexes[:count], indexes[count:]
            if batch:
                untouched = not self.changed
                try:
                    new += self._start_healthy(batch)
                except RolloutFailed as exc:
                    if untouched:  # what served before serves, as the record says
                        raise RolloutUndone(exc.message, hint=exc.hint) from exc
                    raise
            gone = removable(desired, len(new), len(old), r.maxUnavailable)
            if not batch and not gone:
                raise PermanentError("the rollout cannot make progress",
                                     hint="raise rollout.maxSurge or rollout.maxUnavailable")
            self._retire(old[:gone], drain=True)
            old = old[gone:]
        return new

    # steps

    def _start_healthy(self, indexes: Sequence[int], weight: int = 100) -> list[Replica]:
        started: list[Replica] = []
        try:
            self._start_checked(indexes, started)
            self._publish(started, weight)
        except BaseException:
            self._retire(started, drain=False)
            raise
        return started

    def _start_checked(self, indexes: Sequence[int], started: list[Replica]) -> None:
        """Start the replicas in parallel (podman run takes ~0.5 s each), each checked for
        health as soon as it runs; every one that started is in ``started`` even when another
        failed, so the caller removes it."""
        timeout = seconds(self.spec.rollout.healthTimeout)

        def one(i: int) -> tuple[Replica, health.HealthResult]:
            self.log(f"starting replica {i} of revision {self.revision}")
            replica = start_replica(self.podman, self.ident, self.spec, self.revision, i,
                                    self.delivery)
            started.append(replica)
            return replica, self._wait_one(replica, timeout)

        with ThreadPoolExecutor(max_workers=max(1, min(len(indexes), 8))) as pool:
            futures = [pool.submit(one, i) for i in indexes]
        started.sort(key=lambda r: r.index)
        errors = [f.exception() for f in futures if f.exception() is not None]
        if errors:
            raise errors[0]  # type: ignore[misc]
        failed = [(r, res) for r, res in (f.result() for f in futures) if not res.ok]
        if failed:
            replica, res = min(failed, key=lambda pair: pair[0].index)
            raise RolloutFailed(
                f"replica {replica.name} of revision {self.revision} was not healthy within "
                f"{self.spec.rollout.healthTimeout}: {res.detail}\n"
                f"last log lines of {replica.name}:\n{logs_tail(self.podman, replica.name)}",
                hint="the new replicas were removed; the previous revision keeps serving")

    def _wait_one(self, replica: Replica, timeout: float) -> health.HealthResult:
        hc = self.spec.healthCheck
        interval = min(seconds(hc.interval), 1.0) if hc else 0.2
        deadline = time.monotonic() + timeout
        looked = time.monotonic()
        while True:
            res = self.probe(replica)
            if res.ok or time.monotonic() > deadline:
                return res
            # Whether the container still runs costs a podman process: ask at most twice a
            # second, not after every failed check (a replica starting fails its first few).
            if time.monotonic() - looked >= STATE_CHECK_EVERY:
                looked = time.monotonic()
                if self._exited(replica):
                    return health.HealthResult(False, f"{res.detail}; the container exited")
            time.sleep(min(interval, 0.25))

    def _exited(self, replica: Replica) -> bool:
        """Whether podman says the replica's container stopped or is gone; an inspect that
        failed for another reason (podman busy under load) is no answer, and the wait goes
        on until the health timeout."""
        done = self.podman.probe(["container", "inspect", "--format", "{{.State.Running}}",
                                  replica.name])
        if done.returncode == 0:
            return done.stdout.strip() == "false"
        return "no such container" in done.stderr.lower()

    def _publish(self, replicas: Sequence[Replica], weight: int = 100) -> None:
        """Add to every backend and the route table, then wait until HAProxy sees them UP."""
        if not replicas:
            return
        self.changed = True
        with self.table.locked():
            targets = self.traffic.targets()
            self.traffic.add(targets, replicas, weight)
            self.serving.update({r.name: r for r in replicas})
            self.weights.update({r.server: weight for r in replicas})
            self._write_entry()
        problem = self.traffic.wait_up(targets, replicas,
                                       seconds(self.spec.rollout.healthTimeout))
        if problem is not None:
            raise RolloutFailed(f"haproxy never saw the new replicas UP: {problem}",
                                hint="check the load balancer's health check and the ports")

    def _retire(self, replicas: Sequence[Replica], *, drain: bool) -> None:
        """Take out of HAProxy (draining first when asked), then stop and remove."""
        if not replicas:
            return
        self.changed = True
        with self.table.locked():
            targets = self.traffic.targets()
            for r in replicas:
                self.serving.pop(r.name, None)
            self._write_entry()
            if drain:
                self.traffic.drain(targets, replicas)
        if drain:
            self.log("draining " + ", ".join(r.name for r in replicas))
            self.traffic.wait_drained(targets, replicas,
                                      seconds(self.spec.rollout.drainTimeout))
        with self.table.locked():
            self.traffic.delete(self.traffic.targets(), replicas)
        for r in replicas:
            remove(self.podman, r.name)

    def set_weights(self, weights: Mapping[str, int]) -> None:
        """Server name -> weight in every backend (one runtime-API call per load balancer)
        and in the route table, so a load balancer started or reloaded meanwhile renders
        them."""
        with self.table.locked():
            self.traffic.set_weights(self.traffic.targets(), weights)
            self.weights.update(weights)
            self._write_entry()

    def _write_entry(self) -> None:
        self.table.write_service(service_entry(self.ident.id, self.spec, self.revision,
                                               list(self.serving.values()), self.weights))


def vanished(listed: Mapping[str, ServerEntry], seen: Mapping[str, Replica]) -> list[Replica]:
    """Replicas the route table lists whose containers are gone (removed behind our back)."""
    out = []
    for name, server in listed.items():
        if name not in seen:
            revision, _, index = server.name.rpartition("-")
            out.append(Replica(name, revision, int(index or 0), False, dict(server.ports)))
    return out


def service_entry(service: str, spec: ServiceSpec, revision: str,
                  serving: Sequence[Replica], weights: Mapping[str, int] | None = None
                  ) -> ServiceEntry:
    hc = spec.healthCheck
    kind = hc.kind if hc else "none"
    entry_health = HealthEntry(kind, hc.http if hc else None, spec.health_port())
    weights = weights or {}
    servers = tuple(ServerEntry(r.server, r.name, dict(r.ports), weights.get(r.server, 100))
                    for r in sorted(serving, key=lambda r: (r.revision, r.index)))
    return ServiceEntry(service, revision, entry_health, servers)


def remove_all(podman: Podman, table: RouteTable, service: str, replicas: Sequence[Replica],
               log: Callable[[str], None]) -> None:
    """Destroy: out of every HAProxy, containers removed, the route entry gone."""
    traffic = ServiceTraffic(table, service, log=log)
    with table.locked():
        targets: list[Target] = traffic.targets()
        traffic.delete(targets, replicas)
        table.remove_service(service)
    for r in replicas:
        remove(podman, r.name)
