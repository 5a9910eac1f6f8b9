"""Warm `sextant serve` latency, freshness and memory, measured through a real MCP client.

Usage (the python of .ci/mcp-client.sh has the `mcp` package):
    $(bash .ci/mcp-client.sh) benches/serve-latency.py SEXTANT_BINARY TREE [ROUNDS]

TREE must be indexed (`sextant index TREE`). Measures, client side, per call:
- `why_relevant` on ten tasks, ROUNDS times each, after one warm-up call: p50, p90, p99;
- the same answered by a fresh process per query (`sextant why-relevant --json`), p50, for
  the side-by-side ratio;
- freshness: a new file with a unique word is written, then `why_relevant` is polled (every
  50 ms) until it lists the file: seconds from save to answer, five times, median;
- the server's resident memory (VmRSS, VmHWM) after the calls;
- idle CPU: the server's CPU seconds over 5 s with nothing changing.
Prints one JSON object.
"""

import asyncio
import json
import os
import statistics
import subprocess
import sys
import time

from mcp import ClientSession, StdioServerParameters
from mcp.client.stdio import stdio_client

TASKS = [
    "fix crash when checking overloaded function with type variables",
    "report an error for a missing return statement in an async function",
    "support TypedDict keyword arguments in calls",
    "improve the error message for incompatible types in assignment",
    "daemon mode should reuse the cache between runs",
    "narrow union types after an isinstance check",
    "stub generator should keep the order of class attributes",
    "parse the new generic syntax for type aliases",
    "speed up the semantic analyzer on large modules",
    "plugin hook for attrs classes with converters",
]


def percentile(values, share):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def server_pid(tree):
    """The pid of the `sextant serve` process for TREE (this client's child)."""
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"serve" in args and tree.encode() in args:
            return int(pid)
    return None


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) * 1024
    return None


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def main():
    binary, tree = sys.argv[1], os.path.abspath(sys.argv[2])
    rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
    env = dict(os.environ)
    result = {"tree": tree, "rounds": rounds}
    params = StdioServerParameters(command=binary, args=["serve", "--repo", tree], env=env)
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            started = time.monotonic()
            await session.call_tool("why_relevant", {"task": TASKS[0]})
            result["first_call_s"] = round(time.monotonic() - started, 3)
            warm = []
            server_side = {"rank": [], "pack": []}
            for _ in range(rounds):
                for task in TASKS:
                    started = time.monotonic()
                    answer = await session.call_tool("why_relevant", {"task": task})
                    warm.append(time.monotonic() - started)
                    assert not answer.is_error, answer.content[0].text
                    for block in answer.content:
                        try:
                            timings = json.loads(block.text).get("timings_ms", {})
                        except (ValueError, AttributeError):
                            continue
                        for key in server_side:
                            if key in timings:
                                server_side[key].append(timings[key])
            result["warm_ms"] = {
                "p50": round(statistics.median(warm) * 1000, 1),
                "p90": round(percentile(warm, 0.9) * 1000, 1),
                "p99": round(percentile(warm, 0.99) * 1000, 1),
                "calls": len(warm),
            }
            result["server_side_ms_p50"] = {
                key: round(statistics.median(values), 1) for key, values in server_side.items() if values
            }
            pid = server_pid(tree)
            if pid:
                result["server_rss_mb"] = round(status(pid, "VmRSS") / 2**20, 1)
                result["server_peak_rss_mb"] = round(status(pid, "VmHWM") / 2**20, 1)
                before = cpu_seconds(pid)
                await asyncio.sleep(5)
                result["idle_cpu_percent"] = round((cpu_seconds(pid) - before) / 5 * 100, 2)
            fresh = []
            for n in range(5):
                word = f"zorbulate{n}x{int(time.time() * 1000) % 100000}"
                path = os.path.join(tree, f"fresh_{word}.py")
                with open(path, "w") as f:
                    f.write(f'def {word}():\n    """{word} the frobnicator."""\n    return 1\n')
                saved = time.monotonic()
                while time.monotonic() - saved < 30:
                    answer = await session.call_tool("why_relevant", {"task": f"{word} the frobnicator"})
                    if f"fresh_{word}.py" in answer.content[0].text:
                        fresh.append(time.monotonic() - saved)
                        break
                    await asyncio.sleep(0.05)
                os.remove(path)
                await asyncio.sleep(1.5)
            result["freshness_s"] = {
                "median": round(statistics.median(fresh), 2) if fresh else None,
                "all": [round(x, 2) for x in fresh],
            }
    cold = []
    for task in TASKS[: min(len(TASKS), rounds * 2)]:
        started = time.monotonic()
        subprocess.run([binary, "why-relevant", task, "--json", "--repo", tree],
                       env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
        cold.append(time.monotonic() - started)
    result["process_per_query_ms_p50"] = round(statistics.median(cold) * 1000, 1)
    result["ratio"] = round(statistics.median(cold) / statistics.median(warm), 1)
    print(json.dumps(result, indent=2))


asyncio.run(main())
