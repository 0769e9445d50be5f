"""`evalkit run --shard I/N` + `evalkit merge` against a single-machine run of the same command.

The reference is an independent computation: one plain `evalkit run`. Shards merged must reproduce
its samples.jsonl (as a set of records, bit for bit) and its metrics.json.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from evalkit.shard import BLOCK, in_shard, parse_shard, shard_of
from evalkit.types import EvalkitError

from rundirs import cli_result as cli, metrics, records  # noqa: E402

RUN = ["run", "--model", "tiny-arith", "--bench", "arith", "--limit", "6", "--n", "4", "--k", "1,4", "--backend", "hf"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One single run and the same command as three shards."""
    root = tmp_path_factory.mktemp("shards")
    code, out = cli(*RUN, "--out", str(root / "single"))
    assert code == 0, out
    for i in range(3):
        code, out = cli(*RUN, "--shard", f"{i}/3", "--out", str(root / f"s{i}"))
        assert code == 0, out
        assert f"shard {i}/3" in out
    return root


@pytest.mark.slow
def test_merged_shards_equal_single_run(runs: Path, tmp_path: Path) -> None:
    code, out = cli("merge", str(runs / "s0"), str(runs / "s1"), str(runs / "s2"), "--out", str(tmp_path / "m"))
    assert code == 0, out
    single = records(runs / "single")
    assert len(single) == 24
    assert records(tmp_path / "m") == single
    assert records(tmp_path / "m", "tokens.jsonl") == records(runs / "single", "tokens.jsonl")  # the drawn ids travel too
    assert metrics(tmp_path / "m") == metrics(runs / "single")
    shard_costs = [json.loads((runs / f"s{i}" / "manifest.json").read_text())["cost"]["draw"] for i in range(3)]
    merged_cost = json.loads((tmp_path / "m" / "manifest.json").read_text())["cost"]["draw"]
    assert merged_cost["completion_tokens"] == sum(c["completion_tokens"] for c in shard_costs)  # the shards' costs add up
    # the merged run is a complete run: one line per pair, nothing duplicated
    assert len((tmp_path / "m" / "samples.jsonl").read_text().splitlines()) == 24


@pytest.mark.slow
def test_shards_partition_the_run(runs: Path) -> None:
    """Disjoint, covering, balanced (6 problems x 4 samples in one block each: 2 problems a shard)."""
    parts = [records(runs / f"s{i}") for i in range(3)]
    assert [len(p) for p in parts] == [8, 8, 8]
    assert set().union(*parts) == records(runs / "single")
    for i, s in enumerate(parts):
        assert json.loads((runs / f"s{i}" / "manifest.json").read_text())["shard"] == f"{i}/3"
        assert not (runs / f"s{i}" / "metrics.json").exists()  # a shard leaves metrics to merge
        assert len(records(runs / f"s{i}", "grades.jsonl")) == 8  # but grades its own samples


def test_shard_assignment_brute_force() -> None:
    """Every pair in exactly one shard; sizes within one block; assignment independent of n."""
    for count in (1, 2, 3, 7):
        for n in (1, 5, BLOCK, 3 * BLOCK + 5):
            problems = 11
            owners = [[s for s in range(count) if in_shard(p, i, (s, count), problems)] for p in range(problems) for i in range(n)]
            assert all(len(o) == 1 for o in owners)
            sizes = [sum(o == [s] for o in owners) for s in range(count)]
            assert max(sizes) - min(sizes) <= BLOCK
    # extending n keeps the old pairs where they were
    assert [shard_of(3, i, 4, 11) for i in range(100)] == [shard_of(3, i, 4, 11) for i in range(300)][:100]


@pytest.mark.parametrize("bad", ["3/3", "0/0", "a/b", "1", "-1/2"])
def test_bad_shard_spec(bad: str) -> None:
    with pytest.raises(EvalkitError, match="shard"):
        parse_shard(bad)


def test_bad_shard_on_cli_is_one_line(tmp_path: Path) -> None:
    code, out = cli(*RUN, "--shard", "4/4", "--out", str(tmp_path / "x"))
    assert code != 0
    assert out.strip().count("\n") == 0 and out.startswith("error: --shard 4/4")
    assert not (tmp_path / "x").exists()


@pytest.mark.slow
def test_mismatched_shards_refused(runs: Path, tmp_path: Path) -> None:
    other = tmp_path / "seed1"
    code, out = cli(*RUN, "--seed", "1", "--shard", "1/3", "--out", str(other))
    assert code == 0, out
    code, out = cli("merge", str(runs / "s0"), str(other), str(runs / "s2"), "--out", str(tmp_path / "m"))
    assert code != 0
    assert out.strip().count("\n") == 0, out
    assert out.startswith("error: cannot merge runs of different manifests: seed")
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_missing_shard_refused(runs: Path, tmp_path: Path) -> None:
    code, out = cli("merge", str(runs / "s0"), str(runs / "s2"), "--out", str(tmp_path / "m"))
    assert code != 0
    assert out.strip().count("\n") == 0, out
    assert "lack 8 of 24 samples" in out and "shard 1/3" in out
    assert not (tmp_path / "m").exists()


@pytest.mark.slow
def test_merge_overlapping_partial_runs(runs: Path, tmp_path: Path) -> None:
    """Two interrupted plain runs (overlapping, ungraded): merge dedups, grades, and equals the run."""
    lines = (runs / "single" / "samples.jsonl").read_text().splitlines(keepends=True)
    for name, part in (("a", lines[:15]), ("b", lines[9:])):
        d = tmp_path / name
        d.mkdir()
        shutil.copy(runs / "single" / "manifest.json", d)
        shutil.copy(runs / "single" / "prompts.jsonl", d)
        (d / "samples.jsonl").write_text("".join(part))
    code, out = cli("merge", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "m"))
    assert code == 0, out
    assert len((tmp_path / "m" / "samples.jsonl").read_text().splitlines()) == 24
    assert records(tmp_path / "m") == records(runs / "single")
    assert records(tmp_path / "m", "grades.jsonl") == records(runs / "single", "grades.jsonl")
    assert metrics(tmp_path / "m") == metrics(runs / "single")


@pytest.mark.slow
def test_merge_rejects_k_above_n(runs: Path, tmp_path: Path) -> None:
    code, out = cli("merge", str(runs / "s0"), str(runs / "s1"), str(runs / "s2"), "--out", str(tmp_path / "m"), "--k", "8")
    assert code != 0 and out.startswith("error: k=8 exceeds") and out.strip().count("\n") == 0
    assert not (tmp_path / "m").exists()


def test_merge_of_planted_shards_equals_the_whole_run(tmp_path: Path) -> None:
    """No model: a planted arith run dealt into two shard directories as `--shard I/2` deals it; merged,
    it is the whole run again, and its pass@k is the exact mean over problems."""
    from fractions import Fraction
    from math import comb

    import numpy as np

    from evalkit.adapters.loading import load
    from rundirs import make_run

    rows = np.random.default_rng(4).random((12, 4)) < 0.4
    whole = make_run(tmp_path / "whole", rows, data_hash=load("arith").data_hash)
    manifest = json.loads((whole / "manifest.json").read_text())
    manifest.update(limit=12, ks=[1, 4], data_source="builtin:arith")
    (whole / "manifest.json").write_text(json.dumps(manifest))
    shards = [tmp_path / f"s{i}" for i in range(2)]
    for i, shard in enumerate(shards):
        shard.mkdir()
        (shard / "manifest.json").write_text(json.dumps({**manifest, "shard": f"{i}/2"}))
        for name in ("samples.jsonl", "grades.jsonl"):
            lines = (whole / name).read_text().splitlines(keepends=True)
            mine = [line for line in lines if shard_of(int(json.loads(line)["problem_id"].split("/")[1]), json.loads(line)["sample_index"], 2, 12) == i]
            (shard / name).write_text("".join(mine))
    assert all(0 < len((s / "samples.jsonl").read_text().splitlines()) < 48 for s in shards)
    code, out = cli("merge", *map(str, shards), "--out", str(tmp_path / "m"))
    assert code == 0, out
    for name in ("samples.jsonl", "grades.jsonl"):
        assert records(tmp_path / "m", name) == records(whole, name)
    exact = sum(Fraction(1) - Fraction(comb(4 - int(c), 4), comb(4, 4)) for c in rows.sum(axis=1)) / 12
    assert metrics(tmp_path / "m")["pass_at_k"]["4"] == pytest.approx(float(exact))
    assert metrics(tmp_path / "m")["pass_at_k"]["1"] == pytest.approx(rows.mean())
