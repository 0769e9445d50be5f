"""Budget forcing: accuracy against thinking budget from one draw (`--think-budgets`, `evalkit budgets`).

For every sample of a run and every budget B below the sample's thinking length T (evalkit/thinking.py),
the model continues prompt + the sample's first B drawn tokens + the end-of-thinking marker + an answer
cue, for at most --answer-tokens tokens; the answer is graded like a sample. A sample with T <= B keeps
its own answer. Each forced answer is one line of budgets.jsonl:

    {"problem_id", "sample_index", "budget", "prefix_tokens", "correct", "status", "answer",
     "finish_reason", "num_tokens", "seed", "token_source", "completion"}

written once graded, so a killed sweep resumes where it stopped: the missing (sample, budget) pairs are
found again from the samples' token ids, and each answer's seed is a function of its sample's seed and
the budget, so a resumed sweep equals an uninterrupted one. The manifest's `think_budgets` records the
settings (marker, cue, answer tokens: fixed for a run's budgets.jsonl) and, per budget, the samples a
finished sweep covered, how many it forced and the thinking tokens spent under the budget; count()
(pipeline.py) reports a budget only when that covers the run's current samples.

Samples are read from tokens.jsonl, newest first, so the forced prompts of the samples drawn last meet
their KV blocks still in vLLM's prefix cache, and a budget costs little more than its answer tokens.
"""

from __future__ import annotations

import json
import os
import time
from array import array
from collections import Counter
from typing import Any, Callable, Iterable, Iterator, Sequence

from .config import BudgetConfig, sample_seed
from .cost import Meter, record
from .samplers.base import Continuation, Continued
from .store import BUDGETS, SAMPLES, TOKENS, JsonlAppender, PairSet, RunStore, first_line_offsets, iter_sample_heads, iter_sample_keys
from .thinking import (ThinkSettings, budget_seed, ends_with_eos, forced_prompt, graded_text, marker_in_model, resolve_think_end,
                       think_length)
from .types import EvalkitError, Problem, Sample
from .verify import make_verifier

MANIFEST_KEY = "think_budgets"
MARKER_PROBE = 200  # completions read to find a server model's marker when its template is not visible


# -- settings ---------------------------------------------------------------------------------
def settings_for(store: RunStore, config: BudgetConfig, tokenizer: Any, model: str) -> ThinkSettings:
    """The run's forcing settings: the marker from --think-end, the model or its completions; a run that
    already holds forced answers keeps the settings they were made with."""
    probe = [] if config.think_end is not None or marker_in_model(tokenizer) else [s.completion for _, s in zip(range(MARKER_PROBE), store.iter_samples())]
    settings = ThinkSettings(resolve_think_end(config.think_end, tokenizer, probe, model), config.answer_cue, config.answer_tokens)
    recorded = (store.manifest() or {}).get(MANIFEST_KEY) or {}
    old = {k: recorded.get(k) for k in settings.identity()}
    if recorded and old != settings.identity() and (store.path / BUDGETS).exists():
        diff = ", ".join(f"{k} {old[k]!r} there, {v!r} now" for k, v in settings.identity().items() if old[k] != v)
        raise EvalkitError(f"{store.path} holds forced answers made with other settings ({diff}); use the same settings, "
                           f"or delete {store.path / BUDGETS} to force every budget again")
    return settings


def check_forceable(manifest: dict | None, path: Any) -> None:
    """Budgets need the model the samples came from: not a run scored from a file."""
    if manifest is None:
        raise EvalkitError(f"{path} is not an evalkit run directory (no manifest.json); pass a directory written by `evalkit run`")
    if manifest.get("samples_file") or manifest.get("seed") is None:
        raise EvalkitError(f"{path} was scored from a file (`evalkit score`): there is no model to continue its samples with; "
                           "draw them with `evalkit run ... --think-budgets` instead")


# -- the scan: which forced answers are missing -------------------------------------------------
class BudgetScan:
    """Walks the run's samples (their drawn token ids, newest first), yielding each forced answer still
    missing, and tallies per budget the samples it forces and the thinking tokens spent under it."""

    def __init__(self, store: RunStore, wanted: Callable[[str, int], bool], budgets: Sequence[int], settings: ThinkSettings,
                 sampler: Any, seed: int, stops: Sequence[str]):
        self.store, self.wanted, self.seed, self.stops = store, wanted, seed, tuple(stops)
        self.budgets = sorted(set(budgets), reverse=True)  # the longest prefix first: the shorter ones are its prefixes
        self.settings, self.sampler = settings, sampler
        tok = sampler.tokenizer
        self.tokenizer = tok
        self.marker_ids = tok.encode(settings.think_end, add_special_tokens=False)
        self.cue_ids = tok.encode(settings.answer_cue, add_special_tokens=False) if settings.answer_cue else []
        if not self.marker_ids:
            raise EvalkitError(f"--think-end {settings.think_end!r} tokenises to nothing; give the model's end-of-thinking marker")
        self.special = set(getattr(tok, "all_special_ids", None) or ())
        self.done = store.budget_keys()
        self.prompts = store.prompts()
        self._prompt_ids: dict[str, list[int]] = {}
        self.samples, self.yielded, self.source = 0, 0, Counter()
        self.forced = {b: 0 for b in self.budgets}
        self.think_tokens = {b: 0 for b in self.budgets}

    def __iter__(self) -> Iterator[Continuation]:
        for pid, i, prompt_tokens, ids, stopped, source in self._samples():
            self.source[source] += 1
            prompt = self._prompt(pid, prompt_tokens)
            eos = ends_with_eos(ids, "stop" if stopped else "length", self.special, self.stops) if source == "recorded" else False
            length, _ = think_length(ids, self.marker_ids, eos, self._decode, self.settings.think_end)
            self.samples += 1
            for b in self.budgets:
                self.think_tokens[b] += min(length, b)
                if b >= length:
                    continue
                self.forced[b] += 1
                if (pid, i) not in self.done.get(b, ()):
                    self.yielded += 1
                    yield Continuation(pid, i, b, budget_seed(sample_seed(self.seed, pid, i), b),
                                       tuple(forced_prompt(prompt, ids, b, self.marker_ids, self.cue_ids)), source)

    def _decode(self, ids: Sequence[int]) -> str:
        return self.tokenizer.decode(list(ids), skip_special_tokens=False)

    def _prompt(self, pid: str, drawn_from: int | None) -> list[int]:
        ids = self._prompt_ids.get(pid)
        if ids is None:
            if pid not in self.prompts:
                raise EvalkitError(f"{self.store.path}/prompts.jsonl has no prompt for {pid}; rerun the command that made the run")
            ids = self._prompt_ids[pid] = list(self.sampler.prompt_ids(self.prompts[pid]))
        if drawn_from is not None and drawn_from != len(ids):
            raise EvalkitError(f"the prompt of {pid} tokenises to {len(ids)} tokens now but was drawn from {drawn_from}: the model's "
                               "tokenizer or chat template changed since the draw; force budgets with the model the run was drawn with")
        return ids

    def _samples(self) -> Iterator[tuple[str, int, int | None, list[int], bool, str]]:
        """(pid, i, prompt tokens, token ids, stopped on its own, "recorded" | "retokenized") of every wanted sample."""
        stopped, have = PairSet(), PairSet()
        for head in iter_sample_heads(self.store.path / SAMPLES):
            pid, i = head["problem_id"], head["sample_index"]
            if self.wanted(pid, i) and have.add(pid, i) and head.get("finish_reason") == "stop":
                stopped.add(pid, i)
        seen = PairSet()
        for pid, i, prompt_tokens, ids in iter_token_ids_newest_first(self.store, lambda p, j: (p, j) in have):
            seen.add(pid, i)
            yield pid, i, prompt_tokens, ids, (pid, i) in stopped, "recorded"
        for s in self.store.iter_samples(lambda p, j: (p, j) in have and (p, j) not in seen):
            yield s.problem_id, s.sample_index, None, retokenized(self.tokenizer, s), s.finish_reason == "stop", "retokenized"


def retokenized(tokenizer: Any, s: Sample) -> list[int]:
    """The token ids of a sample drawn without recording them (an older run, a server that does not return
    them), accepted only when they decode to its text and number its recorded tokens (one fewer where an
    end-of-text token ended it): re-tokenised text is not always what the model drew."""
    ids = list(tokenizer.encode(s.completion, add_special_tokens=False))
    counts = (s.num_tokens,) + ((s.num_tokens - 1,) if s.finish_reason == "stop" else ())
    if tokenizer.decode(ids, skip_special_tokens=True) != s.completion or len(ids) not in counts:
        raise EvalkitError(f"{s.problem_id} #{s.sample_index} has no recorded token ids and its text re-tokenises to {len(ids)} tokens, "
                           f"not the {s.num_tokens} it was drawn as; re-draw the run (--overwrite) to record them")
    return ids


def iter_token_ids_newest_first(store: RunStore, wanted: Callable[[str, int], bool]) -> Iterator[tuple[str, int, int | None, list[int]]]:
    """tokens.jsonl's records, the last written first (the first record of a pair is its sample's); only
    the byte offsets of the lines are held, not their ids."""
    offsets = array("q", (at for _, _, at in first_line_offsets(store.path / TOKENS)))
    if not offsets:
        return
    with open(store.path / TOKENS, "rb") as f:
        for at in reversed(offsets):
            f.seek(at)
            raw = f.readline()
            try:
                rec = json.loads(raw)
            except ValueError:
                raise EvalkitError(f"{store.path / TOKENS}: malformed line at byte {at}; delete it (its sample is then re-tokenised)") from None
            if wanted(rec["problem_id"], rec["sample_index"]):
                yield rec["problem_id"], rec["sample_index"], rec.get("prompt_tokens"), rec["token_ids"]


# -- drawing, grading, writing ----------------------------------------------------------------
def force(store: RunStore, problems: Sequence[Problem], family: str, sampler: Any, config: BudgetConfig, *, seed: int,
          n_of: Callable[[str], int], stops: Sequence[str], model: str, engine: dict, startup_s: float = 0.0) -> dict:
    """Draw and grade every missing forced answer of the run; returns the manifest's `think_budgets`."""
    settings = settings_for(store, config, sampler.tokenizer, model)
    ids = {p.id for p in problems}
    wanted = lambda pid, i: pid in ids and i < n_of(pid)  # noqa: E731
    if already_swept(store, settings, config.budgets, wanted):  # a rerun of a finished command: nothing to scan
        return (store.manifest() or {})[MANIFEST_KEY]
    scan = BudgetScan(store, wanted, config.budgets, settings, sampler, seed, stops)
    meter, started = Meter("budgets", startup_s=startup_s), getattr(sampler, "startup_s", 0.0)
    try:
        written = write_forced(store, problems, family, settings, sampler.continue_tokens(scan, settings.answer_tokens), meter)
    finally:  # an engine the sweep had to start is start-up, not generation (SamplerSlot records it)
        meter.excluded_s += getattr(sampler, "startup_s", 0.0) - started
        record(store, meter, engine)
    missing = scan.yielded - written
    if missing:
        raise EvalkitError(f"{missing} forced answers were not drawn (backend errors); {written} were, and are saved: rerun to retry the rest")
    return _record_sweep(store, settings, scan)


def already_swept(store: RunStore, settings: ThinkSettings, budgets: Sequence[int], wanted: Callable[[str, int], bool]) -> bool:
    """Every budget's sweep, with these settings, covered the run's current samples and its answers are all
    in budgets.jsonl (read from the keys of samples.jsonl and budgets.jsonl, not the token ids)."""
    recorded = (store.manifest() or {}).get(MANIFEST_KEY) or {}
    if any(recorded.get(k) != v for k, v in settings.identity().items()):
        return False
    have = PairSet()
    samples = sum(1 for pid, i in iter_sample_keys(store.path / SAMPLES) if wanted(pid, i) and have.add(pid, i))
    lines = store.budget_keys()
    sweeps = recorded.get("budgets") or {}
    return all((rec := sweeps.get(str(b))) is not None and rec["samples"] == samples and len(lines.get(b, ())) == rec["forced"] for b in budgets)


def write_forced(store: RunStore, problems: Sequence[Problem], family: str, settings: ThinkSettings,
                 stream: Iterable[Continued], meter: Meter) -> int:
    """Grade each forced answer as it arrives and append it to budgets.jsonl."""
    by_id = {p.id: p for p in problems}
    tickets: dict[int, Continued] = {}
    pulling = [0.0]  # seconds spent waiting on the engine: the rest of the stage is grading and writing

    def items() -> Iterator[tuple[Problem, Sample]]:
        source, n = iter(stream), 0
        while True:
            t0 = time.perf_counter()
            got = next(source, None)
            pulling[0] += time.perf_counter() - t0
            if got is None:
                return
            c = got.request
            meter.add(len(c.prompt_ids), got.num_tokens, got.cached_tokens)
            tickets[n] = got
            # the answer budget is part of the protocol, not a cut-off response: the text is graded as it is
            yield by_id[c.problem_id], Sample(c.problem_id, n, c.seed, graded_text(settings, got.text), "stop", got.num_tokens)
            n += 1

    verifier, written, t0 = make_verifier(family), 0, time.perf_counter()
    try:
        with store.budget_appender() as out:
            for g in verifier.grade(items()):
                out.write(budget_record(tickets.pop(g.sample_index), g))
                written += 1
    finally:
        verifier.close()
        meter.grade_s = time.perf_counter() - t0 - pulling[0]
        meter.excluded_s += meter.grade_s
    return written


def budget_record(got: Continued, grade: Any) -> dict:
    """A budgets.jsonl line; the answer text goes last."""
    c = got.request
    return {"problem_id": c.problem_id, "sample_index": c.sample_index, "budget": c.budget, "prefix_tokens": c.budget,
            "correct": grade.correct, "status": grade.status, "answer": grade.answer, "finish_reason": got.finish_reason,
            "num_tokens": got.num_tokens, "seed": c.seed, "token_source": c.token_source, "completion": got.text}


def _record_sweep(store: RunStore, settings: ThinkSettings, scan: BudgetScan) -> dict:
    old = (store.manifest() or {}).get(MANIFEST_KEY) or {}
    done = dict(old.get("budgets") or {}) if old.get("think_end") == settings.think_end else {}
    done.update({str(b): {"samples": scan.samples, "forced": scan.forced[b], "think_tokens": scan.think_tokens[b]} for b in scan.budgets})
    entry = {**settings.identity(), "budgets": dict(sorted(done.items(), key=lambda kv: int(kv[0]))),
             "token_source": dict(scan.source)}
    store.update_manifest(**{MANIFEST_KEY: entry})
    return entry


def regrade_budgets(store: RunStore, problems: Sequence[Problem], family: str, settings: dict) -> int:
    """Grade every forced answer again (after a verifier change), rewriting budgets.jsonl atomically."""
    path = store.path / BUDGETS
    if not path.exists():
        return 0
    by_id, think = {p.id: p for p in problems}, ThinkSettings(settings["think_end"], settings["answer_cue"], settings["answer_tokens"])
    recs = [r for r in store.iter_budgets() if r["problem_id"] in by_id]
    items = ((by_id[r["problem_id"]], Sample(r["problem_id"], n, r.get("seed"), graded_text(think, r["completion"]), "stop")) for n, r in enumerate(recs))
    verifier, tmp = make_verifier(family), path.with_name(path.name + ".tmp")
    try:
        with JsonlAppender(tmp) as out:
            for g in sorted(verifier.grade(items), key=lambda g: g.sample_index):
                out.write({**recs[g.sample_index], "correct": g.correct, "status": g.status, "answer": g.answer})
        os.replace(tmp, path)
    finally:
        verifier.close()
        tmp.unlink(missing_ok=True)
    return len(recs)
