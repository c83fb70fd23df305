"""Pure logic of services: specs, revisions, reconcile and rollout arithmetic, the route
table, and the HAProxy config a load balancer renders."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stackwright.services.loadbalancer import LOADBALANCER_KIND, haproxy_config, render
from stackwright.services.rollout import ReplicaFact, reconcile, removable, surge_batch
from stackwright.services.routes import (
    HealthEntry,
    LbEntry,
    RouteTable,
    ServerEntry,
    ServiceEntry,
    service_from_json,
)
from stackwright.services.service import SERVICE_KIND, _history
from stackwright.services.spec import LoadBalancerSpec, ServiceSpec, revision_of, seconds

BASE = {"image": "localhost/app:1", "ports": [8080], "healthCheck": {"http": "/healthz"}}


def spec(**changes: object) -> ServiceSpec:
    return ServiceSpec.model_validate({**BASE, **changes})


def test_revision_ignores_replicas_restart_and_rollout() -> None:
    same = spec(replicas=5, restart="always", rollout={"maxSurge": 2})
    assert revision_of(same) == revision_of(spec())


@pytest.mark.parametrize("field,value", [
    ("image", "localhost/app:2"), ("env", {"A": "1"}), ("command", ["httpd"]),
    ("ports", [8080, 9090]), ("resources", {"memory": "64m"}), ("networks", ["n"]),
    ("volumes", {"data": "/data"}), ("healthCheck", {"tcp": True}),
])
def test_revision_changes_with_container_fields(field: str, value: object) -> None:
    assert revision_of(spec(**{field: value})) != revision_of(spec())


@pytest.mark.parametrize("bad,message", [
    ({"healthCheck": {"http": "/h", "tcp": True}}, "exactly one"),
    ({"healthCheck": {"http": "/h", "port": 9}}, "must be one of ports"),
    ({"rollout": {"maxSurge": 0, "maxUnavailable": 0}}, "cannot both be 0"),
    ({"ports": [8080, 8080]}, "distinct"),
    ({"rollout": {"healthTimeout": "soon"}}, "not a duration"),
    ({"replica": 2}, "Extra inputs"),
])
def test_bad_service_specs_are_refused(bad: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        spec(**bad)


def test_seconds() -> None:
    assert [seconds(t) for t in ("500ms", "2s", "1m", "3")] == [0.5, 2.0, 60.0, 3.0]


def test_replicas_is_always_recorded() -> None:
    assert SERVICE_KIND.normalize(spec())["replicas"] == 1
    assert "rollout" not in SERVICE_KIND.normalize(spec())


def facts(*items: tuple[str, int, bool]) -> list[ReplicaFact]:
    return [ReplicaFact(f"c-{rev}-{i}", rev, i, ok) for rev, i, ok in items]


def test_reconcile_scales_and_repairs() -> None:
    up = reconcile("r1", 3, facts(("r1", 1, True), ("r1", 2, False)))
    assert (up.start, up.remove_now, up.roll, up.healthy) == ((2, 3), ("c-r1-2",), (), 1)
    down = reconcile("r1", 1, facts(("r1", 1, True), ("r1", 2, True), ("r1", 3, True)))
    assert (down.start, down.scale_down) == ((), ("c-r1-2", "c-r1-3"))
    roll = reconcile("r2", 2, facts(("r1", 1, True), ("r1", 2, True)))
    assert (roll.start, roll.roll) == ((1, 2), ("c-r1-1", "c-r1-2"))
    assert reconcile("r1", 1, facts(("r1", 1, True))).converged


def simulate(desired: int, old: int, surge: int, unavailable: int) -> int:
    """Run the rollout arithmetic; returns the lowest serving count seen."""
    new, lowest = 0, old
    for _ in range(4 * (desired + old) + 4):
        if new == desired and old == 0:
            return lowest
        start = surge_batch(desired, new, old, surge)
        assert new + old + start <= max(desired, old) + surge
        new += start
        gone = removable(desired, new, old, unavailable)
        assert start or gone, "no progress"
        old -= gone
        lowest = min(lowest, new + old)
    raise AssertionError("did not converge")


@given(st.integers(1, 8), st.integers(0, 8), st.integers(0, 3), st.integers(0, 3))
def test_rollout_arithmetic_converges_within_budget(
    desired: int, old: int, surge: int, unavailable: int
) -> None:
    if surge == 0 and unavailable == 0:
        return
    lowest = simulate(desired, old, surge, unavailable)
    assert lowest >= min(old, desired - unavailable)


def test_history_appends_only_new_revisions() -> None:
    first = _history([], spec(), revision_of(spec()))
    assert _history(first, spec(), revision_of(spec())) == first
    second = _history(first, spec(image="x:2"), revision_of(spec(image="x:2")))
    assert [h["image"] for h in second] == ["localhost/app:1", "x:2"]
    assert all("@" in h["by"] and h["at"] and h["config"] for h in second)


def test_route_table_round_trip(tmp_path: Path) -> None:
    table = RouteTable(tmp_path / "routes")
    entry = ServiceEntry("sw-p-dev-web", "abc", HealthEntry("http", "/healthz", 8080),
                         (ServerEntry("abc-1", "sw-p-dev-web-abc-1", {8080: 41000}),))
    with table.locked():
        table.write_service(entry)
        table.write_lb(LbEntry("edge", "/run/x.sock"))
    assert table.service("sw-p-dev-web") == entry
    assert [lb.name for lb in table.lbs()] == ["edge"]
    table.remove_service("sw-p-dev-web")
    assert table.service("sw-p-dev-web") is None


def test_load_balancer_config_uses_the_route_table(tmp_path: Path) -> None:
    table = RouteTable(tmp_path)
    table.write_service(ServiceEntry("svc-a", "r", HealthEntry("http", "/healthz", 8080),
                                     (ServerEntry("r-1", "c1", {8080: 41001}),)))
    lb = LoadBalancerSpec.model_validate({
        "http": {"port": 8000, "routes": [{"host": "a.local", "service": "svc-a", "port": 8080},
                                          {"pathPrefix": "/b", "service": "svc-b",
                                           "port": 80}]},
        "tcp": [{"port": 6000, "service": "svc-a", "servicePort": 8080}],
        "metricsPort": 9101})
    text = render(haproxy_config(lb, tmp_path / "stats.sock", table))
    assert "server r-1 127.0.0.1:41001" in text
    assert "option httpchk GET /healthz" in text
    assert "backend svc-b_80" in text and "use_backend svc-b_80 if route1_path" in text
    assert "backend svc-a_8080_tcp\n    mode tcp" in text
    assert "option redispatch" in text and "bind 127.0.0.1:9101" in text
    assert LOADBALANCER_KIND.predict_outputs(lb.model_dump())["tcp"] == ["127.0.0.1:6000"]


def test_load_balancer_refuses_a_port_used_twice() -> None:
    with pytest.raises(ValidationError, match=r"\[8000\] used twice"):
        LoadBalancerSpec.model_validate({
            "http": {"port": 8000, "routes": [{"service": "s", "port": 1}]},
            "metricsPort": 8000})


@pytest.mark.parametrize("kind", [SERVICE_KIND, LOADBALANCER_KIND], ids=lambda k: k.name)
def test_documented_example_validates(kind: object) -> None:
    import re

    import yaml

    from stackwright.core.kinds import Kind

    assert isinstance(kind, Kind)
    example = re.search(r"```yaml\n(.*?)```", kind.describe(), re.S)
    assert example is not None
    text = re.sub(r"\$\{\{[^}]*\}\}", "placeholder", example.group(1))
    doc = yaml.safe_load(text)
    assert doc["kind"] == kind.name
    kind.spec_model.model_validate(doc["spec"])
    assert kind.all_outputs()[0] == "id"


def test_socket_dir_is_the_state_dir_or_a_short_link_to_it(tmp_path: Path) -> None:
    from stackwright.ports import socket_dir

    short = tmp_path / "lb"
    assert socket_dir(short) == short
    deep = tmp_path.joinpath(*["a-rather-long-directory-name"] * 4, "lb")
    link = socket_dir(deep)
    assert link != deep and len(str(link / "master.sock")) <= 100
    assert link.resolve() == deep.resolve() and deep.is_dir()
    assert socket_dir(deep) == link, "the same link is reused"
    link.unlink()


def test_a_canary_weight_survives_a_load_balancer_reload(tmp_path: Path) -> None:
    """Weights set during a canary are in the route table, so a config rendered meanwhile
    (an LB started or reloaded) keeps them; a table written before weights reads 100."""
    table = RouteTable(tmp_path)
    table.write_service(ServiceEntry("svc-a", "new", HealthEntry("http", "/healthz", 8080), (
        ServerEntry("new-1", "c1", {8080: 41001}, weight=2),
        ServerEntry("old-1", "c2", {8080: 41002}, weight=9))))
    lb = LoadBalancerSpec.model_validate({
        "http": {"port": 8000, "routes": [{"service": "svc-a", "port": 8080}]}})
    text = render(haproxy_config(lb, tmp_path / "stats.sock", table))
    assert "server new-1 127.0.0.1:41001 weight 2" in text
    assert "server old-1 127.0.0.1:41002 weight 9" in text
    assert service_from_json({"service": "s", "servers": [
        {"name": "a-1", "container": "c", "ports": {}}]}).servers[0].weight == 100


class _InspectOnly:
    """A podman whose ``container inspect`` answers as given."""

    def __init__(self, code: int, out: str, err: str = "") -> None:
        self.answer = (code, out, err)

    def probe(self, args: list[str], timeout: float | None = None) -> object:
        from stackwright.tools._proc import Completed
        code, out, err = self.answer
        return Completed(tuple(args), code, out, err)


@pytest.mark.parametrize("code,out,err,exited", [
    (0, "true\n", "", False),
    (0, "false\n", "", True),
    (125, "", "Error: no such container sw-x", True),
    (125, "", "Error: acquiring lock 3 for container: timed out", False),  # busy: no answer
])
def test_a_replica_counts_as_exited_only_when_podman_says_so(
        tmp_path: Path, code: int, out: str, err: str, exited: bool) -> None:
    from stackwright.services.identity import Identity
    from stackwright.services.replicas import Replica
    from stackwright.services.rollout import Rollout

    podman = _InspectOnly(code, out, err)
    rollout = Rollout(podman, Identity("p", "dev", "web"),  # type: ignore[arg-type]
                      spec(), "r1", RouteTable(tmp_path / "routes"))
    assert rollout._exited(Replica("sw-x", "r1", 0, True, {8080: 1})) is exited
