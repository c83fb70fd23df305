"""A thin wrapper around the git CLI: what pipelines need to watch and check out a
repository (a local path, a bare repository or any URL git understands)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from stackwright.tools._proc import ToolError, run

_ENV = {"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1"}
# Set by git for a hook's process; a repository named on the command line must win.
_HOOK_VARS = ("GIT_DIR", "GIT_WORK_TREE", "GIT_QUARANTINE_PATH", "GIT_OBJECT_DIRECTORY",
              "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_INDEX_FILE")


def _clean_environ() -> None:
    import os

    for name in _HOOK_VARS:
        os.environ.pop(name, None)


class Git:
    def __init__(self, binary: str = "git", timeout: float = 300.0) -> None:
        _clean_environ()
        self.binary = binary
        self.timeout = timeout

    def call(self, args: list[str], what: str, *, cwd: Path | None = None) -> str:
        argv = [self.binary, *(["-C", str(cwd)] if cwd else []), *args]
        done = run(argv, env=_ENV, timeout=self.timeout)
        if done.returncode != 0:
            raise ToolError(f"{what} failed: {done.stderr.strip()[-400:]}", argv=argv,
                            hint="check the repository address and that the ref exists")
        return done.stdout

    def heads(self, repo: str) -> dict[str, str]:
        """Every branch and tag of ``repo``: ``refs/heads/main`` → commit sha (annotated
        tags resolved to their commit)."""
        out = self.call(["ls-remote", "--heads", "--tags", repo], f"git ls-remote {repo}")
        refs: dict[str, str] = {}
        for line in out.splitlines():
            sha, _, name = line.partition("\t")
            if name.endswith("^{}"):
                refs[name[:-3]] = sha  # the peeled commit wins over the tag object
            elif name not in refs:
                refs[name] = sha
        return refs

    def resolve(self, repo: str, ref: str) -> tuple[str, str]:
        """(full ref, sha) for a branch, tag, full ref or sha prefix of ``repo``."""
        heads = self.heads(repo)
        for name in (ref, f"refs/heads/{ref}", f"refs/tags/{ref}"):
            if name in heads:
                return name, heads[name]
        if len(ref) >= 7 and all(c in "0123456789abcdef" for c in ref.lower()):
            return ref, ref
        raise ToolError(f"{repo} has no branch or tag {ref!r}", argv=["git", "ls-remote", repo],
                        hint="branches: " + ", ".join(sorted(
                            n.removeprefix("refs/heads/") for n in heads
                            if n.startswith("refs/heads/"))))

    def checkout(self, repo: str, sha: str, dest: Path) -> None:
        """A working tree of ``repo`` at ``sha`` in ``dest`` (which must not exist yet)."""
        dest.mkdir(parents=True, exist_ok=True)
        self.call(["init", "-q"], "git init", cwd=dest)
        self.call(["fetch", "-q", "--depth", "1", repo, sha], f"git fetch {sha[:12]}",
                  cwd=dest)
        self.call(["-c", "advice.detachedHead=false", "checkout", "-q", "FETCH_HEAD"],
                  "git checkout", cwd=dest)

    def show(self, repo: str, sha: str, path: str, mirrors: Path) -> str:
        """The text of ``path`` at ``sha``: read from a local repository directly, from a
        mirror kept under ``mirrors`` for a URL."""
        local = Path(repo)
        if "://" in repo or repo.startswith("git@") or not local.exists():
            local = self.mirror(repo, mirrors)
        return self.call(["show", f"{sha}:{path}"], f"git show {sha[:12]}:{path}", cwd=local)

    def mirror(self, repo: str, mirrors: Path) -> Path:
        """A bare mirror of ``repo`` under ``mirrors``, fetched now."""
        import hashlib

        dest = mirrors / hashlib.sha256(repo.encode()).hexdigest()[:16]
        if not (dest / "HEAD").is_file():
            mirrors.mkdir(parents=True, exist_ok=True)
            self.call(["clone", "-q", "--mirror", repo, str(dest)], f"git clone {repo}")
        else:
            self.call(["fetch", "-q", "--prune", "origin"], f"git fetch {repo}", cwd=dest)
        return dest

    def is_bare(self, path: Path) -> bool:
        done = run([self.binary, "-C", str(path), "rev-parse", "--is-bare-repository"],
                   env=_ENV, timeout=self.timeout)
        return done.returncode == 0 and done.stdout.strip() == "true"

    def commit_message(self, cwd: Path) -> str:
        return self.call(["log", "-1", "--format=%s"], "git log", cwd=cwd).strip()


def env_for(values: Mapping[str, str]) -> dict[str, str]:
    return {**_ENV, **values}
