"""evalkit view: the static report and the --serve page in a real headless Chromium (Debian's
/usr/bin/chromium driven by Playwright): one row per problem, filters and search against sets computed
here from the planted runs, a sample opened, the figures equal to `compare --format json`, no network
access; bad inputs as one line with no partial file. Browser tests skip when chromium or playwright
is missing (.ci/run installs both)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import threading
import urllib.error
import urllib.request
from fractions import Fraction
from math import comb
from pathlib import Path

import numpy as np
import pytest

from evalkit.reports.view import MAX_CHARS, choose_samples, load_view, make_server
from rundirs import cli_result, make_run

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
N, PROBLEMS = 12, 30
NEEDLE = "zebracrossing"  # appears in one embedded completion only
LONG_MIDDLE = "MIDDLE-OF-A-LONG-COMPLETION"


# -- planted runs ---------------------------------------------------------------------------------
def arith_ids_and_hash() -> tuple[list[str], str, dict]:
    from evalkit.adapters.loading import load

    loaded = load("arith")
    probs = loaded.problems[:PROBLEMS]
    return [p.id for p in probs], loaded.data_hash, {p.id: p for p in probs}


def completion_for(seed: int):
    def text(row: int, i: int) -> str:
        if seed == 1 and row == 5 and i == 0:
            return f"<think>\nthe {NEEDLE} is where I start\n</think>\nThe answer is 4."
        if seed == 1 and row == 7 and i == N - 1:  # never embedded with --max-samples 1: only --serve shows it
            return "<think>\n" + "x" * MAX_CHARS + LONG_MIDDLE + "y" * MAX_CHARS + "\n</think>\nend"
        return f"<think>\nreasoning about problem {row}, sample {i}\n</think>\nSo the result is {i % 3}."
    return text


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """A baseline and a better checkpoint on the first problems of the built-in arith benchmark (so
    its metadata and gold answers load), with truncated / no_answer samples planted."""
    root = tmp_path_factory.mktemp("view")
    ids, data_hash, problems = arith_ids_and_hash()
    rng = np.random.default_rng(3)
    p = rng.beta(0.7, 0.9, PROBLEMS)
    base = rng.random((PROBLEMS, N)) < p[:, None]
    rl = rng.random((PROBLEMS, N)) < np.clip(p[:, None] + 0.15, 0, 1)
    base[0], rl[0] = True, False  # solved by the baseline only
    base[1], rl[1] = False, False  # never solved
    base[2], rl[2] = False, True  # solved by rl only
    statuses = {(r, i): "truncated" for r in (3, 9) for i in range(N) if not base[r, i]}
    statuses[(4, N - 1)] = "no_answer"
    base[4, N - 1] = False
    a = make_run(root / "base", base, model="base", benchmark="arith", data_hash=data_hash, ids=ids, statuses=statuses,
                 seed=1, completion=completion_for(1))
    b = make_run(root / "rl", rl, model="rl", benchmark="arith", data_hash=data_hash, ids=ids, seed=2, completion=completion_for(2))
    return {"root": root, "a": a, "b": b, "base": base, "rl": rl, "statuses": statuses, "ids": ids, "problems": problems}


@pytest.fixture(scope="module")
def report(runs):
    out = runs["root"] / "report.html"
    code, text = cli_result("view", str(runs["a"]), str(runs["b"]), "--out", str(out))
    assert code == 0, text
    assert re.search(r"wrote .*report\.html: \d+\.\d MB, 30 problems x 2 checkpoints", text), text
    code, text = cli_result("compare", str(runs["a"]), str(runs["b"]), "--format", "json")
    assert code == 0, text
    return out, json.loads(text)["benchmarks"][0]


# -- the browser ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip install -e '.[dev]')")
    with sync_api.sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM,
                                                   headless=True, args=ARGS, viewport={"width": 1400, "height": 950})
        yield ctx
        ctx.close()


@pytest.fixture
def page(browser):
    page = browser.new_page()
    page.requests, page.errors = [], []
    page.on("request", lambda r: page.requests.append(r.url))
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    yield page
    assert not page.errors, page.errors
    page.close()


def open_page(page, url: str) -> None:
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=30_000)
    assert page.evaluate("document.body.dataset.ready") == "1", page.inner_text("#app")


def visible_ids(page) -> set[str]:
    return set(page.eval_on_selector_all("tr[data-problem-id]:not([hidden])", "rows => rows.map(r => r.dataset.problemId)"))


def wait_rows(page, check, timeout_ms: int = 5000) -> set[str]:
    """The visible rows once `check(rows)` holds (the search box is debounced). Polled from Python:
    the page's Content-Security-Policy forbids the string evaluation wait_for_function uses."""
    for _ in range(timeout_ms // 50):
        rows = visible_ids(page)
        if check(rows):
            return rows
        page.wait_for_timeout(50)
    return visible_ids(page)


def exact_pass(row: np.ndarray, k: int) -> Fraction:
    n, c = len(row), int(row.sum())
    return 1 - Fraction(comb(n - c, k), comb(n, k))


# -- static report ----------------------------------------------------------------------------------
def test_one_row_per_problem_and_figures_equal_compare(runs, report, page):
    out, bench = report
    open_page(page, out.as_uri())
    ids = page.eval_on_selector_all("[data-problem-id]", "els => els.map(e => e.dataset.problemId)")
    assert sorted(ids) == sorted(runs["ids"]) and len(ids) == PROBLEMS
    for j, run in enumerate(bench["runs"]):
        for k in bench["ks"]:
            key = str(k)
            cell = page.locator(f'[data-fig="pass-table"][data-run="{j}"][data-k="{k}"]')
            assert float(cell.get_attribute("data-value")) == run["pass_at_k"][key]["value"]
            assert abs(float(cell.inner_text()) - 100 * run["pass_at_k"][key]["value"]) <= 0.005 + 1e-9
            point = page.locator(f'[data-fig="curve-point"][data-run="{j}"][data-k="{k}"]')
            assert float(point.get_attribute("data-value")) == run["pass_at_k"][key]["value"]
            if run["vs_baseline"]:
                d = run["vs_baseline"]["diff"][key]
                assert float(page.get_attribute(f'[data-fig="diff"][data-run="{j}"][data-k="{k}"]', "data-value")) == d["diff"]
                assert float(page.get_attribute(f'[data-fig="p"][data-run="{j}"][data-k="{k}"]', "data-value")) == d["p_value"]
        for status, fraction in run["status_fraction"].items():
            if fraction:
                assert float(page.get_attribute(f'[data-fig="status"][data-run="{j}"][data-status="{status}"]', "data-value")) == fraction
        for stat in ("entropy", "logprob", "tokens"):
            for part in ("correct", "wrong"):
                shown = page.get_attribute(f'[data-fig="stat"][data-stat="{stat}"][data-part="{part}"][data-run="{j}"]', "data-value")
                assert float(shown) == run[stat][part]
        assert float(page.get_attribute(f'[data-fig="truncation"][data-run="{j}"]', "data-value")) == run["truncation"]["rate"]
    # and compare's numbers are the exact estimator (independent: rationals from the planted matrices)
    for j, matrix in enumerate((runs["base"], runs["rl"])):
        for k in (1, N):
            shown = float(page.get_attribute(f'[data-fig="pass"][data-run="{j}"][data-k="{k}"]', "data-value"))
            exact = sum(exact_pass(row, k) for row in matrix) / PROBLEMS
            assert abs(shown - float(exact)) < 1e-12
    crossover = page.inner_text('[data-fig="crossover"][data-run="1"]')
    xs = bench["runs"][1]["vs_baseline"]["crossover_k"]
    assert all(f"k = {x['k']}" in crossover for x in xs) and (xs or "no crossover" in crossover)


def test_no_external_references(report, page):
    out, _ = report
    html = out.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href|action)\s*=\s*["']?\s*(https?:)?//""", html, re.I)
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    open_page(page, out.as_uri())
    page.click('tr[data-problem-id="arith/5"]')
    page.wait_for_selector(".sample")
    refs = page.eval_on_selector_all("[src], [href]", "els => els.map(e => e.getAttribute('src') || e.getAttribute('href'))")
    assert not [r for r in refs if re.match(r"\s*(https?:)?//", r)], refs
    assert page.requests == [out.as_uri()], page.requests  # the page itself, nothing else


def test_filter_and_search(runs, report, page):
    out, _ = report
    open_page(page, out.as_uri())
    ids, base, rl = runs["ids"], runs["base"], runs["rl"]
    page.select_option("#f-only-a", "0")
    page.select_option("#f-only-b", "1")
    want = {pid for pid, a, b in zip(ids, base, rl) if a.any() and not b.any()}
    assert "arith/0" in want and visible_ids(page) == want
    page.select_option("#f-only-a", "1")
    page.select_option("#f-only-b", "0")
    assert visible_ids(page) == {pid for pid, a, b in zip(ids, base, rl) if b.any() and not a.any()}
    page.select_option("#f-only-a", "")
    assert len(visible_ids(page)) == PROBLEMS

    page.select_option("#f-status", str(["correct", "wrong", "no_answer", "truncated"].index("truncated")))
    assert visible_ids(page) == {ids[r] for (r, _), s in runs["statuses"].items() if s == "truncated"}
    page.select_option("#f-status", "")
    kind = runs["problems"]["arith/3"].metadata["kind"]
    page.select_option('select[data-meta="kind"]', kind)
    assert visible_ids(page) == {pid for pid, p in runs["problems"].items() if p.metadata["kind"] == kind}
    page.select_option('select[data-meta="kind"]', "")

    page.click('.chip[data-quick="unsolved"]')
    assert visible_ids(page) == {pid for pid, a, b in zip(ids, base, rl) if not a.any() and not b.any()}
    page.click('.chip[data-quick="all"]')

    page.fill("#search", NEEDLE.upper())
    assert wait_rows(page, lambda rows: len(rows) < PROBLEMS) == {"arith/5"}
    question = runs["problems"]["arith/11"].prompt  # problem text
    page.fill("#search", question)
    want = {pid for pid, p in runs["problems"].items() if question.lower() in p.prompt.lower()}
    assert wait_rows(page, lambda rows: rows == want) == want
    page.fill("#search", "")
    assert len(wait_rows(page, lambda rows: len(rows) == PROBLEMS)) == PROBLEMS


def test_sort_by_change(runs, report, page):
    out, bench = report
    open_page(page, out.as_uri())
    page.click('th[data-key="d:1"]')
    order = page.eval_on_selector_all("tr[data-problem-id]", "rows => rows.map(r => r.dataset.problemId)")
    delta = {pid: b.mean() - a.mean() for pid, a, b in zip(runs["ids"], runs["base"], runs["rl"])}
    values = [delta[pid] for pid in order]
    assert all(x >= y - 1e-12 for x, y in zip(values, values[1:])) and values[0] > values[-1]


def test_open_sample(runs, report, page):
    out, _ = report
    open_page(page, out.as_uri())
    page.click('tr[data-problem-id="arith/5"]')
    page.wait_for_selector(".sample")
    page.click('.smp-btn[data-run="0"][data-index="0"]')
    page.wait_for_selector('.sample[data-sample="0:arith/5#0"]')
    sample = page.locator(".sample")
    think = sample.locator("details.think")
    assert think.count() == 1 and not think.evaluate("d => d.open")  # the <think> block is folded
    assert NEEDLE in think.inner_text() or NEEDLE in think.evaluate("d => d.textContent")
    assert "The answer is 4." in sample.locator('[data-field="completion"]').inner_text()
    assert sample.locator('[data-field="gold"]').inner_text() == runs["problems"]["arith/5"].answer
    assert sample.locator('[data-field="answer"]').inner_text() == "0"  # make_run's answer: index % 3
    status = "correct" if runs["base"][5, 0] else "wrong"
    assert sample.locator('[data-field="detail"]').inner_text().startswith(status)
    text = sample.inner_text()
    assert "seed 1" in text and "finish stop" in text and "tokens" in text and "entropy" in text
    strip = page.locator('.strip[data-run="0"] span')
    assert strip.count() == N  # every sample's status, embedded or not


# -- --serve ---------------------------------------------------------------------------------------
@pytest.fixture
def server(runs):
    view = load_view([str(runs["a"]), str(runs["b"])])
    server = make_server(view, "127.0.0.1", 0, max_samples=1)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_serve_api_returns_full_text_of_any_sample(runs, server):
    with urllib.request.urlopen(server + f"api/sample?run=0&problem=arith/7&index={N - 1}") as res:
        rec = json.loads(res.read())
    assert LONG_MIDDLE in rec["text"] and rec["cut"] == 0 and len(rec["text"]) > 2 * MAX_CHARS
    with urllib.request.urlopen(server + "api/sample?run=1&problem=arith/3&index=0") as res:
        other = json.loads(res.read())
    grade = next(json.loads(line) for line in (runs["b"] / "grades.jsonl").read_text().splitlines()
                 if json.loads(line)["problem_id"] == "arith/3" and json.loads(line)["sample_index"] == 0)
    assert other["status"] == grade["status"] and other["answer"] == grade["answer"] and other["seed"] == 2
    for bad in ("run=5&problem=arith/3&index=0", "run=0&problem=arith/3&index=99", "run=0&problem=nope&index=0", "run=x"):
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(server + "api/sample?" + bad)
        assert e.value.code == 404


def test_serve_command_says_where_it_listens(runs):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "evalkit", "view", str(runs["a"]), "--serve", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        line = proc.stdout.readline()
        m = re.match(r"serving (http://127\.0\.0\.1:(\d+)/) \(bound to 127\.0\.0\.1, loopback only", line)
        assert m, line
        with urllib.request.urlopen(m.group(1)) as res:
            assert b'id="evalkit-data"' in res.read()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_baseline_option_puts_that_run_first(runs):
    view = load_view([str(runs["b"])], baselines=[str(runs["a"])])
    assert [r.label for r in view.runs] == ["base", "rl"] and view.report["baseline"] == "base"
    assert view.problems is not None and view.problems["arith/0"].metadata["kind"]


def test_serve_page_opens_a_sample_that_is_not_embedded(server, page):
    open_page(page, server)
    page.click('tr[data-problem-id="arith/7"]')
    page.wait_for_selector(".sample")
    page.click(f'.strip[data-run="0"] span[data-index="{N - 1}"]')
    page.wait_for_selector(f'.sample[data-sample="0:arith/7#{N - 1}"]')
    think = page.locator(".sample details.think")
    assert LONG_MIDDLE in think.evaluate("d => d.textContent")
    assert all(r.startswith(server) for r in page.requests), page.requests


def test_static_report_cuts_long_texts(runs):
    from evalkit.reports.view import sample_record
    from evalkit.store import RunStore

    long = next(s for s in RunStore(runs["a"]).iter_samples() if LONG_MIDDLE in s.completion)
    rec = sample_record(long, None, None, MAX_CHARS)
    assert LONG_MIDDLE not in rec["text"] and rec["cut"] == len(long.completion) - MAX_CHARS
    head, tail = rec["text"].split("\u0000")
    assert long.completion.startswith(head) and long.completion.endswith(tail) and len(head) + len(tail) == MAX_CHARS


# -- choosing samples ------------------------------------------------------------------------------
def test_choose_samples_shows_each_status_then_each_answer():
    rng = np.random.default_rng(0)
    for _ in range(300):
        n = int(rng.integers(1, 40))
        status = rng.choice([0, 1, 1, 1, 2, 3], n).astype(np.uint8)
        answer = np.where(status <= 1, rng.integers(0, 4, n), -1).astype(np.int32)
        limit = int(rng.integers(0, 8))
        got = choose_samples(status, answer, limit)
        pairs = {(int(s), int(a)) for s, a in zip(status, answer)}
        statuses = {int(s) for s in status}
        assert len(got) == min(limit, len(pairs)) and len(set(got)) == len(got)
        chosen = {(int(status[i]), int(answer[i])) for i in got}
        assert len(chosen) == len(got)  # never two samples of one (status, answer)
        if limit >= len(statuses):
            assert {s for s, _ in chosen} == statuses
        if limit and 0 in statuses:
            assert 0 in {s for s, _ in chosen}
        for i in got:  # the first sample of its kind
            assert not any((status[h], answer[h]) == (status[i], answer[i]) for h in range(i))


# -- code -------------------------------------------------------------------------------------------
def test_code_sample_shows_program_and_failing_test(tmp_path, data_dir, page):
    rows = [json.loads(line) for line in (data_dir / "humaneval.jsonl").read_text().splitlines()[:2]]
    samples = tmp_path / "samples.jsonl"
    with open(samples, "w") as f:
        for r in rows:
            for text in (r["canonical_solution"], "    return None\n", "    while True:\n        pass\n"):
                f.write(json.dumps({"task_id": r["task_id"], "completion": text}) + "\n")
    run = tmp_path / "run"
    code, text = cli_result("score", "--bench", "humaneval", "--samples", str(samples), "--out", str(run), "--data",
                            str(data_dir / "humaneval.jsonl"))
    assert code == 0, text
    out = tmp_path / "code.html"
    code, text = cli_result("view", str(run), "--out", str(out))
    assert code == 0, text
    open_page(page, out.as_uri())
    assert len(visible_ids(page)) == 2
    page.click('tr[data-problem-id="HumanEval/0"]')
    grades = {g["sample_index"]: g for g in map(json.loads, (run / "grades.jsonl").read_text().splitlines()) if g["problem_id"] == "HumanEval/0"}
    for i in (1, 2):
        page.click(f'.smp-btn[data-run="0"][data-index="{i}"]')
        page.wait_for_selector(f'.sample[data-sample="0:HumanEval/0#{i}"]')
        program = page.inner_text(".sample pre.code")
        assert program.startswith(rows[0]["prompt"].strip()[:40]) and ("return None" in program or "while True" in program)
        detail = page.inner_text('.sample [data-field="detail"]')
        assert detail == f"{grades[i]['status']}: {grades[i]['detail']}" and grades[i]["status"] in ("wrong", "timeout")
        line = re.search(r"test line (\d+)", grades[i]["detail"])
        if line:  # the test source line the grade names
            want = rows[0]["test"].splitlines()[int(line.group(1)) - 1].strip()
            assert page.inner_text('.sample [data-field="failing-test"]') == want and want.startswith("assert")


# -- bad input ------------------------------------------------------------------------------------
def one_line_failure(out: Path, *args: str) -> str:
    code, text = cli_result("view", *args, "--out", str(out))
    assert code != 0 and text.startswith("error: ") and len(text.strip().splitlines()) == 1, text
    assert not out.exists()
    assert not out.parent.exists() or not [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}")]
    return text


def test_bad_inputs_are_one_line_and_write_nothing(tmp_path):
    rows = [[True, False, True]] * 4
    a = make_run(tmp_path / "a", rows)
    other = make_run(tmp_path / "other", rows, benchmark="gsm8k")
    v2 = make_run(tmp_path / "v2", rows, data_hash="sha256:v2")
    reports = tmp_path / "reports"
    reports.mkdir()
    out = reports / "r.html"
    assert "different benchmarks" in one_line_failure(out, str(a), str(other))
    assert "different versions" in one_line_failure(out, str(a), str(v2))
    unfinished = make_run(tmp_path / "unfinished", rows)
    lines = (unfinished / "grades.jsonl").read_text().splitlines()
    (unfinished / "grades.jsonl").write_text("\n".join(lines[:-1]) + "\n")
    assert "unfinished" in one_line_failure(out, str(a), str(unfinished))
    ungraded = make_run(tmp_path / "ungraded", rows)
    (ungraded / "grades.jsonl").unlink()
    assert "no graded samples" in one_line_failure(out, str(ungraded))
    assert "no such run directory" in one_line_failure(out, str(tmp_path / "missing"))
    assert "does not exist" in one_line_failure(tmp_path / "nowhere" / "r.html", str(a))
    code, text = cli_result("view", str(a))
    assert code != 0 and text.startswith("error: ") and "--out" in text


def test_port_in_use_is_one_line(tmp_path):
    a = make_run(tmp_path / "a", [[True, False]] * 3)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        code, text = cli_result("view", str(a), "--serve", "--port", str(port))
    assert code != 0 and text.startswith("error: ") and len(text.strip().splitlines()) == 1 and f"port {port}" in text, text


def test_missing_benchmark_data_degrades(tmp_path):
    a = make_run(tmp_path / "a", [[True, False]] * 3, benchmark="math500", data_hash="sha256:elsewhere")
    out = tmp_path / "r.html"
    env = os.environ.pop("EVALKIT_DATA_DIR", None)
    try:
        code, text = cli_result("view", str(a), "--out", str(out), "--data", str(tmp_path / "absent.jsonl"))
    finally:
        if env is not None:
            os.environ["EVALKIT_DATA_DIR"] = env
    assert code == 0 and out.exists() and "note: benchmark data not found" in text, text
    shutil.rmtree(a)
