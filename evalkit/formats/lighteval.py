"""lighteval details files: `details/<model>/<date>/details_<task>_<date>.parquet`.

What lighteval writes (huggingface/lighteval @ 3fd15266, src/lighteval/logging/evaluation_tracker.py
`save` + `save_details`): one row per doc, `Dataset.from_list([asdict(Detail)])` with columns sorted,
`Detail` = {doc: Doc, model_response: ModelResponse, metric: {...}} (logging/info_loggers.py);
Doc (tasks/requests.py): query (the templated prompt), choices, gold_index, instruction, specific,
original_query, id (the row's position in the split, as a string), task_name, num_samples, ...;
ModelResponse (models/model_output.py): input, text (the n generations), output_tokens,
text_post_processed (reasoning removed), reasonings, logprobs, ...
The raw `model_response.text` is graded, not `text_post_processed`. The problem: an id in
`doc.specific`, else the doc's question (`original_query`, else `query`, which embeds it in the task's
template) matched to the benchmark; `doc.id` is a hint.
lighteval before 0.11 (@ 0ba8812f, the parent of the refactor 9288bd84) wrote flat columns instead:
example (doc.query), full_prompt, predictions (the n generations), cont_tokens, gold, specifics, metrics,
...; those files are read too (predictions graded, example matched).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

from ..types import EvalkitError
from . import Entry, Format
from .jsonl import hash_file, strings
from .lm_eval import doc_ids

BATCH_ROWS = 16  # rows decoded at once: a row holds all n generations of a doc (n x 32 KB for a reasoning model)


def entries(path: Path, digest: Any) -> Iterator[Entry]:
    hash_file(path, digest)
    row = 0
    for batch in _batches(path):
        for rec in batch:
            row += 1
            yield entry(f"{path} row {row}", rec)


def _batches(path: Path) -> Iterator[list[dict]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        f = pq.ParquetFile(path, buffer_size=1 << 20, pre_buffer=False)  # pages read as batches need them, not whole row groups
    except (OSError, pa.ArrowException) as e:
        raise EvalkitError(f"--samples {path}: not a readable parquet file ({e}); pass a lighteval details_*.parquet file") from None
    names = f.schema_arrow.names
    if "doc" in names and "model_response" in names:
        columns = ["doc", "model_response"]
    elif "example" in names and "predictions" in names:  # lighteval < 0.11
        columns = [c for c in ("example", "predictions", "specifics", "cont_tokens") if c in names]
    else:
        raise EvalkitError(f"--samples {path}: a lighteval details file has columns doc and model_response (before lighteval 0.11: "
                           f"example and predictions); this one has {', '.join(names[:8])}")
    for batch in f.iter_batches(batch_size=BATCH_ROWS, columns=columns):
        yield batch.to_pylist()


def entry(where: str, rec: dict) -> Entry:
    if "doc" not in rec:
        return legacy_entry(where, rec)
    doc, response = rec.get("doc") or {}, rec.get("model_response") or {}
    texts = strings(response.get("text"), where, "model_response.text")
    specific = doc.get("specific") if isinstance(doc.get("specific"), dict) else {}
    question = doc.get("original_query") or doc.get("query")
    position = str(doc.get("id", ""))
    tokens = response.get("output_tokens") or None
    lengths = [len(t) for t in tokens] if tokens and len(tokens) == len(texts) else None
    return Entry(where, texts, ids=doc_ids(specific), question=question if isinstance(question, str) else None,
                 index=int(position) if position.isdigit() else None, tokens=lengths)


def legacy_entry(where: str, rec: dict) -> Entry:
    """A row of lighteval < 0.11: example, predictions, specifics, cont_tokens."""
    texts = strings(rec.get("predictions"), where, "predictions")
    specifics = rec.get("specifics") if isinstance(rec.get("specifics"), dict) else {}
    tokens = rec.get("cont_tokens") or None
    lengths = [len(t) for t in tokens] if tokens and len(tokens) == len(texts) and all(isinstance(t, list) for t in tokens) else None
    question = rec.get("example")
    return Entry(where, texts, ids=doc_ids(specifics), question=question if isinstance(question, str) else None, tokens=lengths)


FORMAT = Format("lighteval", "details_<task>_<date>.parquet: doc, model_response (before 0.11: example, predictions)",
                "graded the raw generations (`model_response.text`, before lighteval 0.11 `predictions`), not `text_post_processed`", entries)
