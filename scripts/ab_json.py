#!/usr/bin/env python3
"""A/B of two shardsql binaries reading a JSON-lines file (BENCHMARKS.md, "JSON lines reader
(issue 12)"): the seed queries 01..05 at 1 and 2 cores, RUNS alternating runs each (old, new,
old, new, ...), medians. Prints a Markdown table: wall-clock M records/s (and per core), and
M records per CPU-second of the whole process (user + sys of the child, all its threads,
which a shared host disturbs less than wall time).

    scripts/ab_json.py OLD_BINARY NEW_BINARY FILE.jsonl [RUNS]
"""
import json, os, resource, statistics, subprocess, sys, tempfile

old, new, path = sys.argv[1:4]
runs = int(sys.argv[4]) if len(sys.argv) > 4 else 5
queries = ["01_passthrough", "02_rows_window", "03_group_by", "04_tumbling",
           "05_tumbling_emit_changes"]
stats = tempfile.mktemp(suffix=".json")


def run(binary, query, cores):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([binary, "--query", f"queries/{query}.sql", "--input", path, "--cores",
                    str(cores), "--output", "null", "--stats", stats],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    s = json.load(open(stats))
    return s["records_in"] / s["elapsed_s"] / 1e6, s["records_in"] / cpu / 1e6, s["malformed"]


os.chdir(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
print("| query | cores | base M rec/s | this M rec/s | this per core | ratio "
      "| base M rec/CPU-s | this M rec/CPU-s |")
print("|---|---|---|---|---|---|---|---|")
for q in queries:
    for cores in (1, 2):
        o, n = [], []
        for _ in range(runs):
            o.append(run(old, q, cores))
            n.append(run(new, q, cores))
        assert {r[2] for r in o} == {r[2] for r in n}, "malformed counts differ"
        mo = statistics.median(r[0] for r in o)
        mn = statistics.median(r[0] for r in n)
        co = statistics.median(r[1] for r in o)
        cn = statistics.median(r[1] for r in n)
        print(f"| {q} | {cores} | {mo:.2f} | {mn:.2f} | {mn / cores:.2f} | {mn / mo:.1f} "
              f"| {co:.2f} | {cn:.2f} |", flush=True)
os.remove(stats)
