"""A volume a running service writes: its container is paused while the volume is read and
unpaused after (also when the backup fails); a drill checks a scratch copy of the service on
the restored volume by its health check, and fails, with the reason, when the restored data
does not make it healthy. Real restic, podman and a busybox httpd service."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
from pathlib import Path

import pytest
from tests.fixtures.podman_cleanup import object_name
from tests.integration.recover.conftest import RecoverProject, needs_podman, needs_restic

pytestmark = [pytest.mark.slow, needs_restic, needs_podman]

# The service creates its page only when it is the live one ($DRILL unset): a scratch copy
# serves what the restore brought back, or nothing.
SERVE = ('test -n "$DRILL" || test -f /www/index.html || echo live > /www/index.html; '
         "(while true; do date > /www/now; sleep 0.2; done) & exec httpd -f -p 8080 -h /www")
SPEC = """
apiVersion: stackwright.dev/v1
kind: BaseImage
metadata: {name: base}
spec: {busybox: {}}
---
apiVersion: stackwright.dev/v1
kind: Volume
metadata: {name: www}
spec: {deletionPolicy: Delete}
---
apiVersion: stackwright.dev/v1
kind: BackupRepository
metadata: {name: main}
spec: {path: backups/repo}
---
apiVersion: stackwright.dev/v1
kind: BackupRepository
metadata: {name: gone}
spec: {path: backups/gone}
---
apiVersion: stackwright.dev/v1
kind: BackupPolicy
metadata: {name: site}
spec: {repository: main, sources: {volumes: [www]}}
---
apiVersion: stackwright.dev/v1
kind: BackupPolicy
metadata: {name: broken}
spec: {repository: gone, sources: {volumes: [www]}, retries: 0}
---
apiVersion: stackwright.dev/v1
kind: RestoreDrill
metadata: {name: site-drill}
spec:
  policy: site
  checks:
    service: {name: web, env: {DRILL: "1"}, timeout: 20}
"""


# A reference is not resolved in a key of `volumes`: the service names the volume itself, in a
# second apply once the volume exists.
SERVICE = f"""
---
apiVersion: stackwright.dev/v1
kind: Service
metadata: {{name: web}}
spec:
  image: "${{{{ BaseImage.base.image }}}}"
  command: [sh, -c, '{SERVE}']
  ports: [8080]
  volumes: {{"@VOLUME@": /www}}
  healthCheck: {{http: /index.html, interval: 300ms}}
  rollout: {{healthTimeout: 60s}}
"""


def container_status(name: str) -> str:
    done = subprocess.run(["podman", "inspect", "--format", "{{.State.Status}}", name],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip()


def web_container(rp: RecoverProject) -> str:
    done = subprocess.run(["podman", "ps", "--filter",
                           f"label=dev.stackwright.project={rp.name}", "--filter",
                           "status=running", "--format", "{{.Names}}"],
                          capture_output=True, text=True, check=True)
    names = [n for n in done.stdout.split() if "-web-" in n]
    assert len(names) == 1, done.stdout
    return names[0]


def watch(name: str, stop: threading.Event, seen: list[str]) -> None:
    while not stop.is_set():
        seen.append(container_status(name))


def volume_dir(rp: RecoverProject) -> Path:
    done = subprocess.run(["podman", "volume", "inspect", "--format", "{{.Mountpoint}}",
                           object_name(rp.name, rp.root, "dev", "www")],
                          capture_output=True, text=True, check=True)
    return Path(done.stdout.strip())


def drill_containers(rp: RecoverProject) -> list[str]:
    done = subprocess.run(["podman", "ps", "-a", "--filter",
                           f"label=dev.stackwright.project={rp.name}", "--format",
                           "{{.Names}}"],
                          capture_output=True, text=True, check=True)
    return [n for n in done.stdout.split() if "-drill-" in n]


def test_writers_paused_during_capture_and_a_drill_checks_a_scratch_service(
        recover_project: RecoverProject) -> None:
    rp = recover_project
    rp.write("main.yaml", SPEC)
    rp.run("apply", "--yes", timeout=900)
    rp.write("main.yaml", SPEC + SERVICE.replace("@VOLUME@", object_name(rp.name, rp.root,
                                                                              "dev", "www")))
    rp.run("apply", "--yes", timeout=900)
    web = web_container(rp)
    data = volume_dir(rp)
    assert (data / "index.html").read_text() == "live\n"
    with open(data / "bulk.bin", "wb") as out:  # enough to read for a while
        out.write(os.urandom(48 << 20))

    stop, seen = threading.Event(), list[str]()
    watcher = threading.Thread(target=watch, args=(web, stop, seen), daemon=True)
    watcher.start()
    try:
        run = rp.json("backup", "run", "site")
    finally:
        stop.set()
        watcher.join(30)
    assert run["status"] == "succeeded", run
    assert "paused" in seen, f"never saw {web} paused: {sorted(set(seen))}"
    assert container_status(web) == "running"

    shutil.rmtree(rp.root / "backups" / "gone")  # its backup fails while the writer is paused
    failed = rp.json("backup", "run", "broken", ok=False)
    assert failed["status"] == "failed", failed
    assert container_status(web) == "running"

    drill = rp.json("drill", "run", "site-drill")
    assert drill["status"] == "succeeded", drill
    assert drill["checks"] == 1
    assert drill_containers(rp) == []

    (data / "index.html").unlink()  # the next backup holds no page: its copy is not healthy
    assert rp.json("backup", "run", "site")["status"] == "succeeded"
    bad = rp.json("drill", "run", "site-drill", ok=False)
    assert bad["status"] == "failed"
    assert "not healthy" in bad["reason"] and "/index.html" in bad["reason"], bad["reason"]
    assert drill_containers(rp) == []
    assert (data / "now").stat().st_size > 0 and container_status(web) == "running"
