"""The run directory: one per model x benchmark, the single source of truth for resume.

    manifest.json   what this run is (model, benchmark + data hash, sampling, seed, versions, argv)
    samples.jsonl   append-only, one line per (problem_id, sample_index), flushed per line
    grades.jsonl    append-only, one line per graded sample
    prompts.jsonl   append-only, the rendered prompt of each problem
    metrics.json    written atomically, only once every requested sample is graded
    tokens.jsonl    append-only, the token ids each sample was drawn as (written after its sample line)
    budgets.jsonl   append-only, one graded forced answer per (problem_id, sample_index, budget)

Every stage reads what is already there and writes only what is new, so resume, `--n` extension,
sharding and `score` are the same path entered at a later stage. Files are read as streams, a line at
a time: a run of a million 32 KB completions is never held in memory. What a reader keeps per sample
is a bit (`PairSet`) or a few numbers (scoring/table.py). A line torn by a kill is dropped on read and
cut off before the next append; a malformed line anywhere else is an error.
"""

from __future__ import annotations

import errno
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from .types import EvalkitError, Sample

MANIFEST = "manifest.json"
SAMPLES = "samples.jsonl"
GRADES = "grades.jsonl"
PROMPTS = "prompts.jsonl"
METRICS = "metrics.json"
TOKENS = "tokens.jsonl"
BUDGETS = "budgets.jsonl"

# Manifest fields that define what a sample is; a resumed run must agree on all of them.
IDENTITY_KEYS = ("model", "benchmark", "data_hash", "sampling", "seed", "prompt_template", "samples_hash", "design")

_STEP_DIR = re.compile(r"(global_step|checkpoint|step|iter)[-_]?\d+", re.IGNORECASE)
_GENERIC_DIRS = {"huggingface", "hf", "actor", "model", "checkpoint", "final", "latest"}
_STATS_CUT = b', "completion": '  # Sample.to_json writes the completion last: everything before it is small


def model_slug(model: str) -> str:
    """A directory name for a model path or hub id.

    `Qwen/Qwen2.5-7B` -> `Qwen--Qwen2.5-7B`; `runs/exp1/global_step_100/actor/huggingface` ->
    `exp1--global_step_100--actor--huggingface`: trailing generic names and step directories keep
    their parents, so the checkpoints of a sweep never share a run directory.
    """
    parts = [p for p in re.split(r"[\\/]+", model.strip()) if p not in ("", ".", "..", "~")]
    if not parts:
        return "model"
    if len(parts) == 2 and not model.startswith(("/", ".", "~")) and not os.path.exists(model):  # hub id org/name
        keep = 2
    else:
        keep = 1
        while keep < len(parts) and parts[-keep].lower() in _GENERIC_DIRS:
            keep += 1
        if _STEP_DIR.fullmatch(parts[-keep]) and keep < len(parts):
            keep += 1
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", "--".join(parts[-keep:]))


def default_run_dir(model: str, bench: str, root: str | os.PathLike = "results", variant: str = "") -> Path:
    """results/<model>/<bench>[-<variant>]: the variant names non-default sampling and seed, so a sweep
    over temperatures or seeds gets one directory per setting without --out."""
    return Path(root) / model_slug(model) / (f"{bench}-{variant}" if variant else bench)


def os_error(path: Path | str, e: OSError, fix: str = "choose a writable --out") -> EvalkitError:
    """An OS error on a run directory as one line: what failed where, and what to do."""
    if e.errno == errno.ENOSPC:
        fix = "free disk space (completed work is kept) and rerun the same command"
    elif e.errno == errno.EROFS:
        fix = "the file system is read-only; " + fix
    return EvalkitError(f"cannot write {path} ({e.strerror or e}); {fix}")


def check_output_file(path: str | os.PathLike, flag: str, make_parents: bool = False) -> Path:
    """Refuse, before any work, an output file that could not be written at the end: a directory, or in a
    directory that does not exist (`make_parents`: whose nearest existing ancestor is not writable)."""
    p = Path(path)
    if p.is_dir():
        raise EvalkitError(f"{flag} {p} is a directory; give a file name, e.g. {flag} {p / 'report.json'}")
    parent = p.parent
    if make_parents:
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
    if not parent.is_dir():
        raise EvalkitError(f"{flag} {p}: directory {parent} does not exist; create it or choose another path")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise EvalkitError(f"{flag} {p}: directory {parent} is not writable; choose another path")
    return p


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temp file and rename, so a reader never sees half a JSON document."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, indent=2, sort_keys=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise os_error(path, e) from None


def iter_jsonl(path: Path, *, fix: str = "fix or delete that line (or rerun with --overwrite)") -> Iterator[tuple[int, bytes, dict]]:
    """Stream (line number, raw line, record) of a run file; nothing when it does not exist.

    Only the last line can lack its newline: such a line that is not valid JSON was torn by a kill
    and is skipped. Memory is one line, whatever the file's size.
    """
    if not path.exists():
        return
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                rec = json.loads(raw)
            except ValueError:  # JSONDecodeError and UnicodeDecodeError
                if not raw.endswith(b"\n"):
                    return
                raise EvalkitError(f"{path}:{lineno}: malformed JSON line; {fix}") from None
            if not isinstance(rec, dict):
                raise EvalkitError(f"{path}:{lineno}: expected a JSON object per line, got {type(rec).__name__}; {fix}")
            yield lineno, raw, rec


def sample_head(raw: bytes) -> dict | None:
    """A samples.jsonl line's fields except the completion, without decoding the completion.

    `"completion": ` with a bare quote cannot occur inside a JSON string (quotes there are escaped),
    so its first occurrence is the field itself. None for lines written another way (then parse all).
    """
    cut = raw.find(_STATS_CUT)
    if cut < 0:
        return None
    try:
        head = json.loads(raw[:cut] + b"}")
    except ValueError:
        return None
    return head if isinstance(head, dict) else None


# Lines evalkit writes have a fixed key order, so their small fields are read with one regular expression
# instead of a JSON parse (2-3x faster at a million lines); any other line is parsed as JSON.
_STR = rb'"((?:[^"\\]|\\.)*)"'
_KEYS = re.compile(rb'\{"problem_id": ' + _STR + rb', "sample_index": (\d+)')
_GRADE = re.compile(rb'\{"problem_id": ' + _STR + rb', "sample_index": (\d+), "correct": (true|false), "status": "([a-z_]+)", "answer": (null|"(?:[^"\\]|\\.)*")')
_STATS = re.compile(rb'\{"problem_id": ' + _STR + rb', "sample_index": (\d+), "seed": [-0-9nul]+, "finish_reason": "([a-z_]*)", '
                    rb'"num_tokens": (\d+), "mean_entropy": ([-+0-9.eEnul]+), "mean_logprob": ([-+0-9.eEnul]+), ')


class _Names:
    """JSON-escaped id bytes -> str, decoded once per distinct id."""

    def __init__(self) -> None:
        self._seen: dict[bytes, str] = {}

    def __call__(self, raw: bytes) -> str:
        name = self._seen.get(raw)
        if name is None:
            name = self._seen[raw] = json.loads(b'"' + raw + b'"')
        return name


def _number(raw: bytes) -> float | None:
    return None if raw == b"null" else float(raw)


def iter_sample_keys(path: Path) -> Iterator[tuple[str, int]]:
    """(problem id, sample index) of every sample line, the completion never decoded."""
    names = _Names()
    for lineno, raw in _lines(path):
        m = _KEYS.match(raw) if raw.endswith(b"\n") else None  # an unterminated line is parsed whole: it may be torn
        if m is not None:
            yield names(m.group(1)), int(m.group(2))
            continue
        rec = _line(path, lineno, raw)
        if rec is None:
            return
        yield rec["problem_id"], rec["sample_index"]


def iter_sample_stats(path: Path, progress: Callable[[int], None] | None = None
                      ) -> Iterator[tuple[str, int, float | None, float | None, float | None, str | None, int]]:
    """(problem id, sample index, num_tokens, mean_entropy, mean_logprob, finish_reason, byte offset of
    the line) of every sample line. `progress(bytes)` is called as the file is read."""
    names, reasons = _Names(), _Names()
    for lineno, raw, offset in _lines_at(path, progress):
        m = _STATS.match(raw) if raw.endswith(b"\n") else None  # an unterminated line is parsed whole: it may be torn
        if m is not None:
            yield (names(m.group(1)), int(m.group(2)), float(m.group(4)), _number(m.group(5)), _number(m.group(6)),
                   reasons(m.group(3)), offset)
            continue
        rec = _line(path, lineno, raw)
        if rec is None:
            return
        yield (rec["problem_id"], rec["sample_index"], rec.get("num_tokens"), rec.get("mean_entropy"), rec.get("mean_logprob"),
               rec.get("finish_reason", "stop"), offset)  # Sample.from_json's default


_FINISH = re.compile(rb'\{"problem_id": ' + _STR + rb', "sample_index": (\d+), "seed": [-0-9nul]+, "finish_reason": "([a-z_]*)"')


def iter_finish_reasons(path: Path) -> Iterator[tuple[str, int, str]]:
    """(problem id, sample index, finish reason) of every sample line, the completion never decoded."""
    names = _Names()
    for lineno, raw in _lines(path):
        m = _FINISH.match(raw)
        if m is not None:
            yield names(m.group(1)), int(m.group(2)), m.group(3).decode()
            continue
        rec = _line(path, lineno, raw)
        if rec is None:
            return
        yield rec["problem_id"], rec["sample_index"], rec.get("finish_reason") or "stop"


def iter_grade_rows(path: Path, progress: Callable[[int], None] | None = None
                    ) -> Iterator[tuple[str, int, bool, str, bytes | None, int]]:
    """(problem id, sample index, correct, status, the answer as JSON bytes or None, byte offset of the
    line) of every grade line: equal answers have equal bytes (one writer, one encoding), which is all
    maj@k needs. `progress(bytes)` is called as the file is read."""
    names = _Names()
    for lineno, raw, offset in _lines_at(path, progress):
        m = _GRADE.match(raw) if raw.endswith(b"\n") else None
        if m is not None:
            answer = m.group(5)
            yield names(m.group(1)), int(m.group(2)), m.group(3) == b"true", m.group(4).decode(), None if answer == b"null" else answer, offset
            continue
        rec = _line(path, lineno, raw, fix="regrade the run (--regrade) or delete that line")
        if rec is None:
            return
        answer = rec.get("answer")
        yield (rec["problem_id"], rec["sample_index"], bool(rec["correct"]), rec["status"],
               None if answer is None else json.dumps(answer, ensure_ascii=False).encode(), offset)


def _lines(path: Path) -> Iterator[tuple[int, bytes]]:
    if not path.exists():
        return
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if raw.strip():
                yield lineno, raw


def _lines_at(path: Path, progress: Callable[[int], None] | None = None) -> Iterator[tuple[int, bytes, int]]:
    """`_lines` with each line's byte offset, reporting the bytes read to `progress` about every MiB."""
    if not path.exists():
        return
    offset, told = 0, 0
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            if raw.strip():
                yield lineno, raw, offset
            offset += len(raw)
            if progress is not None and offset - told >= 1 << 20:
                progress(offset - told)
                told = offset
    if progress is not None:
        progress(offset - told)


def line_at(path: Path, offset: int) -> bytes:
    """The line that starts at byte `offset` of a run file (a table.parquet index points there)."""
    with open(path, "rb") as f:
        f.seek(offset)
        return f.readline()


def _sample_lines(path: Path) -> Iterator[tuple[int, bytes, dict | None]]:
    """(line number, raw line, its head or None when it must be parsed whole) of each non-empty line."""
    for lineno, raw in _lines(path):
        yield lineno, raw, sample_head(raw) if raw.endswith(b"\n") else None


def iter_sample_heads(path: Path) -> Iterator[dict]:
    """Every sample's small fields (ids, finish reason, token statistics), streamed: no completion text
    is decoded for lines evalkit wrote, so a scan of 1 GB of samples costs about as much as its keys.
    A torn last line is skipped, a malformed one elsewhere is an error, as in `iter_jsonl`."""
    for lineno, raw, head in _sample_lines(path):
        if head is None:
            head = _line(path, lineno, raw)
            if head is None:
                return
            head.pop("completion", None)
        yield head


def parse_jsonl(data: bytes, source: str, *, fix: str) -> Iterator[tuple[int, dict]]:
    """Parse a whole in-memory JSONL document (benchmark files); errors name `source:line` and end with `fix`."""
    for i, raw in enumerate(data.split(b"\n"), start=1):
        if not raw.strip():
            continue
        try:
            rec = json.loads(raw)
        except ValueError:
            raise EvalkitError(f"{source}:{i}: malformed JSON line; {fix}") from None
        if not isinstance(rec, dict):
            raise EvalkitError(f"{source}:{i}: expected a JSON object per line, got {type(rec).__name__}; {fix}")
        yield i, rec


class PairSet:
    """Which (problem, sample index) pairs exist: one byte per pair, kept per problem.

    A million samples cost a megabyte, whatever their text: this is how resume and grading know what
    is done without holding what was done.
    """

    def __init__(self) -> None:
        self._rows: dict[str, bytearray] = {}
        self.size = 0

    def add(self, pid: str, index: int) -> bool:
        """Mark the pair; False when it was already there (the first line of a pair wins)."""
        row = self._rows.get(pid)
        if row is None:
            row = self._rows[pid] = bytearray()
        if index >= len(row):
            row.extend(bytes(max(index + 1 - len(row), len(row))))
        if row[index]:
            return False
        row[index] = 1
        self.size += 1
        return True

    def __contains__(self, pair: tuple[str, int]) -> bool:
        row = self._rows.get(pair[0])
        return row is not None and pair[1] < len(row) and bool(row[pair[1]])

    def count(self, pid: str) -> int:
        return self._rows[pid].count(1) if pid in self._rows else 0

    def update(self, other: "PairSet") -> None:
        for pid, row in other._rows.items():
            for i in (j for j, present in enumerate(row) if present):
                self.add(pid, i)

    def __len__(self) -> int:
        return self.size


def _cut_torn_tail(path: Path) -> None:
    """Drop an unterminated last line that is not valid JSON (a write killed midway) so the next append
    starts clean; a valid one only lacked its newline and gets it. Readers count the same lines."""
    if not path.exists() or path.stat().st_size == 0:
        return
    with open(path, "rb+") as f:
        f.seek(-1, os.SEEK_END)
        if f.read(1) == b"\n":
            return
        size = f.seek(0, os.SEEK_END)
        start = max(0, size - (1 << 20))
        while True:  # find the last newline from the end, a chunk at a time
            f.seek(start)
            pos = f.read(size - start).rfind(b"\n")
            if pos >= 0 or start == 0:
                break
            size, start = start, max(0, start - (1 << 20))
        line_start = start + pos + 1 if pos >= 0 else 0
        f.seek(line_start)
        if _line(path, 0, f.read()) is not None:
            f.write(b"\n")
        else:
            f.truncate(line_start)


class JsonlAppender:
    """Appends records one per line, flushed per line (fsync on close). OS errors become one line."""

    def __init__(self, path: Path):
        self.path = path
        try:
            _cut_torn_tail(path)
            self._f = open(path, "a", encoding="utf-8")
        except OSError as e:
            raise os_error(path, e) from None

    def write(self, rec: dict) -> None:
        try:
            self._f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            self._f.flush()
        except OSError as e:
            raise os_error(self.path, e) from None

    def close(self) -> None:
        if not self._f.closed:
            try:
                self._f.flush()
                os.fsync(self._f.fileno())
            except OSError:
                pass  # the error was reported by write()
            finally:
                self._f.close()

    def __enter__(self) -> "JsonlAppender":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RunStore:
    """Reads (as streams) and appends the files of one run directory."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)

    # -- manifest ---------------------------------------------------------------------------
    def manifest(self) -> dict | None:
        p = self.path / MANIFEST
        if not p.exists():
            return None
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise EvalkitError(f"{p} is not valid JSON; delete the directory or rerun with --overwrite") from None
        except OSError as e:
            raise EvalkitError(f"cannot read {p} ({e.strerror}); check its permissions") from None

    def open(self, manifest: dict, overwrite: bool = False) -> None:
        """Create the directory or attach to an existing run with the same identity."""
        old = self.manifest()
        try:
            if old is not None and overwrite:
                shutil.rmtree(self.path)
                old = None
            elif old is None and self.path.exists() and any(self.path.iterdir()) and not overwrite:
                raise EvalkitError(f"{self.path} exists but holds no evalkit run (no {MANIFEST}); choose another --out or pass --overwrite")
            if old is not None:
                diff = identity_diff(old, manifest)
                if diff:
                    raise EvalkitError(f"{self.path} holds a run with a different {diff}; use another --out, or pass --overwrite to discard it")
                manifest = {**old, **manifest, "created": old.get("created", manifest.get("created"))}
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise os_error(self.path, e) from None
        write_json_atomic(self.path / MANIFEST, manifest)

    # -- records (streams) ----------------------------------------------------------------------
    def sample_pairs(self) -> PairSet:
        """The (problem, index) pairs samples.jsonl holds."""
        pairs = PairSet()
        for pid, i in iter_sample_keys(self.path / SAMPLES):
            pairs.add(pid, i)
        return pairs

    def iter_samples(self, wanted: Any = None) -> Iterator[Sample]:
        """Samples in file order, the first line of each pair only; `wanted(pid, index)` filters
        before the completion is decoded, so skipped samples cost only their keys."""
        for rec in _first_records(self.path / SAMPLES, wanted):
            yield Sample.from_json(rec)

    def grade_pairs(self) -> PairSet:
        pairs = PairSet()
        for pid, i, *_ in iter_grade_rows(self.path / GRADES):
            pairs.add(pid, i)
        return pairs

    def iter_grades(self) -> Iterator[dict]:
        """Grade records in file order (a later line for the same pair is a regrade and wins)."""
        for _, _, rec in iter_jsonl(self.path / GRADES, fix="regrade the run (--regrade) or delete that line"):
            yield rec

    def prompts(self) -> dict[str, Any]:
        return {rec["problem_id"]: rec["prompt"] for _, _, rec in iter_jsonl(self.path / PROMPTS)}

    def sample_appender(self) -> JsonlAppender:
        return JsonlAppender(self.path / SAMPLES)

    def grade_appender(self) -> JsonlAppender:
        return JsonlAppender(self.path / GRADES)

    def append_prompts(self, prompts: Iterable[tuple[str, Any]]) -> None:
        known = self.prompts()
        with JsonlAppender(self.path / PROMPTS) as w:
            for pid, prompt in prompts:
                if pid not in known:
                    w.write({"problem_id": pid, "prompt": prompt})

    def reset_grades(self) -> None:
        (self.path / GRADES).unlink(missing_ok=True)

    def update_manifest(self, **fields: Any) -> dict:
        """Add or replace top-level manifest fields (cost, budget settings) atomically; returns the manifest."""
        manifest = {**(self.manifest() or {}), **fields}
        write_json_atomic(self.path / MANIFEST, manifest)
        return manifest

    # -- token ids and forced answers (evalkit/forcing.py) -----------------------------------------
    def token_appender(self) -> JsonlAppender:
        return JsonlAppender(self.path / TOKENS)

    def iter_token_ids(self, wanted: Any = None) -> Iterator[tuple[str, int, int | None, list[int]]]:
        """(problem id, sample index, prompt token count, drawn token ids), the first line of each pair;
        `wanted(pid, i)` filters before the ids are decoded."""
        for rec in _first_records(self.path / TOKENS, wanted):
            yield rec["problem_id"], rec["sample_index"], rec.get("prompt_tokens"), rec["token_ids"]

    def budget_appender(self) -> JsonlAppender:
        return JsonlAppender(self.path / BUDGETS)

    def iter_budgets(self) -> Iterator[dict]:
        """Forced answers in file order (a later line for the same key is a regrade and wins)."""
        for _, _, rec in iter_jsonl(self.path / BUDGETS, fix="delete that line (rerun `evalkit budgets` to force it again)"):
            yield rec

    def budget_keys(self) -> dict[int, PairSet]:
        """budget -> the (problem, index) pairs with a forced answer at that budget."""
        out: dict[int, PairSet] = {}
        for rec in self.iter_budgets():
            out.setdefault(int(rec["budget"]), PairSet()).add(rec["problem_id"], rec["sample_index"])
        return out

    # -- metrics ----------------------------------------------------------------------------
    def invalidate_metrics(self) -> None:
        """Pending work makes the old metrics stale: remove them before touching anything."""
        try:
            (self.path / METRICS).unlink(missing_ok=True)
        except OSError as e:
            raise os_error(self.path / METRICS, e) from None

    def write_metrics(self, metrics: dict) -> None:
        write_json_atomic(self.path / METRICS, metrics)


def _first_lines(path: Path, wanted: Any = None) -> Iterator[tuple[str, int, int, int, bytes, dict | None]]:
    """(problem id, sample index, byte offset, line number, raw line, its record when it had to be
    decoded for its keys) of the first line of each pair of a run file that `wanted(pid, i)` keeps, in
    file order; keys come from the fixed-layout prefix where evalkit wrote it. A torn last line ends it."""
    seen, names = PairSet(), _Names()
    for lineno, raw, offset in _lines_at(path):
        m = _KEYS.match(raw) if raw.endswith(b"\n") else None
        rec = None
        if m is not None:
            pid, i = names(m.group(1)), int(m.group(2))
        else:
            rec = _line(path, lineno, raw)
            if rec is None:
                return
            pid, i = rec["problem_id"], rec["sample_index"]
        if seen.add(pid, i) and (wanted is None or wanted(pid, i)):
            yield pid, i, offset, lineno, raw, rec


def _first_records(path: Path, wanted: Any = None) -> Iterator[dict]:
    """The decoded first line of each pair that `wanted` keeps (the others are never decoded)."""
    for _, _, _, lineno, raw, rec in _first_lines(path, wanted):
        yield rec if rec is not None else _line(path, lineno, raw)  # type: ignore[misc]


def first_line_offsets(path: Path) -> Iterator[tuple[str, int, int]]:
    """(problem id, sample index, byte offset) of the first complete line of each pair."""
    for pid, i, offset, *_ in _first_lines(path):
        yield pid, i, offset


def token_record(s: Sample) -> dict[str, Any]:
    """A tokens.jsonl line: the sample's key, its prompt's token count and the token ids it was drawn as."""
    return {"problem_id": s.problem_id, "sample_index": s.sample_index, "prompt_tokens": s.prompt_tokens, "token_ids": s.token_ids}


def _line(path: Path, lineno: int, raw: bytes, fix: str = "fix or delete that line (or rerun with --overwrite)") -> dict | None:
    try:
        rec = json.loads(raw)
    except ValueError:
        if not raw.endswith(b"\n"):
            return None  # torn tail
        raise EvalkitError(f"{path}:{lineno}: malformed JSON line; {fix}") from None
    if not isinstance(rec, dict):
        raise EvalkitError(f"{path}:{lineno}: expected a JSON object per line")
    return rec


def identity_diff(old: dict, new: dict) -> str | None:
    """Every identity field on which two manifests disagree, each with both values (inside a dict
    field such as `sampling`, only the entries that differ: `sampling.temperature (1.0 there, 0.5 now)`)."""
    diffs = []
    for key in IDENTITY_KEYS:
        a, b = old.get(key), new.get(key)
        if a == b:
            continue
        if isinstance(a, dict) and isinstance(b, dict):
            diffs += [f"{key}.{sub} ({_short(a.get(sub))} there, {_short(b.get(sub))} now)"
                      for sub in dict.fromkeys([*a, *b]) if a.get(sub) != b.get(sub)]
        else:
            diffs.append(f"{key} ({_short(a)} there, {_short(b)} now)")
    return ", ".join(diffs) if diffs else None


def _short(v: Any) -> str:
    s = v if isinstance(v, str) else json.dumps(v, sort_keys=True)
    return s if len(s) <= 120 else s[:117] + "..."
