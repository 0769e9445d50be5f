"""`evalkit run --ray ADDRESS` against a cluster started the way users start one: `ray start --head`
on loopback plus a second node (`ray start --address`) on this machine, with token authentication.

The head runs with current Ray's defaults: RAY_AUTH_MODE unset and a token in the default file
~/.ray/auth_token (HOME is a temp dir), which turns token authentication on; the second node sets
RAY_AUTH_MODE=token, as Ray's docs say every joining node must. The reference is an independent
computation: a plain single-process `evalkit run` of the same command. Each `ray start` runs in a
session of its own, and every process in those sessions is killed at the end (`ray stop` cannot be
scoped to one cluster: it stops every Ray process on the machine).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="ray is not installed; pip install 'evalkit[ray]' (the dev extra has it)")
pytestmark = pytest.mark.skipif(not Path("/proc/self/cmdline").exists(), reason="finds Ray's processes through Linux /proc")

from evalkit.distributed.ray_join import _local_token  # noqa: E402
from evalkit.tiny_model import ASSET_DIR  # noqa: E402

from rundirs import metrics, records  # noqa: E402

COMMON = ["--bench", "arith", "--limit", "40", "--n", "64", "--k", "1,16,64", "--backend", "hf"]
# 40 chunks of 64 per checkpoint: at the kill about 75 of the 80 are still to draw, enough work that
# the head notices the lost node (about 3 s, below) before the surviving worker has drained the queue,
# even on a machine several times faster than a 2-core one (n = 16 left ~8 s of work here and a
# faster CI machine finished it first, the lost chunks then redrawn as duplicates of a slow worker's).
PER_RUN = 40 * 64
# The head declares a silent node dead after 3 missed 1 s health checks (Ray's default: 5 x 3 s), so
# the lost node is noticed while the queue still has work, not after the head has drained it.
FAST_NODE_DEATH = {"RAY_health_check_period_ms": "1000", "RAY_health_check_failure_threshold": "3"}
RAY = shutil.which("ray", path=f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}")


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any RAY_* setting (earlier tests may have set some)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(HOME=str(home), OMP_NUM_THREADS="1", RAY_memory_monitor_refresh_ms="0", RAY_USAGE_STATS_ENABLED="0")
    env.update(extra)
    return env


def evalkit(*args: str, env: dict[str, str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "evalkit.cli", *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)


def ray_processes(marker: str) -> list[int]:
    """Processes whose command line names `marker` (a node's temp dir)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@dataclass
class Cluster:
    address: str
    home: Path  # HOME whose ~/.ray/auth_token holds the cluster's token
    worker_temp: str
    sessions: list[int] = field(default_factory=list)  # one per `ray start`: every process of that node
    temps: list[str] = field(default_factory=list)

    def start_node(self, args: list[str], env: dict[str, str]) -> None:
        """`ray start` in a new session, which every process of the node inherits: killed at the end."""
        temp = tempfile.mkdtemp(prefix="ekray-", dir="/tmp")  # short: Ray's socket paths must fit 107 bytes
        self.temps.append(temp)
        ports = free_ports(6)
        cmd = [RAY, "start", *args, "--num-cpus", "1", "--object-store-memory", str(200 * 2**20), "--temp-dir", temp,
               "--disable-usage-stats", "--node-manager-port", str(ports[0]),
               "--object-manager-port", str(ports[1]), "--dashboard-agent-listen-port", str(ports[2]),
               "--dashboard-agent-grpc-port", str(ports[3]), "--metrics-export-port", str(ports[4]),
               "--runtime-env-agent-port", str(ports[5])]
        proc = subprocess.Popen(cmd, env={**env, **FAST_NODE_DEATH}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.sessions.append(proc.pid)
        out, _ = proc.communicate(timeout=180)
        assert proc.returncode == 0 and "Ray runtime started" in out, out[-3000:]
        if "--head" not in args:
            self.worker_temp = temp

    def stop(self) -> None:
        """SIGTERM every process of each node's session (Ray's workers make their own process
        groups, not sessions), SIGKILL what is left after 2 s; then remove the temp dirs."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in session_members(self.sessions):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline and session_members(self.sessions):
                time.sleep(0.1)
        for temp in self.temps:
            shutil.rmtree(temp, ignore_errors=True)


def session_members(sessions: list[int]) -> list[int]:
    """Live processes (not zombies) in any of these sessions."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.getsid(int(proc.name)) in sessions and (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory):
    if RAY is None:
        pytest.skip("the `ray` command is not on PATH")
    home = tmp_path_factory.mktemp("home")
    (home / ".ray").mkdir()
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    port, client_port, dashboard_port = free_ports(3)
    c = Cluster(address=f"127.0.0.1:{port}", home=home, worker_temp="")
    try:
        c.start_node(["--head", "--port", str(port), "--ray-client-server-port", str(client_port), "--dashboard-port", str(dashboard_port),
                      "--include-dashboard", "false"], clean_env(home))
        c.start_node(["--address", c.address], clean_env(home, RAY_AUTH_MODE="token"))
        yield c
    finally:
        c.stop()
    assert not session_members(c.sessions), "a Ray process of the test cluster outlived it"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """Two checkpoint dirs (same weights) and a single-process reference run of the first."""
    root = tmp_path_factory.mktemp("ckpts")
    a, b = root / "ckpt-a", root / "ckpt-b"
    shutil.copytree(ASSET_DIR, a)
    shutil.copytree(ASSET_DIR, b)
    home = tmp_path_factory.mktemp("home-ref")
    proc = evalkit("run", "--model", str(a), *COMMON, "--out", str(root / "single"), env=clean_env(home), cwd=root)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return a, b, root / "single"


def _worker_raylet(cluster: Cluster) -> int:
    pids = [p for p in ray_processes(cluster.worker_temp) if Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")[0].endswith(b"raylet")]
    assert len(pids) == 1, pids
    return pids[0]


@pytest.mark.slow  # a Ray cluster
@pytest.mark.timeout(600)
def test_two_checkpoints_survive_losing_a_node(cluster: Cluster, checkpoints, tmp_path: Path) -> None:
    """Two checkpoints over a head and a worker node, joined through the default token file and a
    loopback address; the worker node's raylet is SIGKILLed once the first chunk is written. Both
    runs still equal the single-process run: every sample once, same samples, grades, metrics."""
    a, b, single = checkpoints
    dirs = [tmp_path / "results" / "ckpt-a" / "arith", tmp_path / "results" / "ckpt-b" / "arith"]
    err = tmp_path / "driver.err"
    with err.open("w") as err_file:
        driver = subprocess.Popen([sys.executable, "-m", "evalkit.cli", "run", "--model", str(a), "--model", str(b), *COMMON, "--ray", cluster.address],
                                  env=clean_env(cluster.home), cwd=tmp_path, stdout=subprocess.PIPE, stderr=err_file, text=True)
        try:
            deadline = time.monotonic() + 300
            while not any((d / "samples.jsonl").is_file() and (d / "samples.jsonl").stat().st_size for d in dirs):
                assert driver.poll() is None, f"the run ended before its first chunk: {err.read_text()[-3000:]}"
                assert time.monotonic() < deadline, "no chunk within 300 s"
                time.sleep(0.1)
            os.kill(_worker_raylet(cluster), signal.SIGKILL)
            out, _ = driver.communicate(timeout=400)
        finally:
            if driver.poll() is None:
                driver.kill()
                driver.wait()
    stderr = err.read_text()
    assert driver.returncode == 0, stderr[-3000:]
    # Usually the killed node held work and the driver says so; Ray may also have moved the node's task
    # elsewhere by itself (its own retry) before the driver saw it. Either way every sample must be drawn
    # exactly once and equal the single-process run (below): that is what this test holds the run to.
    assert "Traceback" not in stderr, stderr[-3000:]
    expected = metrics(single)
    for model, d in zip((a, b), dirs):
        for name in ("samples.jsonl", "grades.jsonl"):
            rows = [json.loads(line) for line in (d / name).read_text().splitlines()]
            keys = [(r["problem_id"], r["sample_index"]) for r in rows]
            assert len(keys) == len(set(keys)) == PER_RUN  # nothing lost, nothing duplicated
            assert records(d, name) == records(single, name)
        assert metrics(d) == {**expected, "model": str(model), "label": str(model)}


def _one_error_line(proc: subprocess.CompletedProcess) -> str:
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    assert proc.returncode != 0 and len(lines) == 1 and lines[0].startswith("error: "), proc.stdout + proc.stderr
    return lines[0]


@pytest.mark.slow  # a Ray cluster
def test_wrong_or_missing_token_is_one_line(cluster: Cluster, tmp_path: Path) -> None:
    """RAY_AUTH_TOKEN outranks the (right) default file, as in Ray; a wrong one is refused in one
    line naming the variables. With no token anywhere: one line saying so. Nothing is written."""
    pytest.importorskip("grpc", reason="evalkit asks the head about its token over gRPC (ray[default] brings grpcio)")
    args = ["run", "--model", "tiny-arith", "--bench", "arith", "--limit", "2", "--n", "1", "--k", "1", "--backend", "hf", "--out", str(tmp_path / "run"), "--ray", cluster.address]
    wrong = _one_error_line(evalkit(*args, env=clean_env(cluster.home, RAY_AUTH_TOKEN="0" * 32), cwd=tmp_path))
    assert f"the Ray cluster at {cluster.address} rejected the token from RAY_AUTH_TOKEN" in wrong
    assert "RAY_AUTH_TOKEN_PATH" in wrong and "ray get-auth-token" in wrong
    empty_home = tmp_path / "home"
    empty_home.mkdir()
    missing = _one_error_line(evalkit(*args, env=clean_env(empty_home), cwd=tmp_path))
    assert "requires token authentication and this machine has no token" in missing
    assert "RAY_AUTH_TOKEN" in missing and "~/.ray/auth_token" in missing
    assert not (tmp_path / "run").exists()


def test_nothing_listening_is_one_line_in_seconds(tmp_path: Path) -> None:
    """A closed port: refused at once, one line, no run directory (no cluster needed)."""
    [port] = free_ports(1)
    proc = evalkit("run", "--model", "tiny-arith", "--bench", "arith", "--limit", "2", "--n", "1", "--k", "1", "--out", str(tmp_path / "run"),
                   "--ray", f"127.0.0.1:{port}", env=clean_env(tmp_path), cwd=tmp_path, timeout=60)
    assert _one_error_line(proc).startswith(f"error: nothing answers at 127.0.0.1:{port} (connection refused)")
    assert not (tmp_path / "run").exists()


def test_token_sources_follow_rays_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """RAY_AUTH_TOKEN, then the file RAY_AUTH_TOKEN_PATH names, then ~/.ray/auth_token (Ray's
    token-auth docs); surrounding whitespace is not part of a token; an unreadable path is an error."""
    from evalkit.types import EvalkitError

    for var in ("RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert _local_token() == (None, None)
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-default\n")
    assert _local_token() == ("from-default", str(tmp_path / ".ray" / "auth_token"))
    (tmp_path / "tok").write_text(" from-path \n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "tok"))
    assert _local_token() == ("from-path", f"RAY_AUTH_TOKEN_PATH={tmp_path / 'tok'}")
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert _local_token() == ("from-env", "RAY_AUTH_TOKEN")
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "absent"))
    with pytest.raises(EvalkitError, match="RAY_AUTH_TOKEN_PATH=.*cannot be read"):
        _local_token()
