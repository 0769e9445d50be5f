"""The sandbox's out-of-process scripts. Each runs as its own interpreter (`python -s -S SCRIPT FD`: no
site-packages on its path) and imports only the standard library and its siblings here, as top-level
modules: nothing from the rest of evalkit, so what runs beside model code is exactly this folder. The
harness imports the shared protocol modules (wire, codec, linux) from here as a package.

    process       script       runs                                 trust      confined by              limits on it
    judge         judge.py     the benchmark's tests vs a proxy of  trusted    bubblewrap (when         RLIMIT_AS; per sample
                               the candidate; replies as plain                 present), non-dumpable,  RLIMIT_CPU's soft limit
                               data; measures each call's CPU and              dies with the harness    (SIGXCPU); restarted
                               wall time (channel.py), answers the                                      by the harness
                               child's thread clones (threadcap.py)
    fork server   worker.py    no model code, never a program;      trusted    bubblewrap, non-         none needed: it runs
                               forks one child per sample, kills               dumpable, scrubbed       no sample's code and
                               it at the deadline                              environment              holds no sample's data
    child         child.py     the model's program, received after  HOSTILE    + Landlock (landlock.py: RLIMIT_CPU, RLIMIT_AS
                               the fork over its own socket                    the harness's list), the (kernel); per-call CPU
                                                                               seccomp allow-list       and wall, threads (the
                                                                               (seccomp.py), no         judge); whole-sample
                                                                               capabilities, one socket wall (the fork server)

    shared by them: wire.py (framing, fd passing), codec.py (plain values only, bounded decoding),
    linux.py (prctl and syscall numbers), procstat.py (CPU time and threads from /proc/PID/stat),
    threadcap.py (the thread cap), imports.py (the allowed modules, from their own paths),
    lcb_compare.py (LiveCodeBench's output rules, judge), stdio_run.py (stdin programs, child).

What each holds: the judge the tests, expected outputs and each sample's token; the fork server only
the limits of each job (never a program, a reference solution, a test or an expected output: the
harness sends each child its program after the fork); the child its own program and one socket to
the judge. See docs/code-sandbox.md.
"""
