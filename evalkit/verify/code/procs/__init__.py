"""The sandbox's out-of-process scripts. Each runs as its own interpreter (`python -s SCRIPT FD`) and
imports only the standard library and its siblings here, as top-level modules: nothing from the rest of
evalkit, so what runs beside model code is exactly this folder. The harness imports the shared
protocol modules (wire, codec, linux) from here as a package.

    process       script       runs                                   trust      confined by
    judge         judge.py     the benchmark's tests vs a proxy of    trusted    bubblewrap (when present),
                               the candidate; replies as plain data              non-dumpable, dies with harness
    fork server   worker.py    no model code; forks one child per     trusted    bubblewrap, non-dumpable,
                               sample, reports how it ended                      scrubbed environment
    child         child.py     the model's program                    HOSTILE    + Landlock (landlock.py), seccomp
                                                                                 allow-list (seccomp.py), rlimits,
                                                                                 per-call timers, one socket

    shared by them: wire.py (framing, fd passing), codec.py (plain values only), linux.py (prctl and
    syscall numbers), lcb_compare.py (LiveCodeBench's output rules, judge), stdio_run.py (stdin
    programs, child).

What each holds: the judge the tests, expected outputs and each sample's token; the fork server the
program text only; the child one socket to the judge. See the README's sandbox section.
"""
