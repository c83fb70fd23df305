"""Volume and file backups on real restic and podman: run, list, retention, restore to
scratch and in place (with its safety backup), a killed backup, a full disk; the password
never leaves the secrets store."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from tests.fixtures.podman_cleanup import object_name
from tests.integration.recover.conftest import RecoverProject, needs_podman, needs_restic

pytestmark = [pytest.mark.slow, needs_restic, needs_podman]

SPEC = """
apiVersion: stackwright.dev/v1
kind: Volume
metadata: {{name: uploads}}
spec: {{deletionPolicy: Delete}}
---
apiVersion: stackwright.dev/v1
kind: BackupRepository
metadata: {{name: main}}
spec:
  path: {repo}
  check: {{readDataSubset: 50%}}
---
apiVersion: stackwright.dev/v1
kind: BackupPolicy
metadata: {{name: site}}
spec:
  repository: main
  sources:
    volumes: [uploads]
    files: [config]
  retention: {{keepLast: {keep}}}
  objectives: {{rpo: 1h, rto: 10m}}
"""


def uploads_volume(rp: RecoverProject) -> str:
    return object_name(rp.name, rp.root, "dev", "uploads")


def volume_dir(rp: RecoverProject) -> Path:
    done = subprocess.run(["podman", "volume", "inspect", "--format", "{{.Mountpoint}}",
                           uploads_volume(rp)], capture_output=True, text=True,
                          check=True)
    return Path(done.stdout.strip())


def setup(rp: RecoverProject, keep: int = 3, repo: str = "backups/repo") -> Path:
    rp.write("main.yaml", SPEC.format(repo=repo, keep=keep))
    (rp.root / "config").mkdir(exist_ok=True)
    (rp.root / "config" / "app.ini").write_text("version=1\n")
    rp.run("apply", "--yes")
    data = volume_dir(rp)
    (data / "index.html").write_text("<h1>first</h1>\n")
    (data / "img").mkdir()
    (data / "img" / "a.bin").write_bytes(bytes(range(256)) * 400)
    return data


def test_volume_and_files_round_trip(recover_project: RecoverProject) -> None:
    rp = recover_project
    data = setup(rp)
    first = rp.json("backup", "run", "site")
    assert first["ok"] and first["status"] == "succeeded"
    assert {s["source"] for s in first["snapshots"]} == {"Volume/uploads", "File/config"}
    (data / "index.html").write_text("<h1>second</h1>\n")
    (data / "new.txt").write_text("later\n")
    second = rp.json("backup", "run", "site")
    listed = rp.json("backup", "list", "site")["snapshots"]
    assert len(listed) == 4
    vol = [r for r in listed if r["source"] == "Volume/uploads"]
    assert vol[1]["added"] < vol[0]["added"] and vol[1]["dedup"] > vol[0]["dedup"]
    assert all(r["size"] and r["time"] for r in listed)

    # scratch: the first backup, next to the live volume, which is untouched
    at = first["finished_at"]
    restored = rp.json("backup", "restore", "site", "--at", at)
    vol_item = next(r for r in restored["restored"] if r["source"] == "Volume/uploads")
    scratch = Path(vol_item["path"])
    assert vol_item["volume"] != uploads_volume(rp)
    assert (scratch / "index.html").read_text() == "<h1>first</h1>\n"
    assert not (scratch / "new.txt").exists()
    assert (scratch / "img" / "a.bin").read_bytes() == bytes(range(256)) * 400
    assert (data / "index.html").read_text() == "<h1>second</h1>\n"
    files = next(r for r in restored["restored"] if r["source"] == "File/config")
    assert (Path(files["path"]) / str(rp.root).lstrip("/") / "config" / "app.ini"
            ).read_text() == "version=1\n"
    rp.run("backup", "discard", restored["id"])
    assert not scratch.exists()

    # in place needs confirmation, then takes a safety backup first and names it
    refused = rp.run("backup", "restore", "site", "--snapshot", first["id"], "--target",
                     "in-place", ok=False)
    assert refused.code == 1 and "not confirmed" in refused.err
    assert (data / "new.txt").exists()
    done = rp.run("backup", "restore", "site", "--snapshot", first["id"], "--target",
                  "in-place", "--yes", "--source", "Volume/uploads")
    assert "safety backup taken first: run" in done.out
    assert (data / "index.html").read_text() == "<h1>first</h1>\n"
    assert not (data / "new.txt").exists()
    safety = done.out.split("safety backup taken first: run ", 1)[1].split()[0]
    undo = rp.json("backup", "restore", "site", "--snapshot", safety, "--target", "in-place",
                   "--yes", "--source", "Volume/uploads")
    assert undo["ok"] and (data / "new.txt").read_text() == "later\n"
    assert second["ok"]
    check = rp.json("backup", "check", "main")
    assert check["ok"] and check["readDataSubset"] == "50%"
    rp.assert_password_nowhere()


def test_retention_prunes_what_forget_keep_says(recover_project: RecoverProject) -> None:
    rp = recover_project
    data = setup(rp, keep=2)
    runs = []
    for n in range(4):
        (data / "index.html").write_text(f"version {n}\n")
        runs.append(rp.json("backup", "run", "site"))
    listed = rp.json("backup", "list", "site")["snapshots"]
    kept_runs = {r["run"] for r in listed}
    assert kept_runs == {runs[2]["id"], runs[3]["id"]}
    assert len(listed) == 4  # two sources, the last two runs each
    removed = runs[3]["retention"]["removed"]
    assert len(removed) == 2  # the third run removed the first run's two snapshots
    assert rp.json("backup", "check", "main")["ok"]


def test_killed_backup_leaves_the_repository_consistent(recover_project: RecoverProject
                                                        ) -> None:
    rp = recover_project
    data = setup(rp)
    rp.json("backup", "run", "site")
    with open(data / "big.bin", "wb") as out:  # enough that restic is still at work
        for _ in range(32):
            out.write(subprocess.run(["head", "-c", str(4 << 20), "/dev/urandom"],
                                     capture_output=True, check=True).stdout)
    proc = rp.p.popen("backup", "run", "site")
    restic_pid = None
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and restic_pid is None:
        pattern = f"restic --repo {rp.root}/backups/repo --cache-dir .* backup"
        found = subprocess.run(["pgrep", "-f", pattern],
                               capture_output=True, text=True)
        pids = found.stdout.split()
        restic_pid = int(pids[0]) if pids else None
        time.sleep(0.05)
    assert restic_pid is not None, "restic backup never started"
    time.sleep(0.5)
    subprocess.run(["kill", "-9", str(restic_pid)], check=True)
    out, err = proc.communicate(timeout=300)
    rp.seen.append(out + err)
    # the retry finishes the backup; the repository checks clean
    assert proc.returncode == 0, out + err
    assert "trying again" in err
    assert rp.json("backup", "check", "main")["ok"]
    listed = rp.json("backup", "list", "site")["snapshots"]
    assert len({r["run"] for r in listed}) == 2
    rp.assert_password_nowhere()


def test_full_disk_is_a_clear_error_and_keeps_snapshots(recover_project: RecoverProject,
                                                       tmp_path: Path) -> None:
    rp = recover_project
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(small)], check=True)
    try:
        data = setup(rp, repo=str(small / "repo"))
        first = rp.json("backup", "run", "site")
        assert first["ok"]
        with open(data / "big.bin", "wb") as out:
            out.write(subprocess.run(["head", "-c", str(12 << 20), "/dev/urandom"],
                                     capture_output=True, check=True).stdout)
        failed = rp.json("backup", "run", "site", ok=False)
        assert not failed["ok"] and "storage is full" in failed["reason"]
        (data / "big.bin").unlink()
        subprocess.run(["restic", "--repo", str(small / "repo"), "unlock"],
                       env={"RESTIC_PASSWORD": rp.password(), "PATH": "/usr/bin:/bin"},
                       capture_output=True)
        listed = rp.json("backup", "list", "site")["snapshots"]
        assert {r["run"] for r in listed} == {first["id"]}
        restored = rp.json("backup", "restore", "site")
        assert json.dumps(restored).count(first["snapshots"][0]["snapshot"]) >= 1
        rp.run("backup", "discard", restored["id"])
    finally:
        subprocess.run(["umount", "-l", str(small)], check=False)
