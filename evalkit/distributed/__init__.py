"""Beyond one process: deterministic shards (shard.py), merging run directories (merge.py), Ray (ray_runner.py).

All three rest on one fact: a sample's seed is a pure function of (base seed, problem id, sample
index), so which machine draws a sample, and in which batch, does not change what it is.
"""
