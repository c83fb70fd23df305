"""Which strategy rolls a service's new revision out: the one ``spec.deploy`` names.

``rolling`` — and any strategy when no other revision serves yet (a new service, or one
whose replicas are all gone: there is nothing to protect), or when the engine rolls a
service back because another change of the apply failed — is the services package's own
:meth:`Rollout.run`. ``canary`` and ``blueGreen`` run beside the revision that serves and
record themselves in the state database.
"""

from __future__ import annotations

from collections.abc import Sequence

from stackwright.core.engine import actor
from stackwright.core.kinds import DriverContext
from stackwright.delivery.bluegreen import BlueGreenRun
from stackwright.delivery.canary import CanaryRun
from stackwright.delivery.records import RolloutStore
from stackwright.delivery.run import of_revision
from stackwright.errors import PermanentError
from stackwright.services.replicas import Replica
from stackwright.services.rollout import Rollout


def serving_stable(rollout: Rollout, seen: Sequence[Replica]) -> list[Replica]:
    """Running replicas of other revisions that the route table has in HAProxy (adopted by
    the rollout, so the route entries it writes keep them)."""
    return [r for r in rollout.adopt(seen) if r.revision != rollout.revision]


def roll_out(ctx: DriverContext, rollout: Rollout, seen: Sequence[Replica]) -> list[Replica]:
    """Converge the service by its strategy; the replicas serving at the end."""
    deploy = rollout.spec.deploy
    progressive = deploy.strategy != "rolling" and not ctx.rollback  # a rollback is quick
    stable = serving_stable(rollout, seen) if progressive else []
    if not stable:
        return rollout.run(seen)
    if not ctx.state_url:
        raise PermanentError(f"a {deploy.strategy} rollout needs the state database",
                             hint="run it through stackwright apply")
    leftovers = of_revision(seen, rollout.revision)
    if leftovers:  # of an earlier, interrupted rollout of this revision
        rollout.log("removing replicas left by an earlier rollout: "
                    + ", ".join(r.name for r in leftovers))
        rollout.retire(leftovers, drain=False)
    store = RolloutStore(ctx.state_url)
    try:
        if deploy.strategy == "canary":
            assert deploy.canary is not None
            return CanaryRun(ctx, rollout, store, actor(), canary=deploy.canary).run(
                stable, seen)
        return BlueGreenRun(ctx, rollout, store, actor(), blue_green=deploy.blue_green()).run(
            stable, seen)
    finally:
        store.close()
