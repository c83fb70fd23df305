"""Throwaway instances a restore goes into, next to the live ones and never over them: a
PostgreSQL server and a Redis server started on this machine on free 127.0.0.1 ports (the
same major versions the data image runs), and podman volumes named after the live one.

PostgreSQL refuses to run as root: as root, the scratch server runs as ``nobody`` through
``runuser``, with its files in a directory owned by that user."""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from stackwright.errors import PermanentError, TemporaryError
from stackwright.ports import free_port
from stackwright.tools._proc import tail

HOST = "127.0.0.1"
SCRATCH_USER = "nobody"


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    if initdb is None:
        raise PermanentError("a scratch PostgreSQL needs initdb and pg_ctl",
                             hint="apt-get install postgresql-15")
    return Path(initdb).parent


def _as_server(argv: list[str]) -> list[str]:
    return ["runuser", "-u", SCRATCH_USER, "--", *argv] if os.geteuid() == 0 else argv


def _chown(path: Path) -> None:
    if os.geteuid() == 0:
        pw = pwd.getpwnam(SCRATCH_USER)
        os.chown(path, pw.pw_uid, pw.pw_gid)


def _run(argv: list[str], what: str, timeout: float = 300) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode:
        raise PermanentError(f"{what} failed ({done.returncode}): "
                             f"{tail(done.stderr or done.stdout, 8)}")
    return done.stdout


@dataclass
class ScratchPostgres:
    """A PostgreSQL server of its own: superuser ``postgres`` with a generated password."""

    root: Path
    port: int
    password: str = field(repr=False)
    user: str = "postgres"

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str) -> str:
        from urllib.parse import quote

        return (f"postgresql://{self.user}:{quote(self.password, safe='')}@{HOST}:{self.port}/"
                f"{database}")

    def start(self, timeout: float = 120, settings: tuple[str, ...] = ()) -> None:
        sockets = self.root / "sock"
        sockets.mkdir(exist_ok=True)
        _chown(sockets)
        opts = " ".join([f"-p {self.port} -k {sockets} -c listen_addresses={HOST} -c fsync=off "
                         "-c full_page_writes=off", *(f"-c {s}" for s in settings)])
        argv = [str(_pg_bin() / "pg_ctl"), "-D", str(self.data), "-l",
                str(self.root / "server.log"), "-w", "-t", str(int(timeout)), "-o", opts,
                "start"]
        done = subprocess.run(_as_server(argv), capture_output=True, text=True,
                              timeout=timeout + 30, check=False)
        if done.returncode:
            log = (self.root / "server.log").read_text(errors="replace") if (
                self.root / "server.log").exists() else done.stderr
            raise PermanentError(f"the scratch PostgreSQL did not start: {tail(log, 8)}")

    def stop(self) -> None:
        stop_postgres(self.root)


def stop_postgres(root: Path) -> None:
    """Stop the scratch server in ``root`` (if it runs) and remove its files."""
    if (root / "data" / "postmaster.pid").exists():
        argv = [str(_pg_bin() / "pg_ctl"), "-D", str(root / "data"), "-m", "immediate", "-w",
                "stop"]
        subprocess.run(_as_server(argv), capture_output=True, timeout=120, check=False)
    shutil.rmtree(root, ignore_errors=True)


def _serves_from(pid: int, root: Path) -> bool:
    """Whether process ``pid`` is the scratch Redis of ``root``: redis-server rewrites its
    command line to ``redis-server HOST:PORT``, but it works in its ``--dir``."""
    try:
        return os.readlink(f"/proc/{pid}/cwd") == str(root)
    except OSError:
        return False


def _alive(pid: int) -> bool:
    """Running (a zombie has exited: only its parent can reap it)."""
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def stop_redis(root: Path, pid: int) -> None:
    """Stop the scratch Redis ``pid`` if it still serves from ``root``; remove its files."""
    if _serves_from(pid, root):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while _alive(pid) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)  # reap it when it is our child
            except ChildProcessError:
                pass
            time.sleep(0.05)
    shutil.rmtree(root, ignore_errors=True)


def new_postgres_dir() -> ScratchPostgres:
    root = Path(tempfile.mkdtemp(prefix="sw-scratch-pg-"))
    _chown(root)
    return ScratchPostgres(root, free_port(), secrets.token_urlsafe(24))


# A scratch server a dump is restored into: no WAL for tables loaded in the transaction that
# created them (wal_level=minimal with pg_restore --single-transaction), no checkpoints
# midway, room to build indexes in memory. Nothing is lost: the scratch copy is throwaway.
RESTORE_SETTINGS = ("wal_level=minimal", "max_wal_senders=0", "max_wal_size=8GB",
                    "checkpoint_timeout=1h", "maintenance_work_mem=256MB",
                    "synchronous_commit=off")


def empty_postgres(timeout: float = 120) -> ScratchPostgres:
    """A new cluster (initdb without fsync: a throwaway), started to take a restore."""
    pg = new_postgres_dir()
    try:
        pwfile = pg.root / "pw"
        pwfile.write_text(pg.password + "\n")
        os.chmod(pwfile, 0o600)
        _chown(pwfile)
        _run(_as_server([str(_pg_bin() / "initdb"), "-D", str(pg.data), "-U", "postgres",
                         "-E", "UTF8", "--locale=C.UTF-8", "--auth-local=trust",
                         "--auth-host=scram-sha-256", "--no-sync", "--no-instructions",
                         f"--pwfile={pwfile}"]), "initdb")
        pwfile.unlink()
        pg.start(timeout, RESTORE_SETTINGS)
    except BaseException:
        pg.stop()
        raise
    return pg


@dataclass
class ScratchRedis:
    root: Path
    port: int
    password: str = field(repr=False)
    process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60) -> None:
        from stackwright.data.redis import password_rule
        from stackwright.recover import resp

        argv = ["redis-server", "--dir", str(self.root), "--dbfilename", "dump.rdb",
                "--port", str(self.port), "--bind", HOST, "--save", "", "--appendonly", "no",
                "--user", "default", "reset", "on", password_rule(self.password), "~*", "&*",
                "+@all"]
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise PermanentError(f"the scratch Redis exited ({self.process.returncode})")
            try:
                if resp.call(HOST, self.port, self.password, ["PING"]) == "PONG":
                    return
            except (OSError, ConnectionError):
                pass
            time.sleep(0.1)
        raise TemporaryError("the scratch Redis did not answer in time", delay=10)

    def password_file(self) -> Path:
        """The scratch password, in a file only root reads (for a user who wants to look)."""
        path = self.root / "password"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write(self.password + "\n")
        return path

    def url(self) -> str:
        from stackwright.data.redis import url

        return url(self.password, HOST, self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.root, ignore_errors=True)


def new_redis_dir() -> ScratchRedis:
    root = Path(tempfile.mkdtemp(prefix="sw-scratch-redis-"))
    return ScratchRedis(root, free_port(), secrets.token_urlsafe(24))
