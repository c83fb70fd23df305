"""Log records from podman's k8s-file format, JSON lines, masking, and the FTS5 store
(grep, levels, time windows, retention, resuming from stored offsets)."""

from __future__ import annotations

import json
from pathlib import Path

from stackwright.observe.logcollect import (
    MASK,
    Source,
    _secrets,
    collect_once,
    parse_record,
    read_records,
)
from stackwright.observe.logstore import LogStore, Query, parse_message

SOURCE = Source("sw-p-dev-web-r1-1", "", "web", "r1", "1", secrets=("hunter22",))


def _rec(n: int, text: str, stream: str = "stdout", tag: str = "F") -> str:
    return f"2026-12-03T09:00:{n:02d}.123456789+00:00 {stream} {tag} {text}\n"


def test_parse_record_reads_time_stream_and_partial_flag() -> None:
    when, stream, complete, text = parse_record(_rec(5, "hello world").rstrip("\n"))  # type: ignore[misc]
    assert (stream, complete, text) == ("stdout", True, "hello world")
    assert abs(when - 1796288405.123456) < 1e-3
    assert parse_record("not a record") is None


def test_partial_records_join_and_an_unfinished_line_waits() -> None:
    data = (_rec(1, "part one ", tag="P") + _rec(1, "and two") + _rec(2, "err", "stderr")
            + "2026-12-03T09:00:03.0+00:00 stdout F unfinis").encode()
    chunk = read_records(SOURCE, "dev", data, 100)
    assert [(ln.message, ln.stream) for ln in chunk.lines] == [("part one and two", "stdout"),
                                                                ("err", "stderr")]
    assert chunk.position == 100 + len(data) - len(b"2026-12-03T09:00:03.0+00:00 stdout F unfinis")


def test_a_partial_record_without_its_end_is_not_taken() -> None:
    data = (_rec(1, "whole") + _rec(2, "half ", tag="P")).encode()
    chunk = read_records(SOURCE, "dev", data, 0)
    assert [ln.message for ln in chunk.lines] == ["whole"]
    assert chunk.position == len(_rec(1, "whole"))


def test_json_lines_are_parsed_and_plain_levels_read() -> None:
    msg, level, trace, fields = parse_message(
        '{"level": "ERROR", "msg": "db timeout", "trace_id": "abc", "ms": 30}')
    assert (msg, level, trace, fields["ms"]) == ("db timeout", "error", "abc", 30)
    assert parse_message("WARNING: disk 91%")[1] == "warn"
    assert parse_message("[error] boom")[1] == "error"
    assert parse_message("all good")[1] is None
    assert parse_message("{not json")[0] == "{not json"


def test_secrets_are_masked_before_storage() -> None:
    [line] = read_records(SOURCE, "dev", _rec(1, '{"msg": "token hunter22 used"}').encode(),
                          0).lines
    assert line.message == f"token {MASK} used" and "hunter22" not in json.dumps(line.fields)


def test_delivered_secrets_are_found_in_env_and_tmpfs_mounts(tmp_path: Path) -> None:
    tmpfs = tmp_path / "shm"
    (tmpfs / "sw-p-dev-web" / "r1").mkdir(parents=True)
    (tmpfs / "sw-p-dev-web" / "r1" / "db-password").write_text("pg-secret-9\n")
    doc = {"Config": {"Env": ["APP_TOKEN=tok-12345", "PATH=/bin", "SHORT=abc"]},
           "Mounts": [{"Source": str(tmpfs / "sw-p-dev-web" / "r1"), "Destination": "/run/s"},
                      {"Source": str(tmp_path / "data"), "Destination": "/data"}]}
    found = _secrets(doc, {"APP_TOKEN", "SHORT"}, tmpfs)
    assert "tok-12345" in found and "pg-secret-9" in found
    assert "/bin" not in found and "abc" not in found  # not a secret / too short to mask


def _store(tmp_path: Path) -> LogStore:
    return LogStore(tmp_path / "logs.db")


def test_store_grep_level_revision_and_time(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = "".join([_rec(1, "GET /cart 200"), _rec(2, '{"level":"error","msg":"Timeout '
                    'talking to db"}'), _rec(3, "warn: slow"), _rec(4, "GET /cart 500")])
    store.append(read_records(SOURCE, "dev", data.encode(), 0).lines, "/f", "c", 1, 1)
    assert [r["message"] for r in store.query(Query(grep="cart"))] == ["GET /cart 200",
                                                                       "GET /cart 500"]
    assert [r["message"] for r in store.query(Query(grep="timeout"))] == [
        "Timeout talking to db"]  # case-insensitive, through the trigram index
    assert len(store.query(Query(grep="00"))) == 2  # shorter than three: scanned
    assert [r["level"] for r in store.query(Query(level="warn"))] == ["error", "warn"]
    assert store.query(Query(revision="r2")) == []
    t0 = store.query(Query())[0]["time"]
    assert len(store.query(Query(since=t0 + 1.5, until=t0 + 2.5))) == 1
    assert [r["message"] for r in store.query(Query(limit=1))] == ["GET /cart 500"]


def test_retention_by_age_and_count(tmp_path: Path) -> None:
    store = _store(tmp_path)
    data = "".join(_rec(i, f"line {i}") for i in range(10)).encode()
    store.append(read_records(SOURCE, "dev", data, 0).lines, "/f", "c", 1, 1)
    t0 = store.query(Query(limit=1, newest=False))[0]["time"]
    assert store.prune(older_than=t0 + 2.5) == 3
    assert store.prune(max_lines=4) == 3
    assert [r["message"] for r in store.query(Query())] == [f"line {i}" for i in range(6, 10)]
    assert store.query(Query(grep="line 3")) == []  # the index forgets pruned lines


def test_collection_resumes_at_the_stored_offset(tmp_path: Path) -> None:
    log = tmp_path / "ctr.log"
    log.write_text(_rec(1, "one") + _rec(2, "two"))
    source = Source("c1", str(log), "web", "r1", "1")
    store = _store(tmp_path)
    assert collect_once(store, [source], "dev") == 2
    with log.open("a") as f:
        f.write(_rec(3, "three") + "2026-12-03T09:00:04.0+00:00 stdout F fo")
    store.close()
    store = _store(tmp_path)  # a restarted daemon
    assert collect_once(store, [source], "dev") == 1
    with log.open("a") as f:
        f.write("ur\n")
    assert collect_once(store, [source], "dev") == 1
    assert collect_once(store, [source], "dev") == 0
    assert [r["message"] for r in store.query(Query())] == ["one", "two", "three", "four"]


def test_a_replica_waits_until_a_ready_record_names_its_revision() -> None:
    from stackwright.core.model import Address, Recorded, Status
    from stackwright.observe.logcollect import _source, deployed_services

    web = Address("Service", "web")
    doc = {"Name": "sw-p-dev-web-r2-1", "HostConfig": {"LogConfig": {"Type": "k8s-file",
                                                                     "Path": "/x/ctr.log"}},
           "Config": {"Env": ["APP_TOKEN=tok-12345"],
                      "Labels": {"dev.stackwright.resource": "Service/web",
                                 "dev.stackwright.service": "sw-p-dev-web",
                                 "dev.stackwright.revision": "r2",
                                 "dev.stackwright.replica": "1"}}}
    creating = Recorded(web, None, {}, {}, status=Status.CREATING)
    assert _source(doc, deployed_services({web: creating}), Path("/dev/shm/x")) is None
    ready = Recorded(web, "id", {"secrets": [{"value": "v", "env": "APP_TOKEN"}]},
                     {"revision": "r2", "revisions": [{"revision": "r1"}]})
    source = _source(doc, deployed_services({web: ready}), Path("/dev/shm/x"))
    assert source is not None and source.secrets == ("tok-12345",)
    assert (source.service, source.revision, source.replica) == ("web", "r2", "1")
