"""One-shot `why-relevant` latency, whole process, for builds side by side.

    ROUNDS=8 python3 benches/oneshot-latency.py CORPUS BIN_A [BIN_B ...]

Each round runs four tasks with each build in turn (alternated within the round) on the
index already in CORPUS/.sextant, vectors off, and prints each build's p50 and p90 in ms.
"""
import os
import statistics
import subprocess
import sys
import time

corpus, bins = sys.argv[1], sys.argv[2:]
tasks = [
    "make the scheduler wake idle workers",
    "add a timeout to the http client request",
    "fix the type checker crash on recursive aliases",
    "reduce memory of the tsdb head compaction",
]
times = {b: [] for b in bins}
for _ in range(int(os.environ.get("ROUNDS", "5"))):
    for task in tasks:
        for b in bins:
            start = time.perf_counter()
            subprocess.run(
                [b, "why-relevant", task, "--vector-weight", "0"],
                cwd=corpus,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
            )
            times[b].append((time.perf_counter() - start) * 1000)
for b in bins:
    v = sorted(times[b])
    print(f"{b}: p50 {statistics.median(v):.0f} ms, p90 {v[int(len(v) * 0.9)]:.0f} ms, n={len(v)}")
