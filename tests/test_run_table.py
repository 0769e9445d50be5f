"""table.parquet (scoring/table_file.py), read through scoring/table.py's one `read_table`: the table
holds exactly what streaming the JSONL files gives, is used only while it is current, and a stale,
old, truncated or corrupt one is rebuilt with one line saying why; a read-only run directory still
reads. Runs are planted (tests/rundirs.py) with regrades, gaps, foreign-format lines and every
finish reason, so both of store.py's line readers (regex and JSON) are exercised."""

from __future__ import annotations

import errno
import json
import logging
import os
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from evalkit.scoring import table as table_mod
from evalkit.scoring import table_file
from evalkit.scoring.table import build, read_table
from evalkit.store import GRADES, MANIFEST, SAMPLES, JsonlAppender, RunStore, line_at
from evalkit.types import EvalkitError, Grade, Sample, natural_key
from rundirs import cli_result, make_run

FINISH = ("stop", "length", "error")


@pytest.fixture(autouse=True)
def tables_on(monkeypatch):
    """The table is read whatever the run's size (these runs are small: they would be streamed)."""
    monkeypatch.delenv("EVALKIT_TABLE", raising=False)
    monkeypatch.setattr(table_mod, "SMALL_GRADES", 0)
    table_mod._UNWRITABLE.clear()


def planted(path: Path, seed: int = 0, problems: int = 12, n: int = 6) -> Path:
    """A run with answers that vote, statuses of every kind, a regrade of some samples (a later line
    wins), repeated sample lines (the first wins), every finish reason, lines in evalkit's key order and in another (parsed as JSON), and
    problems in an order that is not natural (`x/10` before `x/2`)."""
    rng = np.random.default_rng(seed)
    ids = [f"arith/{i}" for i in rng.permutation(problems)]
    make_run(path, rng.random((problems, n)) < 0.5, ids=ids, rng=rng, seed=seed,
             statuses={(1, 2): "no_answer", (2, 0): "truncated", (3, 1): "timeout"})
    samples = [json.loads(line) for line in (path / SAMPLES).read_text().splitlines()]
    with open(path / SAMPLES, "w") as f:  # finish reasons, and some lines with another key order
        for j, rec in enumerate(samples):
            rec["finish_reason"] = FINISH[j % 3]
            if j % 5 == 0:
                rec = dict(reversed(list(rec.items())))
            f.write(json.dumps(rec) + "\n")
        for rec in samples[::7]:  # a second line of a pair: the first one wins
            f.write(json.dumps({**rec, "num_tokens": 999, "finish_reason": "length", "completion": "again"}) + "\n")
    with JsonlAppender(path / GRADES) as out:  # regrades: later lines win
        for r in range(0, problems, 3):
            pid = ids[r]
            out.write(Grade(pid, 1, True, "correct", answer="regraded").to_json())
            out.write({"answer": "7", "status": "wrong", "correct": False, "sample_index": 2, "problem_id": pid, "detail": ""})
    return path


def graded_equal(a, b) -> None:
    assert np.array_equal(a.index, b.index)
    tables_equal(a.table, b.table)


def tables_equal(ta, tb) -> None:
    assert ta.problem_ids == tb.problem_ids
    assert np.array_equal(ta.offsets, tb.offsets)
    for name in ("correct", "status", "answer", "tokens", "entropy", "logprob", "finish"):
        assert np.array_equal(getattr(ta, name), getattr(tb, name), equal_nan=name in ("tokens", "entropy", "logprob")), name
    assert ta.finish_names == tb.finish_names


def warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# -- what the table holds ---------------------------------------------------------------------------
def test_table_holds_what_the_jsonl_files_hold(tmp_path):
    run = planted(tmp_path / "r")
    store = RunStore(run)
    streamed = build(store)
    read_table(store)  # writes the table
    assert (run / table_file.TABLE).exists()
    graded_equal(table_file.read(store), streamed)
    for n, expected in ((None, None), (4, None), (6, [f"arith/{i}" for i in (0, 3, 11)])):
        os.environ["EVALKIT_TABLE"] = "off"
        plain = read_table(store, n=n, expected=expected)
        del os.environ["EVALKIT_TABLE"]
        tables_equal(read_table(store, n=n, expected=expected), plain)


def test_columns_against_an_independent_reading(tmp_path):
    """Each row checked against the JSONL lines read with json alone: the last grade line of a pair,
    the first sample line, answers numbered by first appearance in each problem."""
    run = planted(tmp_path / "r", seed=1)
    read_table(RunStore(run))
    rows = pq.read_table(run / table_file.TABLE).to_pylist()
    grades, samples = {}, {}
    for line in (run / GRADES).read_text().splitlines():
        g = json.loads(line)
        grades[g["problem_id"], g["sample_index"]] = g
    for line in (run / SAMPLES).read_text().splitlines():
        s = json.loads(line)
        samples.setdefault((s["problem_id"], s["sample_index"]), s)
    keys = sorted(grades, key=lambda k: (natural_key(k[0]), k[1]))
    assert [(r["problem_id"], r["sample_index"]) for r in rows] == keys
    classes: dict[str, dict] = {}
    for r in rows:
        g, s = grades[r["problem_id"], r["sample_index"]], samples[r["problem_id"], r["sample_index"]]
        assert (r["correct"], r["status"]) == (g["correct"], g["status"])
        seen = classes.setdefault(r["problem_id"], {})
        want = None if g["answer"] is None else seen.setdefault(g["answer"], len(seen))
        assert r["answer_key"] == want
        assert (r["num_tokens"], r["finish_reason"], r["mean_entropy"], r["mean_logprob"]) == (
            s["num_tokens"], s["finish_reason"], s["mean_entropy"], s["mean_logprob"])
        assert r["second_correct"] is None and r["second_status"] is None
        assert json.loads(line_at(run / SAMPLES, r["sample_offset"])) == s  # the pair's first sample line
        assert json.loads(line_at(run / GRADES, r["grade_offset"])) == g  # its last grade line
    meta = json.loads(pq.read_metadata(run / table_file.TABLE).metadata[table_file.META_KEY])
    assert meta["schema_version"] == table_file.SCHEMA_VERSION
    manifest = json.loads((run / MANIFEST).read_text())
    assert manifest["table"]["grades_sha256"] == meta["grades"]["sha256"] == table_file.file_sha256(run / GRADES)


def test_truncation_column_is_the_recorded_finish_reason(tmp_path):
    run = planted(tmp_path / "r", seed=2)
    t = read_table(RunStore(run))
    reasons = {}
    for line in (run / SAMPLES).read_text().splitlines():
        s = json.loads(line)
        reasons.setdefault((s["problem_id"], s["sample_index"]), s["finish_reason"])
    want = [reasons[pid, i] == "length" for r, pid in enumerate(t.problem_ids) for i in range(int(t.n[r]))]
    assert t.finished_by("length").tolist() == want
    assert not t.finished_by("no such reason").any()


# -- currency -----------------------------------------------------------------------------------------
def test_current_table_is_read_not_rebuilt(tmp_path, monkeypatch, caplog):
    run = planted(tmp_path / "r")
    read_table(RunStore(run))
    copy = tmp_path / "copy"  # copied without keeping mtimes: the full grades hash decides, and agrees
    copy.mkdir()
    for f in run.iterdir():
        shutil.copyfile(f, copy / f.name)
    monkeypatch.setattr(table_mod, "build", lambda *a, **k: pytest.fail("a current table was rebuilt"))
    read_table(RunStore(run))
    read_table(RunStore(copy))
    assert warnings(caplog) == []


def test_appended_grades_rebuild_with_one_line(tmp_path, caplog):
    run = planted(tmp_path / "r")
    store = RunStore(run)
    before = read_table(store)
    with JsonlAppender(run / GRADES) as out:  # a regrade flips the first sample of the first problem
        pid = before.problem_ids[0]
        out.write(Grade(pid, 0, not before.correct[0], "wrong" if before.correct[0] else "correct", answer="x").to_json())
    after = read_table(store)
    assert after.correct[0] != before.correct[0]
    assert warnings(caplog) == [f"{run / table_file.TABLE}: grades.jsonl changed since it was built; rebuilding it from the run's JSONL files"]
    caplog.clear()
    read_table(store)
    assert warnings(caplog) == []


def _rewrite_metadata(path: Path, **changes) -> None:
    t = pq.read_table(path)
    meta = {**json.loads(t.schema.metadata[table_file.META_KEY]), **changes}
    pq.write_table(t.replace_schema_metadata({table_file.META_KEY: json.dumps(meta).encode()}), path)


def _same_size_edit(path: Path) -> None:
    """Change one answer early in grades.jsonl, keeping its size (and, with the mtime put back, the stat)."""
    st = path.stat()
    data = path.read_bytes()
    at = data.index(b'"answer": "') + len(b'"answer": "')
    path.write_bytes(data[:at] + (b"8" if data[at:at + 1] != b"8" else b"9") + data[at + 1:])
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1))


BREAKAGES = {
    "old schema": (lambda run: _rewrite_metadata(run / table_file.TABLE, schema_version=0), "it has schema version 0"),
    "truncated": (lambda run: (run / table_file.TABLE).write_bytes((run / table_file.TABLE).read_bytes()[:-100]), "truncated or corrupt"),
    "garbage": (lambda run: (run / table_file.TABLE).write_bytes(b"PAR1" + os.urandom(3000) + b"PAR1"), "truncated or corrupt"),
    "not evalkit's": (lambda run: pq.write_table(pq.read_table(run / table_file.TABLE).replace_schema_metadata({}), run / table_file.TABLE),
                      "no evalkit.table metadata"),
    "grades hash": (lambda run: _same_size_edit(run / GRADES), "grades.jsonl changed since it was built"),
    "manifest hash": (lambda run: (run / MANIFEST).write_text(json.dumps({**json.loads((run / MANIFEST).read_text()),
                                                                          "table": {"grades_sha256": "sha256:0"}})),
                      "manifest.json records another grades hash"),
    "rows shuffled": (lambda run: pq.write_table(pq.read_table(run / table_file.TABLE).take(np.arange(5)[::-1]).replace_schema_metadata(
        {table_file.META_KEY: json.dumps({**json.loads(pq.read_metadata(run / table_file.TABLE).metadata[table_file.META_KEY]), "rows": 5}).encode()}),
        run / table_file.TABLE), "not in problem order"),
    "samples rewritten": (lambda run: (run / SAMPLES).write_text((run / SAMPLES).read_text().replace('"seed"', '"seed" ', 1)),
                          "samples.jsonl was rewritten"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_bad_table_is_rebuilt_with_one_line_never_read(tmp_path, caplog, breakage):
    run = planted(tmp_path / "r", seed=3)
    store = RunStore(run)
    read_table(store)
    damage, why = BREAKAGES[breakage]
    damage(run)
    os.environ["EVALKIT_TABLE"] = "off"
    want = build(store)
    del os.environ["EVALKIT_TABLE"]
    tables_equal(read_table(store), want.select(str(run), None, None))
    lines = warnings(caplog)
    assert len(lines) == 1 and why in lines[0] and lines[0].startswith(str(run / table_file.TABLE)), lines
    graded_equal(table_file.read(store), want)  # and a good table replaced it


# -- read-only run directories --------------------------------------------------------------------
def test_read_only_run_dir_reads_from_jsonl_saying_once(tmp_path, monkeypatch, caplog):
    runs = [planted(tmp_path / name, seed=s) for s, name in enumerate("ab")]
    plain = {}
    for mode in ("off", "on"):
        monkeypatch.setenv("EVALKIT_TABLE", mode)
        plain[mode] = cli_result("compare", *map(str, runs), "--format", "json")
    monkeypatch.delenv("EVALKIT_TABLE")
    for run in runs:
        (run / table_file.TABLE).unlink()

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(pq, "ParquetWriter", read_only)  # as opening a file on a read-only mount fails
    caplog.clear()
    first = cli_result("compare", *map(str, runs), "--format", "json")
    second = cli_result("compare", *map(str, runs), "--format", "json")
    assert plain["off"][0] == 0 and first == second == plain["off"] == plain["on"]
    assert warnings(caplog) == [f"note: cannot write {run / table_file.TABLE} (Read-only file system); reading the run from its JSONL files each time"
                       for run in runs]
    assert not any((run / table_file.TABLE).exists() or list(run.glob(".table.parquet*")) for run in runs)


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root writes into a read-only directory")
def test_read_only_permissions(tmp_path, caplog):
    run = planted(tmp_path / "r")
    os.environ["EVALKIT_TABLE"] = "off"
    want = read_table(RunStore(run))
    del os.environ["EVALKIT_TABLE"]
    run.chmod(0o555)
    try:
        got = read_table(RunStore(run))
    finally:
        run.chmod(0o755)
    assert np.array_equal(got.correct, want.correct)
    assert len(warnings(caplog)) == 1 and "cannot write" in warnings(caplog)[0]


# -- the errors of an unfinished run are the JSONL path's ------------------------------------------
def test_unfinished_run_errors_are_unchanged(tmp_path):
    run = planted(tmp_path / "r")
    store = RunStore(run)
    messages = []
    for mode in ("off", "on", "on"):
        os.environ["EVALKIT_TABLE"] = mode
        for n, expected in ((9, None), (None, ["arith/0", "arith/99"])):
            with pytest.raises(EvalkitError) as e:
                read_table(store, n=n, expected=expected)
            messages.append(str(e.value))
    del os.environ["EVALKIT_TABLE"]
    assert messages[:2] == messages[2:4] == messages[4:]
    assert "is unfinished" in messages[0] and "arith/99" in messages[1]


# -- small runs -----------------------------------------------------------------------------------
SMALL_READ = """
import sys
from evalkit.scoring.table import read_table
from evalkit.store import RunStore
t = read_table(RunStore(sys.argv[1]))
print(int(t.correct.sum()), "pyarrow" in sys.modules)
"""


def test_small_run_is_streamed_while_its_table_is_current(tmp_path):
    """Below SMALL_GRADES a current table (by manifest.json's record of it) is not opened: no pyarrow
    import. A missing or damaged one is still rebuilt, so pandas and DuckDB always find it current."""
    import subprocess
    import sys

    run = planted(tmp_path / "r")
    env = {**os.environ, "PYTHONPATH": str(Path(table_mod.__file__).parents[2])}
    env.pop("EVALKIT_TABLE", None)

    def read() -> list[str]:
        done = subprocess.run([sys.executable, "-c", SMALL_READ, str(run)], env=env, capture_output=True, text=True, check=True)
        return done.stdout.split() + [done.stderr]

    first = read()  # no table yet: built and written (pyarrow needed to write it)
    assert first[1] == "True" and (run / table_file.TABLE).exists()
    second = read()
    assert second[:2] == [first[0], "False"] and second[2] == ""
    (run / table_file.TABLE).write_bytes((run / table_file.TABLE).read_bytes()[:-10])
    third = read()
    assert third[:2] == [first[0], "True"] and "truncated or corrupt" in third[2]
    assert read()[1] == "False"
    data = (run / table_file.TABLE).read_bytes()  # a recorded grades hash changed in place (same size)
    at = data.index(b'"sha256": "sha256:') + len(b'"sha256": "sha256:')
    (run / table_file.TABLE).write_bytes(data[:at] + (b"0" if data[at:at + 1] != b"0" else b"1") + data[at + 1:])
    fourth = read()
    assert fourth[:2] == [first[0], "True"] and "manifest.json records another grades hash" in fourth[2]
