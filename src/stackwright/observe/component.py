"""Prometheus, Alertmanager and node_exporter as platform components of the daemon.

Each starts in the background (``up`` does not wait for it) on 127.0.0.1 and a free port,
with its data under ``.stackwright/observe/<env>/``, and then keeps its configuration in
step with the spec and what runs: a new or changed config is checked (``promtool check
config``, ``amtool check-config``) and loaded with an HTTP reload, never a restart; one that
fails its check is reported in ``status`` and the running config stays. Prometheus' scrape
targets are files that Prometheus watches (see :mod:`stackwright.observe.discovery`).
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stackwright.observe import alertmanager_config as amc
from stackwright.observe import prometheus_config as pc
from stackwright.observe.alerting import read_channels
from stackwright.observe.discovery import (
    MetricsProbe,
    observe_replicas,
    service_targets,
    static_targets,
    write_targets,
)
from stackwright.observe.paths import ObservePaths
from stackwright.observe.settings import ObserveSettings, observe_settings
from stackwright.ports import free_port
from stackwright.tools import prometheus as prom
from stackwright.tools._proc import ToolError

if TYPE_CHECKING:
    from stackwright.server.app import PlatformContext

_START_TIMEOUT = 120.0


class ManagedServer:
    """A server process kept running by the daemon, with a refresh loop beside it."""

    name = "server"

    def __init__(self, ctx: PlatformContext, settings: ObserveSettings) -> None:
        self.ctx = ctx
        self.settings = settings
        self.paths = ObservePaths.of(ctx.engine.root, ctx.engine.environment)
        self.port = free_port()
        self.server: prom.ServerProcess | None = None
        self.state = "starting"
        self.error: str | None = None
        self.reloads = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.ready = threading.Event()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"observe-{self.name}",
                                        daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.server = self.launch()
            self.server.start(timeout=_START_TIMEOUT, cancel=self._stop)
            if self._stop.is_set():
                return
            self.state = "running"
        except Exception as exc:  # reported in status; the daemon goes on
            self.state, self.error = "failed", str(exc)
            self._log("component.failed", level="error", error=str(exc))
            return
        finally:
            self.ready.set()
        while not self._stop.wait(self.interval()):
            try:
                self.refresh()
            except Exception as exc:  # a refresh that failed is tried again next time
                if str(exc) != self.error:
                    self._log("observe.refresh_failed", level="warning", error=str(exc))
                self.error = str(exc)

    def launch(self) -> prom.ServerProcess:
        raise NotImplementedError

    def refresh(self) -> None:
        """Bring the config in step; the default has nothing to follow."""

    def interval(self) -> float:
        return max(0.5, min(5.0, self.settings.scrape_seconds / 2))

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)  # a start in progress gives up at once
        if self.server is not None:
            self.server.stop()
        self.state = "stopped"

    def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"state": self.state, "url": f"http://{self.address}",
                               "reloads": self.reloads}
        if self.server is not None and self.state == "running" and not self.server.running():
            doc["state"] = "exited"
        if self.error:
            doc["error"] = self.error
        return doc

    def _log(self, event: str, **fields: Any) -> None:
        if self.ctx.log is not None:
            self.ctx.log(event, component=self.name, **fields)

    def _write_if_changed(self, path: Path, text: str) -> bool:
        try:
            if path.read_text() == text:
                return False
        except FileNotFoundError:
            pass
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return True


class AlertmanagerComponent(ManagedServer):
    """The Alertmanager; its config is made from the NotificationChannel files."""

    name = "alertmanager"

    @property
    def config_path(self) -> Path:
        return self.paths.alertmanager / "alertmanager.yml"

    def render(self) -> str:
        config = amc.alertmanager_config(read_channels(self.paths), self.ctx.api,
                                         self.settings.alertmanager)
        return amc.render(config)

    def launch(self) -> prom.ServerProcess:
        self._apply_config(self.render(), reload=False)
        return prom.alertmanager_server(self.config_path, self.paths.alertmanager / "data",
                                        self.port, self.paths.alertmanager / "log.txt")

    def refresh(self) -> None:
        text = self.render()
        if self.config_path.exists() and self.config_path.read_text() == text:
            return
        self._apply_config(text, reload=True)

    def _apply_config(self, text: str, *, reload: bool) -> None:
        candidate = self.config_path.with_name("alertmanager.yml.new")
        candidate.parent.mkdir(parents=True, exist_ok=True)
        candidate.write_text(text)
        candidate.chmod(0o600)  # receivers may hold webhook tokens or SMTP passwords
        checked = prom.check_alertmanager_config(candidate)
        if not checked.ok:
            raise ToolError("amtool rejected the Alertmanager config; the last good "
                                 "one stays", stderr=checked.output, hint=checked.output[-600:])
        candidate.replace(self.config_path)
        if reload and self.server is not None:
            self.server.reload()
            self.reloads += 1
            self.error = None
            self._log("observe.reloaded")


class NodeExporterComponent(ManagedServer):
    name = "node_exporter"

    def launch(self) -> prom.ServerProcess:
        return prom.node_exporter_server(self.port, self.paths.root / "node_exporter.log")


class PrometheusComponent(ManagedServer):
    """The Prometheus: rule files from the spec, targets from what runs."""

    name = "prometheus"

    def __init__(self, ctx: PlatformContext, settings: ObserveSettings) -> None:
        super().__init__(ctx, settings)
        self.probe = MetricsProbe()
        self._rules_digest = ""

    @property
    def config_path(self) -> Path:
        return self.paths.prometheus / "prometheus.yml"

    def endpoints(self) -> pc.Endpoints:
        def address(name: str) -> str | None:
            other = self.ctx.components.get(name)
            return getattr(other, "address", None)

        daemon = self.ctx.api.split("://", 1)[-1] if self.ctx.api else None
        return pc.Endpoints(self.address, address("alertmanager"), address("node_exporter"),
                            daemon)

    def launch(self) -> prom.ServerProcess:
        engine = self.ctx.engine
        self.paths.rules.mkdir(parents=True, exist_ok=True)
        self.discover()
        config = pc.prometheus_config(engine.name, engine.environment, self.paths,
                                      self.settings, self.endpoints())
        self._write_if_changed(self.config_path, pc.render(config))
        checked = prom.check_config(self.config_path)
        if not checked.ok:
            raise ToolError("promtool rejected the Prometheus config",
                                 stderr=checked.output, hint=checked.output[-600:])
        self._rules_digest = self.rules_digest()
        return prom.prometheus_server(self.config_path, self.paths.prometheus / "data",
                                      self.port, self.paths.prometheus / "log.txt",
                                      retention=self.settings.retention)

    def refresh(self) -> None:
        self.discover()
        digest = self.rules_digest()
        if digest != self._rules_digest:
            checked = prom.check_config(self.config_path)
            if not checked.ok:
                raise ToolError("promtool rejected the rules; the last good ones stay",
                                     hint=checked.output[-600:])
            assert self.server is not None
            self.server.reload()
            self._rules_digest = digest
            self.reloads += 1
            self.error = None
            self._log("observe.reloaded", rules=len(list(self.paths.rules.glob("*.yaml"))))

    def rules_digest(self) -> str:
        h = hashlib.sha256()
        for path in sorted(self.paths.rules.glob("*.yaml")):
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return h.hexdigest()

    def discover(self) -> None:
        from stackwright.local import checkout_selector, podman_for

        engine = self.ctx.engine
        dctx = engine.driver_context()
        replicas = observe_replicas(podman_for(dctx), checkout_selector(dctx), self.probe)
        write_targets(self.paths.targets / "services.json",
                      service_targets(engine.environment, replicas))
        write_targets(self.paths.targets / "haproxy.json",
                      static_targets({"environment": engine.environment},
                                     self.haproxy_exporters()))

    def haproxy_exporters(self) -> list[str]:
        snapshot = self.ctx.engine.snapshot()
        urls = [r.outputs.get("metrics_url") for a, r in snapshot.resources.items()
                if a.kind == "LoadBalancer"]
        return [u.split("://", 1)[1].split("/", 1)[0] for u in urls if isinstance(u, str)]


def _settings(ctx: PlatformContext) -> ObserveSettings | None:
    settings = observe_settings(ctx.engine.config.settings)
    return settings if settings.enabled else None


def alertmanager_component(ctx: PlatformContext) -> AlertmanagerComponent | None:
    settings = _settings(ctx)
    return AlertmanagerComponent(ctx, settings) if settings else None


def node_exporter_component(ctx: PlatformContext) -> NodeExporterComponent | None:
    settings = _settings(ctx)
    return NodeExporterComponent(ctx, settings) if settings and settings.nodeExporter else None


def prometheus_component(ctx: PlatformContext) -> PrometheusComponent | None:
    settings = _settings(ctx)
    return PrometheusComponent(ctx, settings) if settings else None
