"""`evalkit view`: one HTML page that shows why checkpoints differ, problem by problem.

The page's figures are the `compare` report itself (reports/compare.py) and the pass@k curves of
reports/plots.pass_curve: the browser only draws numbers computed here, by the code every other view
uses. Per problem it embeds aggregates for every problem (c/n, status counts, each sample's status,
the most frequent answers) and the texts of a few samples per (problem, checkpoint), chosen to show
each distinct (status, answer); run files are streamed and only those samples are decoded.

Static (`--out`): one self-contained file, data gzipped inside it, a Content-Security-Policy that
forbids any network access. `--serve`: the same page from a loopback HTTP server (standard library)
that reads any sample's full text from the run directories on demand, by byte offset.
"""

from __future__ import annotations

import base64
import datetime as _dt
import gzip
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..store import GRADES, SAMPLES, RunStore, sample_head
from ..types import STATUSES, EvalkitError, Problem, natural_key
from .compare import Group, compare_dirs
from .plots import pass_curve
from .runs import RunData

DEFAULT_MAX_SAMPLES = 4  # texts embedded per (problem, checkpoint) in a static page
MAX_CHARS = 20_000  # a longer completion keeps its head and tail in a static page (--serve shows all)
HEAD_CHARS = 6_000
TOP_ANSWERS = 6  # most frequent answers listed per (problem, checkpoint)
HIST_BINS = 24
META_MAX_VALUES = 40  # a metadata field with more distinct values is not offered as a filter
META_FIRST = ("level", "subject", "subfield", "type", "kind", "answer_type")  # shown as columns first
ASSETS = Path(__file__).resolve().parent.parent / "assets" / "view"
STATUS_CHARS = "".join(str(i) for i in range(len(STATUSES)))


@dataclass
class View:
    """What a page is made of: one benchmark's runs (baseline first), their compare report, and the
    benchmark's problems when its data can be found (for metadata, gold answers and code programs)."""

    group: Group
    report: dict  # the benchmark's entry of compare's report, as `compare --format json` prints it
    problems: dict[str, Problem] | None
    data_note: str

    @property
    def runs(self) -> list[RunData]:
        return self.group.runs

    @property
    def family(self) -> str:
        return self.runs[0].family


def load_view(paths: Sequence[str], baselines: Sequence[str] = (), data: str | None = None) -> View:
    """Load and check the runs (one benchmark, one data version, finished and graded), compare them."""
    groups, report = compare_dirs(paths, baselines)
    if len(groups) > 1:
        names = ", ".join(f"{g.benchmark} ({g.runs[0].path})" for g in groups)
        raise EvalkitError(f"the runs are on different benchmarks: {names}; view the runs of one benchmark at a time")
    problems, note = benchmark_problems(groups[0].runs[0], data)
    return View(groups[0], report["benchmarks"][0], problems, note)


def benchmark_problems(run: RunData, data: str | None) -> tuple[dict[str, Problem] | None, str]:
    """The run's benchmark problems from --data, the run's recorded data source, or the usual lookup;
    None (and why) when none of them has the very data the run was made on."""
    from ..adapters.loading import load

    source = data or run.manifest.get("data_source")
    if source and not data and not Path(source).exists():
        source = None  # a hub source or a file on another machine: try the usual lookup
    try:
        loaded = load(run.benchmark, source, run.manifest.get("selection"))
    except EvalkitError as e:
        return None, f"benchmark data not found ({e}); metadata and gold answers are not shown: pass --data FILE"
    if run.data_hash and loaded.data_hash != run.data_hash:
        return None, (f"{loaded.source} is another version of {run.benchmark} ({loaded.data_hash}, the runs used {run.data_hash}); "
                      "metadata and gold answers are not shown: pass the run's file with --data")
    return {p.id: p for p in loaded.problems}, f"problems from {loaded.source}"


# -- figures ------------------------------------------------------------------------------------
def figures(view: View) -> dict:
    """Curves (plots.pass_curve, as in the PNG) and correct/wrong histograms of the token statistics."""
    curves = []
    for run in view.runs:
        ks, mean, lo, hi = pass_curve(run)
        curves.append({"ks": ks, "mean": mean.tolist(), "lo": lo.tolist(), "hi": hi.tolist()})
    hists = {}
    for name in ("entropy", "logprob", "tokens"):
        hist = _histograms(view.runs, name)
        if hist is not None:
            hists[name] = hist
    return {"curves": curves, "hists": hists}


def _histograms(runs: Sequence[RunData], name: str) -> dict | None:
    """Shares of correct and of wrong samples per bin (bins shared by all runs, spanning the pooled
    1st-99th percentiles)."""
    values = [getattr(r.table, name) for r in runs]
    known = [v[~np.isnan(v)] for v in values]
    pooled = np.concatenate(known) if known else np.zeros(0)
    if name == "tokens":
        pooled = pooled[pooled > 0]
    if len(pooled) == 0:
        return None
    lo, hi = np.quantile(pooled, [0.01, 0.99])
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, HIST_BINS + 1)
    out = []
    for run, v in zip(runs, values):
        ok = ~np.isnan(v)
        part = {}
        for key, mask in (("correct", ok & run.table.correct), ("wrong", ok & ~run.table.correct)):
            counts, _ = np.histogram(v[mask], bins=edges)  # the 1% tails beyond the edges are left out
            part[key] = (counts / max(1, mask.sum())).tolist()
            part[f"num_{key}"] = int(mask.sum())
        out.append(part)
    return {"edges": edges.tolist(), "runs": out}


# -- problems -----------------------------------------------------------------------------------
def choose_samples(status: np.ndarray, answer: np.ndarray, limit: int) -> list[int]:
    """Up to `limit` sample indices of one (problem, run) showing each distinct status first (its most
    common answer), then each further distinct answer by frequency; the first sample of each."""
    if limit <= 0 or len(status) == 0:
        return []
    keys = status.astype(np.int64) * (1 << 32) + answer.astype(np.int64) + 1
    uniq, first, counts = np.unique(keys, return_index=True, return_counts=True)
    order = sorted(range(len(uniq)), key=lambda j: (-counts[j], first[j]))
    picked, seen_status = [], set()
    for j in order:  # one per status, most common answer of that status, correct first
        st = int(uniq[j] >> 32)
        if st not in seen_status:
            seen_status.add(st)
            picked.append(j)
    picked.sort(key=lambda j: (uniq[j] >> 32 != 0, -counts[j]))
    picked += [j for j in order if j not in picked]
    return sorted(int(first[j]) for j in picked[:limit])


def top_answers(answer: np.ndarray, correct: np.ndarray) -> list[tuple[int, int, bool]]:
    """(first sample index, count, correct) of the most frequent answer classes of one (problem, run)."""
    voted = np.flatnonzero(answer >= 0)
    if not len(voted):
        return []
    classes, first, counts = np.unique(answer[voted], return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))[:TOP_ANSWERS]
    return [(int(voted[first[j]]), int(counts[j]), bool(correct[voted[first[j]]])) for j in order]


def problem_ids(view: View) -> list[str]:
    """Every problem any run graded, in natural id order."""
    ids = {p for run in view.runs for p in run.problem_ids}
    return sorted(ids, key=natural_key)


def problem_rows(view: View, max_samples: int) -> tuple[list[dict], list[dict[str, list[int]]], list[dict[str, list[int]]]]:
    """One row per problem (aggregates of every run, the paired pass@1 change against the baseline),
    plus per run the sample indices to embed and those whose extracted answer is listed."""
    ids = problem_ids(view)
    base = view.runs[0]
    rows = [{"id": pid, "runs": [None] * len(view.runs), "delta": [None] * len(view.runs)} for pid in ids]
    at = {pid: i for i, pid in enumerate(ids)}
    embed: list[dict[str, list[int]]] = []
    answers: list[dict[str, list[int]]] = []
    for j, run in enumerate(view.runs):
        table, want, reps = run.table, {}, {}
        c = table.c
        for r, pid in enumerate(table.problem_ids):
            lo, hi = int(table.offsets[r]), int(table.offsets[r + 1])
            st, ans, ok = table.status[lo:hi], table.answer[lo:hi], table.correct[lo:hi]
            top = top_answers(ans, ok)
            want[pid] = choose_samples(st, ans, max_samples)
            reps[pid] = [i for i, _, _ in top]
            rows[at[pid]]["runs"][j] = {
                "c": int(c[r]), "n": hi - lo, "strip": "".join(STATUS_CHARS[s] for s in st.tolist()),
                "counts": np.bincount(st, minlength=len(STATUSES)).tolist(),
                "answers": [[i, count, good] for i, count, good in top], "samples": want[pid],
            }
        embed.append(want)
        answers.append(reps)
        if j:
            theirs = set(run.problem_ids)
            shared = [p for p in base.problem_ids if p in theirs]
            if shared:
                delta = run.per_problem("pass", 1, shared) - base.per_problem("pass", 1, shared)
                for pid, d in zip(shared, delta.tolist()):
                    rows[at[pid]]["delta"][j] = d
    return rows, embed, answers


def add_problem_facts(view: View, rows: list[dict]) -> tuple[list[str], list[str]]:
    """Benchmark metadata and gold per row; returns (metadata keys offered as filters, all keys)."""
    if view.problems is None:
        return [], []
    keys: dict[str, set] = {}
    for row in rows:
        p = view.problems.get(row["id"])
        if p is None:
            continue
        meta = {k: v for k, v in p.metadata.items() if k != "source_id" and isinstance(v, (str, int, float, bool))}
        row["meta"] = meta
        row["gold"] = p.answer
        row["question"] = p.prompt
        if p.tests:
            row["entry_point"] = p.tests.entry_point
        for k, v in meta.items():
            keys.setdefault(k, set()).add(v)
    rank = {k: i for i, k in enumerate(META_FIRST)}
    filters = sorted((k for k, vals in keys.items() if 1 < len(vals) <= META_MAX_VALUES), key=lambda k: rank.get(k, len(rank)))
    return filters, list(keys)


# -- sample texts --------------------------------------------------------------------------------
def sample_record(sample: Any, grade: dict | None, problem: Problem | None, max_chars: int | None) -> dict:
    """What the page shows of one sample; `max_chars` keeps a long completion's head and tail."""
    text, cut = sample.completion, 0
    if max_chars is not None and len(text) > max_chars:
        cut = len(text) - max_chars
        text = text[:HEAD_CHARS] + "\u0000" + text[HEAD_CHARS + cut:]  # \0 marks the cut for the page
    rec = {
        "i": sample.sample_index, "seed": sample.seed, "finish": sample.finish_reason, "tokens": _finite(sample.num_tokens),
        "entropy": _finite(sample.mean_entropy), "logprob": _finite(sample.mean_logprob), "text": text, "cut": cut,
        "status": grade.get("status") if grade else None, "answer": grade.get("answer") if grade else None,
        "detail": grade.get("detail", "") if grade else "",
    }
    if problem is not None and problem.tests and problem.tests.entry_point:
        from ..verify.code.assemble import assemble

        built = assemble(problem.prompt, sample.completion, problem.tests.entry_point)
        rec["program"], rec["shape"], rec["program_note"] = built.program, built.shape, built.reason
        rec["failing_test"] = failing_test(problem, rec["detail"])
        if max_chars is not None and built.program and len(built.program) > max_chars:
            rec["program"] = built.program[:max_chars] + "\n# ... (cut; --serve shows all)"
    return rec


def failing_test(problem: Problem, detail: str) -> str | None:
    """The test source line a code grade names ("failed: test line 10"), to show what failed."""
    import re

    m = re.search(r"test line (\d+)", detail or "")
    test = problem.tests.test if problem.tests else ""
    if not m or not test:
        return None
    lines = test.splitlines()
    i = int(m.group(1)) - 1
    return lines[i].strip() if 0 <= i < len(lines) else None


def _finite(x: Any) -> float | int | None:
    return x if isinstance(x, (int, float)) and not isinstance(x, bool) and np.isfinite(x) else None


def read_grades(store: RunStore, wanted: dict[str, set[int]]) -> dict[tuple[str, int], dict]:
    """The grade lines of the wanted samples (a later line, a regrade, wins as in scoring/table.py)."""
    out = {}
    for rec in store.iter_grades():
        if rec.get("sample_index") in wanted.get(rec.get("problem_id"), ()):
            out[(rec["problem_id"], rec["sample_index"])] = rec
    return out


def embed_samples(view: View, embed: list[dict[str, list[int]]], answers: list[dict[str, list[int]]],
                  rows: list[dict], max_chars: int | None) -> list[dict[str, dict]]:
    """Per run: {"pid/index": sample record} for the embedded samples, in samples.jsonl's order; and
    the answer strings of each row's listed answers. Lines are read where table.parquet says they
    are; without a table, samples.jsonl and grades.jsonl are streamed."""
    at = {row["id"]: row for row in rows}
    out = []
    for j, run in enumerate(view.runs):
        store = RunStore(run.path)
        texts = {pid: set(idx) for pid, idx in embed[j].items()}
        wanted = {pid: texts[pid] | set(answers[j][pid]) for pid in texts}
        found = _lines_by_offset(store, run, texts, wanted)
        grades, stored = found if found is not None else (read_grades(store, wanted), None)
        for pid, reps in answers[j].items():
            for entry in at[pid]["runs"][j]["answers"]:
                entry[0] = (grades.get((pid, entry[0])) or {}).get("answer")
        samples = {}
        for s in stored if stored is not None else store.iter_samples(lambda pid, i: i in texts.get(pid, ())):
            prob = view.problems.get(s.problem_id) if view.problems else None
            samples[f"{s.problem_id}#{s.sample_index}"] = sample_record(s, grades.get((s.problem_id, s.sample_index)), prob, max_chars)
        out.append(samples)
    return out


def _lines_by_offset(store: RunStore, run: RunData, texts: dict[str, set[int]], wanted: dict[str, set[int]]
                     ) -> tuple[dict[tuple[str, int], dict], list[Any]] | None:
    """(grade records of `wanted`, samples of `texts` in file order) read by seeking to the offsets
    table.parquet records; None when there is no current table or a line is not the sample it should be."""
    from ..scoring.table import line_offsets
    from ..types import Sample

    offsets = line_offsets(store, run.table)
    if offsets is None:
        return None
    where = SampleIndex.positions(run)
    pairs = [(pid, i) for pid, idx in wanted.items() for i in sorted(idx)]
    grade_at = {key: int(offsets[1][where(*key)]) for key in pairs}
    sample_at = sorted((int(offsets[0][where(pid, i)]), pid, i) for pid, idx in texts.items() for i in idx)
    if min(grade_at.values(), default=0) < 0 or (sample_at and sample_at[0][0] < 0):
        return None
    grades = dict(zip(grade_at, map(json.loads, _read_lines(store.path / GRADES, list(grade_at.values())))))
    samples = [Sample.from_json(json.loads(raw)) for raw in _read_lines(store.path / SAMPLES, [o for o, _, _ in sample_at])]
    expected = list(grade_at) + [(pid, i) for _, pid, i in sample_at]
    got = [(g.get("problem_id"), g.get("sample_index")) for g in grades.values()] + [(s.problem_id, s.sample_index) for s in samples]
    return (grades, samples) if got == expected else None


def _read_lines(path: Path, offsets: list[int]) -> list[bytes]:
    """The lines starting at `offsets` (in that order), read with one open file, seeking in file order."""
    out: dict[int, bytes] = {}
    with open(path, "rb") as f:
        for offset in sorted(set(offsets)):
            f.seek(offset)
            out[offset] = f.readline()
    return [out[o] for o in offsets]


def prompt_table(view: View, rows: list[dict]) -> list[str]:
    """Rendered prompts (prompts.jsonl), each distinct text once; row["prompt"][run] indexes it."""
    texts: dict[str, int] = {}
    for row in rows:
        row["prompt"] = [None] * len(view.runs)
    at = {row["id"]: row for row in rows}
    for j, run in enumerate(view.runs):
        for pid, prompt in RunStore(run.path).prompts().items():
            if pid in at:
                text = prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False, indent=1)
                at[pid]["prompt"][j] = texts.setdefault(text, len(texts))
    return list(texts)


# -- the page ------------------------------------------------------------------------------------
def page_data(view: View, max_samples: int = DEFAULT_MAX_SAMPLES, serve: bool = False) -> dict:
    """Everything the page shows, as JSON-ready data."""
    rows, embed, answers = problem_rows(view, max_samples)
    filters, meta_keys = add_problem_facts(view, rows)
    prompts = prompt_table(view, rows)
    samples = embed_samples(view, embed, answers, rows, None if serve else MAX_CHARS)
    first = view.runs[0]
    return {
        "title": page_title(view),
        "generated": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "mode": "serve" if serve else "static",
        "benchmark": view.group.benchmark, "family": view.family,
        "data_version": first.manifest.get("data_version"), "data_note": view.data_note,
        "compare": view.report, **figures(view),
        "runs": [{"label": r.label, "model": r.model, "run_dir": str(r.path), "seed": r.manifest.get("seed"),
                  "sampling": r.manifest.get("sampling"), "created": r.manifest.get("created")} for r in view.runs],
        "statuses": list(STATUSES), "meta_filters": filters, "meta_keys": meta_keys,
        "problems": rows, "prompts": prompts, "samples": samples,
        "limits": {"max_samples": max_samples, "max_chars": None if serve else MAX_CHARS},
    }


def page_title(view: View) -> str:
    labels = [r.label for r in view.runs]
    if len(labels) == 1:
        return f"{view.group.benchmark}: {labels[0]}"
    if len(labels) <= 3:
        return f"{view.group.benchmark}: {' vs '.join(labels)}"
    return f"{view.group.benchmark}: {len(labels)} checkpoints against {labels[0]}"


def render_html(data: dict) -> str:
    """The page: template, style and script from assets/view, the data gzipped and base64-encoded."""
    template = (ASSETS / "view.html").read_text(encoding="utf-8")
    payload = base64.b64encode(gzip.compress(json.dumps(data, ensure_ascii=False, allow_nan=False,
                                                        default=_json_default).encode("utf-8"), 6, mtime=0)).decode("ascii")
    parts = {"TITLE": _escape(f"evalkit view - {data['title']}"), "STYLE": (ASSETS / "view.css").read_text(encoding="utf-8"),
             "SCRIPT": (ASSETS / "view.js").read_text(encoding="utf-8"), "DATA": payload}
    for key, value in parts.items():
        template = template.replace("{{" + key + "}}", value)
    return template


def _json_default(x: Any) -> Any:
    if isinstance(x, (np.integer, np.floating)):
        return x.item()
    raise TypeError(f"{type(x).__name__} is not JSON serializable")


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def write_atomic(path: str | Path, text: str) -> int:
    """Write the page beside its final name and rename: a failure leaves no partial report."""
    out = Path(path)
    if not out.parent.is_dir():
        raise EvalkitError(f"--out {out}: directory {out.parent} does not exist; create it or choose another --out")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        data = text.encode("utf-8")
        with open(tmp, "wb") as f:
            f.write(data)
        os.replace(tmp, out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise EvalkitError(f"cannot write {out} ({e.strerror or e}); choose a writable --out") from None
    return len(data)


def build_report(paths: Sequence[str], out: str | Path, baselines: Sequence[str] = (), max_samples: int = DEFAULT_MAX_SAMPLES,
                 data: str | None = None) -> tuple[Path, int, View]:
    """`evalkit view --out`: load, compute, render, write atomically; returns (path, bytes, view)."""
    view = load_view(paths, baselines, data)
    size = write_atomic(out, render_html(page_data(view, max_samples)))
    return Path(out), size, view


# -- --serve -------------------------------------------------------------------------------------
class SampleIndex:
    """Byte offset of each counted sample's line in samples.jsonl (first line wins) and grades.jsonl
    (last line wins), 16 bytes a sample: any sample is one seek away, and no text is held. The
    offsets come from table.parquet when it is current, else from one scan of each file."""

    def __init__(self, run: RunData):
        from ..scoring.table import line_offsets

        self.path, self.table = run.path, run.table
        self.position = SampleIndex.positions(run)
        offsets = line_offsets(RunStore(run.path), run.table)
        if offsets is not None:
            self.sample_at, self.grade_at = offsets
        else:
            self.sample_at = self._scan(run.path / SAMPLES, first=True)
            self.grade_at = self._scan(run.path / GRADES, first=False)

    @staticmethod
    def positions(run: RunData) -> Any:
        """(problem id, sample index) -> position in the run's table, or None."""
        rows = {pid: r for r, pid in enumerate(run.table.problem_ids)}
        n, offsets = run.table.n.tolist(), run.table.offsets.tolist()

        def position(pid: str, index: int) -> int | None:
            r = rows.get(pid)
            if r is None or not 0 <= index < n[r]:
                return None
            return offsets[r] + index

        return position

    def _scan(self, path: Path, first: bool) -> np.ndarray:
        at = np.full(len(self.table.correct), -1, dtype=np.int64)
        if not path.exists():
            return at
        with open(path, "rb") as f:
            while True:
                offset, raw = f.tell(), f.readline()
                if not raw:
                    break
                head = sample_head(raw) if first else None
                if head is None:
                    try:
                        head = json.loads(raw)
                    except ValueError:
                        continue  # a torn last line; store.py reports malformed lines elsewhere
                pos = self.position(head.get("problem_id"), head.get("sample_index", -1)) if isinstance(head, dict) else None
                if pos is not None and (not first or at[pos] < 0):
                    at[pos] = offset
        return at

    def read(self, pid: str, index: int) -> tuple[dict, dict | None] | None:
        """(sample record, grade record) of one sample, read from disk, or None when it does not exist."""
        pos = self.position(pid, index)
        if pos is None or self.sample_at[pos] < 0:
            return None
        sample = json.loads(_line_at(self.path / SAMPLES, int(self.sample_at[pos])))
        grade = json.loads(_line_at(self.path / GRADES, int(self.grade_at[pos]))) if self.grade_at[pos] >= 0 else None
        return sample, grade


def _line_at(path: Path, offset: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(offset)
        return f.readline()


def make_server(view: View, host: str = "127.0.0.1", port: int = 8765, max_samples: int = DEFAULT_MAX_SAMPLES):
    """A ThreadingHTTPServer serving the page at / and any sample at /api/sample?run=J&problem=ID&index=I."""
    import errno
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    page = render_html(page_data(view, max_samples, serve=True)).encode("utf-8")
    indexes = [SampleIndex(run) for run in view.runs]

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            from urllib.parse import parse_qs, urlparse

            url = urlparse(self.path)
            if url.path in ("/", "/index.html"):
                return self._send(200, "text/html; charset=utf-8", page)
            if url.path != "/api/sample":
                return self._send(404, "text/plain; charset=utf-8", b"not found")
            body = sample_response(view, indexes, parse_qs(url.query))
            if body is None:
                return self._send(404, "application/json", b'{"error": "no such sample"}')
            return self._send(200, "application/json", json.dumps(body, ensure_ascii=False, default=_json_default).encode("utf-8"))

        def _send(self, code: int, kind: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # quiet: the terminal shows only what the user needs
            pass

    try:
        return ThreadingHTTPServer((host, port), Handler)
    except OSError as e:
        if e.errno == errno.EADDRINUSE:
            raise EvalkitError(f"port {port} on {host} is in use; pass --port with a free port (--port 0 picks one)") from None
        raise EvalkitError(f"cannot listen on {host}:{port} ({e.strerror or e}); check --host and --port") from None


def sample_response(view: View, indexes: Sequence[SampleIndex], query: dict[str, list[str]]) -> dict | None:
    """The full record of one sample (no text cut), as the static page embeds it."""
    from ..types import Sample

    try:
        j, pid, index = int(query["run"][0]), query["problem"][0], int(query["index"][0])
    except (KeyError, ValueError, IndexError):
        return None
    if not 0 <= j < len(indexes):
        return None
    found = indexes[j].read(pid, index)
    if found is None:
        return None
    sample, grade = found
    problem = view.problems.get(pid) if view.problems else None
    return sample_record(Sample.from_json(sample), grade, problem, None)


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
