"""export: the file validates against the shipped schema, figures are exact, merging is idempotent."""

from __future__ import annotations

import json
from fractions import Fraction
from math import comb
from pathlib import Path

import jsonschema
import numpy as np
import pytest
from click.testing import CliRunner

import evalkit
from evalkit.cli import main
from rundirs import make_run

SCHEMA = Path(evalkit.__file__).parent / "schemas" / "leaderboard.schema.json"


def export(*args: str):
    return CliRunner().invoke(main, ["export", *args])


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(5)
    a = make_run(tmp_path / "a", rng.random((12, 8)) < 0.5, model="Qwen/Qwen2.5-7B", seed=0)
    b = make_run(tmp_path / "b", rng.random((12, 8)) < 0.3, model="ckpts/global_step_100", seed=0)
    return a, b


def test_export_validates_and_figures_are_exact(tmp_path, runs):
    out = tmp_path / "leaderboard.json"
    res = export(*map(str, runs), "--out", str(out), "--k", "1,3,8")
    assert res.exit_code == 0, res.output
    board = json.loads(out.read_text())
    jsonschema.validate(board, json.loads(SCHEMA.read_text()))
    assert [e["model"] for e in board["entries"]] == ["Qwen/Qwen2.5-7B", "ckpts/global_step_100"]
    for entry, run_dir in zip(board["entries"], runs):
        grades = [json.loads(line) for line in (run_dir / "grades.jsonl").read_text().splitlines()]
        by_problem: dict = {}
        for g in grades:
            by_problem.setdefault(g["problem_id"], []).append(g["correct"])
        manifest = json.loads((run_dir / "manifest.json").read_text())
        for k in (1, 3, 8):
            want = sum(1 - Fraction(comb(8 - sum(r), k), comb(8, k)) for r in by_problem.values()) / len(by_problem)
            cell = entry["pass_at_k"][str(k)]
            assert cell["value"] == pytest.approx(float(want), abs=1e-12) and cell["ci95"][0] <= cell["value"] <= cell["ci95"][1]
        assert entry["n"] == 8 and entry["num_problems"] == 12 and entry["num_samples"] == 96
        assert entry["data_hash"] == manifest["data_hash"] and entry["sampling"] == manifest["sampling"]
        assert entry["seed"] == 0 and entry["versions"] == manifest["versions"] and entry["date"] == manifest["created"]


def test_reexport_is_idempotent_and_replaces(tmp_path, runs):
    a, b = runs
    out = tmp_path / "leaderboard.json"
    assert export(str(a), "--out", str(out)).exit_code == 0
    assert export(str(b), "--out", str(out)).exit_code == 0
    first = out.read_bytes()
    res = export(str(a), str(b), "--out", str(out))
    assert res.exit_code == 0 and "0 added, 2 replaced, 2 entries" in res.output
    assert out.read_bytes() == first  # byte-identical: nothing duplicated, nothing reordered
    # the same evaluation with new grades (e.g. regraded) replaces its entry
    a2 = make_run(tmp_path / "a2", np.ones((12, 8), dtype=bool), model="Qwen/Qwen2.5-7B", seed=0)
    assert export(str(a2), "--out", str(out)).exit_code == 0
    entries = json.loads(out.read_text())["entries"]
    assert len(entries) == 2 and entries[0]["pass_at_k"]["1"]["value"] == 1.0
    # another seed is another evaluation: a new entry
    a3 = make_run(tmp_path / "a3", np.ones((12, 8), dtype=bool), model="Qwen/Qwen2.5-7B", seed=1)
    res = export(str(a3), "--out", str(out))
    assert "1 added, 0 replaced, 3 entries" in res.output
    jsonschema.validate(json.loads(out.read_text()), json.loads(SCHEMA.read_text()))


def test_refuses_to_merge_into_foreign_file(tmp_path, runs):
    out = tmp_path / "other.json"
    out.write_text('{"results": []}\n')
    res = export(str(runs[0]), "--out", str(out))
    assert res.exit_code == 1 and "is not an evalkit leaderboard" in res.output and res.output.count("\n") == 1
    assert out.read_text() == '{"results": []}\n'  # untouched
    res = export(str(runs[0]), str(tmp_path / "missing"), "--out", str(tmp_path / "new.json"))
    assert res.exit_code == 1 and not (tmp_path / "new.json").exists()  # nothing half-written


def test_schema_ships_with_the_package():
    from evalkit.reports.export import schema

    s = schema()
    jsonschema.Draft202012Validator.check_schema(s)
    assert s == json.loads(SCHEMA.read_text())
