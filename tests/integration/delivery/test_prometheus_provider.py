"""The prometheus metric provider against a real Prometheus (scraping itself) started on a
free 127.0.0.1 port."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from stackwright.delivery.analysis import judge
from stackwright.delivery.providers import PrometheusProvider, Subject
from stackwright.delivery.spec import MetricSpec
from stackwright.ports import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("prometheus is needed")
    work = tmp_path_factory.mktemp("prom")
    port = free_port()
    (work / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s}\n"
        "scrape_configs: [{job_name: web, static_configs: "
        f"[{{targets: ['127.0.0.1:{port}']}}]}}]\n")
    proc = subprocess.Popen(
        [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work}/data",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=open(work / "log", "w"))  # noqa: SIM115
    address = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(address, proc, work / "log")
        yield address
    finally:
        proc.terminate()
        proc.wait(30)


def _wait_ready(address: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            with urllib.request.urlopen(f"{address}/-/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError("prometheus never became ready")


def provider(address: str, query: str) -> PrometheusProvider:
    metric = MetricSpec(name="up", provider="prometheus", query=query, address=address,
                        successCondition="result == 1")
    subject = Subject("web", "sw-p-dev-web", "dev", "abc123", lambda: [])
    return PrometheusProvider(metric, subject)


def test_a_templated_query_reads_the_first_sample(prometheus: str) -> None:
    p = provider(prometheus, 'up{job="{{service}}"}')
    assert p.query == 'up{job="web"}'
    deadline = time.monotonic() + 60
    reading = p.measure()
    while reading.value is None and time.monotonic() < deadline:  # until the first scrape
        time.sleep(0.5)
        reading = p.measure()
    assert reading.value == 1.0, reading.detail
    assert judge(p_metric(prometheus), reading) == "Successful"


def test_no_data_is_inconclusive_not_a_pass(prometheus: str) -> None:
    reading = provider(prometheus, 'up{job="{{revision}}"}').measure()
    assert reading.value is None and 'no data for up{job="abc123"}' in reading.detail
    assert judge(p_metric(prometheus), reading) == "Inconclusive"


def test_an_unreachable_prometheus_is_inconclusive() -> None:
    reading = provider(f"http://127.0.0.1:{free_port()}", "up").measure()
    assert reading.value is None and "did not answer" in reading.detail


def p_metric(address: str) -> MetricSpec:
    return MetricSpec(name="up", provider="prometheus", query="up", address=address,
                      successCondition="result == 1")
