"""Issue 32: a newcomer's second day. One rerun after a torn line, gate warnings and labels, labels that
show only what the user changed, `plan` saying when adaptive sampling does not pay, and messages that
say what they mean."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from evalkit.adapters.arith import arith_rows
from rundirs import cli_result as cli, metrics


def _score_file(path: Path, problems: int = 20, n: int = 4) -> Path:
    """Samples for the first `problems` arith problems, odd indices wrong."""
    with open(path, "w") as f:
        for row in arith_rows()[:problems]:
            for i in range(n):
                f.write(json.dumps({"problem_id": row["id"], "completion": f"\\boxed{{{int(row['answer']) + i % 2}}}"}) + "\n")
    return path


# -- 2. a torn line costs one rerun ---------------------------------------------------------------
@pytest.mark.parametrize("name, keep", [("grades.jsonl", 50), ("samples.jsonl", 50)])
def test_torn_line_is_dropped_and_redone_in_the_same_rerun(tmp_path: Path, name: str, keep: int) -> None:
    """A kill mid-write leaves a line whose leading fields are whole (only its tail is missing): the
    rerun must not count it as done and then cut it off."""
    args = ["score", "--bench", "arith", "--samples", str(_score_file(tmp_path / "s.jsonl")), "--k", "1,4"]
    whole, torn = tmp_path / "whole", tmp_path / "torn"
    assert cli(*args, "--out", str(whole))[0] == 0
    assert cli(*args, "--out", str(torn))[0] == 0
    path = torn / name
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:keep]) + lines[keep][:-5])  # the prefix fields survive, the end does not
    if name == "samples.jsonl":
        (torn / "grades.jsonl").write_bytes(b"".join(l for l in (torn / "grades.jsonl").read_bytes().splitlines(keepends=True)[:keep]))
    (torn / "metrics.json").unlink()
    code, out = cli(*args, "--out", str(torn))
    assert code == 0, out
    assert metrics(torn)["pass_at_k"] == metrics(whole)["pass_at_k"] and metrics(torn)["num_samples"] == 80
    assert sorted(path.read_bytes().splitlines()) == sorted((whole / name).read_bytes().splitlines())


def test_unterminated_but_whole_last_line_is_kept(tmp_path: Path) -> None:
    """A last line that only lacks its newline is a record: readers count it and the next append keeps it."""
    from evalkit.store import JsonlAppender, RunStore
    from evalkit.types import Grade

    store = RunStore(tmp_path)
    with store.grade_appender() as w:
        w.write(Grade("a", 0, True, "correct").to_json())
    (tmp_path / "grades.jsonl").write_bytes((tmp_path / "grades.jsonl").read_bytes().rstrip(b"\n"))
    assert ("a", 0) in store.grade_pairs()
    with JsonlAppender(tmp_path / "grades.jsonl") as w:
        w.write(Grade("a", 1, False, "wrong").to_json())
    assert [(g["problem_id"], g["sample_index"]) for g in store.iter_grades()] == [("a", 0), ("a", 1)]
