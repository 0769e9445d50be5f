"""Benchmark: a grading-heavy run in one process and on a two-node Ray cluster, side by side.

The workload is CodeT's HumanEval samples (real CodeGen-16B programs, 100 per task, each run against
the HumanEval tests in the sandbox): --tasks of the 164 tasks, spread over the set. Both sides grade
the same samples:

    one process   CodeVerifier(workers=cores).grade(all samples): what `evalkit run`/`score` do
    Ray           a cluster started as users start one (`ray start --head` on loopback plus one
                  `ray start --address` node, token authentication), joined through evalkit's own
                  `connect`; one `grade_batch` task per chunk of --chunk samples, the task
                  `evalkit run --ray` submits for each chunk it draws (64 for hf, 512 for vLLM)

The passes alternate, in rotated order, for --rounds rounds: others' load on a shared machine drifts,
so each Ray pass is compared with the one-process pass of its own round (median over rounds).
Calibrations are made once beforehand (untimed, shared cache dir): on a real node only its first run
makes them. Printed: median wall times and speed-ups, tasks per node, agreement of the verdicts, and
the per-chunk cost: in one process, inside the Ray task, Ray's scheduling and transport. Then the
speed-up on N real nodes of C cores each, for this run and for one of 100,000 samples, from those
measured costs (an overhead below zero, within this machine's noise, is taken as zero):

    T_1 = chunks x g / C        T_N = max(ceil(chunks / (N x C)) x (g + o), chunks x d) + join

with g the one-process time per chunk and slot (wall x workers / chunks), o the measured per-chunk
overhead (the Ray task's time plus the idle gaps on its worker before it, minus g), d the driver's own
time per chunk (one process hands out every chunk) and join the measured time to join the cluster;
a chunk is one task on one CPU, so more slots than chunks do not help ("bound: chunks").
Here both nodes share this machine's cores (each claims half): the local ratio compares the same
cores used two ways and stays near 1. It shows the overhead, which is what carries over to real nodes.

    EVALKIT_DATA_DIR=../shared/data python benchmarks/bench_ray.py [--tasks 48] [--rounds 3]
        [--chunk 64,512] [--nodes 2,4,8,16,32] [--cores-per-node C]
"""

from __future__ import annotations

import argparse
import math
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import statistics
from collections import Counter
from pathlib import Path

from bench_code_verify import CODET, codet_problems, read_jsonl

from evalkit.distributed.ray_join import connect
from evalkit.distributed.ray_runner import chunks, grade_batch
from evalkit.types import Sample
from evalkit.verify.code import CodeVerifier


def free_ports(count: int) -> list[int]:
    socks = [socket.socket() for _ in range(count)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


class LocalCluster:
    """Head plus one node on this machine, each `ray start` in a session of its own, whose processes
    are killed at the end (`ray stop` would stop every Ray process on the machine)."""

    def __init__(self, cpus_per_node: int, env: dict[str, str]):
        self.sessions: list[int] = []
        self.temps: list[str] = []
        port, client, dashboard = free_ports(3)
        self.address = f"127.0.0.1:{port}"
        self._start(["--head", "--port", str(port), "--ray-client-server-port", str(client),
                     "--dashboard-port", str(dashboard), "--include-dashboard", "false"], cpus_per_node, env)
        self._start(["--address", self.address], cpus_per_node, env)

    def _start(self, args: list[str], cpus: int, env: dict[str, str]) -> None:
        temp = tempfile.mkdtemp(prefix="ekbench-", dir="/tmp")  # Ray's socket paths must stay short
        self.temps.append(temp)
        p = free_ports(6)
        ray = Path(sys.executable).with_name("ray")
        cmd = [str(ray) if ray.exists() else "ray", "start", *args, "--num-cpus", str(cpus), "--temp-dir", temp,
               "--disable-usage-stats", "--object-store-memory", str(500 * 2**20),
               "--node-manager-port", str(p[0]), "--object-manager-port", str(p[1]), "--dashboard-agent-listen-port", str(p[2]),
               "--dashboard-agent-grpc-port", str(p[3]), "--metrics-export-port", str(p[4]), "--runtime-env-agent-port", str(p[5])]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.sessions.append(proc.pid)
        out, _ = proc.communicate(timeout=300)
        if proc.returncode != 0:
            self.stop()
            sys.exit(f"`ray start {' '.join(args[:2])}` failed:\n{out[-2000:]}")

    def stop(self) -> None:
        """Every process of each node's session (Ray's workers make their own process groups)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in session_members(self.sessions):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            time.sleep(2)
        for temp in self.temps:
            shutil.rmtree(temp, ignore_errors=True)


def session_members(sessions: list[int]) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and os.getsid(int(proc.name)) in sessions and (proc / "cmdline").read_bytes():
                pids.append(int(proc.name))
        except OSError:
            continue
    return pids


def timed_grade(family: str, items: list) -> tuple[list, str, str, float, float]:
    """The runner's grading task, plus where (node, worker process) and when it ran."""
    import ray

    start = time.time()
    grades = grade_batch(family, "sha256:codet-humaneval", items)
    ctx = ray.get_runtime_context()
    return grades, ctx.get_node_id(), ctx.get_worker_id(), start, time.time()


def grade_on_ray(ray, pieces: list[list]) -> dict:
    """Submit every chunk, collect as they finish (as the runner does). Besides wall and driver CPU
    time: each task's time, and the gaps on its worker before it (since the submission, or since that
    worker's previous task ended): Ray's scheduling and transport. A worker idle at the end because
    no chunk was left is granularity, not overhead (the extrapolation counts whole chunks)."""
    task = ray.remote(num_cpus=1)(timed_grade)
    start, t_submit, cpu = time.perf_counter(), time.time(), time.process_time()
    refs = [task.remote("code", piece) for piece in pieces]
    grades, runs = {}, []
    while refs:
        ready, refs = ray.wait(refs, num_returns=1)
        out, node, worker, t0, t1 = ray.get(ready[0])
        grades.update({(g.problem_id, g.sample_index): g.correct for g in out})
        runs.append((node, worker, t0, t1))
    gaps = 0.0
    for worker in {w for _, w, _, _ in runs}:
        last = t_submit
        for _, _, t0, t1 in sorted(r for r in runs if r[1] == worker):
            gaps, last = gaps + max(0.0, t0 - last), t1
    return {"wall": time.perf_counter() - start, "driver": time.process_time() - cpu, "grades": grades,
            "nodes": Counter(n for n, *_ in runs), "busy": sum(t1 - t0 for *_, t0, t1 in runs), "gaps": gaps}


def grade_here(items: list, cores: int) -> dict:
    start = time.perf_counter()
    with CodeVerifier(workers=cores) as v:
        grades = {(g.problem_id, g.sample_index): g.correct for g in v.grade(items)}
    return {"wall": time.perf_counter() - start, "grades": grades}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=48, help="HumanEval tasks (100 samples each), spread over the 164")
    ap.add_argument("--rounds", type=int, default=3, help="rounds of alternating passes")
    ap.add_argument("--chunk", default="64,512", help="samples per grading task, one Ray pass each (the runner's chunk: 64 hf, 512 vLLM)")
    ap.add_argument("--nodes", default="2,4,8,16,32", help="node counts for the extrapolation")
    ap.add_argument("--cores-per-node", type=int, default=None, help="cores of a real node [default: this machine's]")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    data_dir = Path(os.environ.get("EVALKIT_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
    problems = codet_problems(data_dir, data_dir.parent / "eval")
    ids = list(problems)
    keep = {ids[i * len(ids) // args.tasks] for i in range(min(args.tasks, len(ids)))}
    rows = [r for r in read_jsonl(data_dir.parent / "eval" / f"{CODET}_samples.jsonl") if r["task_id"] in keep]
    samples = [Sample(r["task_id"], r["sample_idx"], None, r["completion"]) for r in rows]
    items = [(problems[s.problem_id], s) for s in samples]
    sizes = [int(x) for x in args.chunk.split(",")]
    pieces = {size: [[(problems[s.problem_id], s) for s in c] for c in chunks(samples, size)] for size in sizes}
    print(f"{len(items)} CodeT samples, {len(keep)} tasks; {cores} cores here; {args.rounds} rounds")

    cache = tempfile.mkdtemp(prefix="ekbench-cache-")
    os.environ["EVALKIT_CACHE_DIR"] = cache  # this process and (inherited) both Ray nodes
    try:
        t = time.perf_counter()
        with CodeVerifier(workers=cores) as v:
            list(v.grade([(problems[pid], Sample(pid, 0, None, "")) for pid in keep]))  # calibrates every task
        print(f"calibration (once per node, cached): {time.perf_counter() - t:.1f} s, untimed below")
        rounds, join, per_node = run_rounds(args, cores, items, pieces)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    summarize(args, cores, rounds, pieces, join, per_node)


def run_rounds(args, cores: int, items: list, pieces: dict[int, list]) -> tuple[list[dict], float, int]:
    import ray

    token = secrets.token_hex(32)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=token, RAY_memory_monitor_refresh_ms="0", RAY_USAGE_STATS_ENABLED="0")
    per_node = max(1, cores // 2)
    cluster = LocalCluster(per_node, env)
    rounds = []
    try:
        os.environ["RAY_AUTH_TOKEN"] = token  # the driver: evalkit finds the token, turns token mode on
        t = time.perf_counter()
        connect(ray, cluster.address)
        join = time.perf_counter() - t
        modes: list = ["one process", *pieces]
        for r in range(args.rounds):
            done = {}
            for mode in modes[r % len(modes):] + modes[: r % len(modes)]:
                done[mode] = grade_here(items, cores) if mode == "one process" else grade_on_ray(ray, pieces[mode])
                print(f"  round {r + 1}: {mode if mode == 'one process' else f'Ray, chunks of {mode}'}: {done[mode]['wall']:.1f} s", flush=True)
            rounds.append(done)
        ray.shutdown()
    finally:
        cluster.stop()
    return rounds, join, per_node


def summarize(args, cores: int, rounds: list[dict], pieces: dict[int, list], join: float, per_node: int) -> None:
    single = statistics.median(r["one process"]["wall"] for r in rounds)
    print(f"\njoining the 2-node cluster (token authentication): {join:.1f} s")
    print(f"one process, {cores} workers          {single:7.1f} s  (median)")
    for size, chunked in pieces.items():
        n_chunks = len(chunked)
        walls = [r[size]["wall"] for r in rounds]
        ratio = statistics.median(r["one process"]["wall"] / r[size]["wall"] for r in rounds)
        differ = max(sum(r[size]["grades"][k] != v for k, v in r["one process"]["grades"].items()) for r in rounds)
        nodes = sorted(sum((r[size]["nodes"] for r in rounds), Counter()).values())
        print(f"\n-- Ray, 2 local nodes x {per_node} CPU, chunks of {size} ({n_chunks} tasks per pass)")
        print(f"wall {statistics.median(walls):.1f} s (median); speed-up {ratio:.2f} x (median of one process / Ray, same round; "
              f"both nodes share {cores} cores); tasks per node {nodes}; verdicts differing from one process: {differ}")
        per_round = [chunk_costs(r, size, n_chunks, cores) for r in rounds]
        g, busy, c, d = (statistics.median(x[i] for x in per_round) for i in range(4))
        print(f"per chunk, in slot-seconds (wall x parallel slots): one process g {g * 1e3:.0f} ms; the Ray task {busy * 1e3:.0f} ms ({(busy - g) * 1e3:+.0f}); "
              f"Ray scheduling and transport {(c - busy) * 1e3:+.0f} ms; in all c {c * 1e3:.0f} ms: overhead o = c - g = "
              f"{(c - g) * 1e3:+.0f} ms{' (below zero: taken as 0)' if c < g else ''}; driver d {d * 1e3:.1f} ms")
        mean_chunk = sum(len(x) for x in chunked) / n_chunks
        for label, count in (("this run", n_chunks), ("a run of 100,000 samples", math.ceil(100_000 / mean_chunk))):
            extrapolate(args, cores, label, count, g, max(c, g), d, join)


def chunk_costs(r: dict, size: int, n_chunks: int, cores: int) -> tuple[float, float, float, float]:
    """Seconds per chunk: one process, CPU (g); the Ray task (busy); busy plus the gaps on its worker
    (c); the driver's CPU (d)."""
    ray_pass = r[size]
    busy = ray_pass["busy"] / n_chunks
    return r["one process"]["wall"] * cores / n_chunks, busy, busy + ray_pass["gaps"] / n_chunks, ray_pass["driver"] / n_chunks


def extrapolate(args, cores: int, label: str, n_chunks: int, g: float, c: float, d: float, join: float) -> None:
    C = args.cores_per_node or cores
    t1 = n_chunks * g / C
    print(f"{label} ({n_chunks} chunks) on N real nodes of {C} cores; one process on one node: {t1:.1f} s")
    print("     N   T_N (s)   speed-up   bound")
    for n in (int(x) for x in args.nodes.split(",")):
        compute, driver = math.ceil(n_chunks / (n * C)) * c, n_chunks * d  # whole chunks per slot
        t_n = max(compute, driver) + join
        bound = "driver" if driver > compute else "chunks" if n * C >= n_chunks else "cores"
        print(f"{n:6d}  {t_n:8.1f}   {t1 / t_n:7.1f} x   {bound}")


if __name__ == "__main__":
    main()
