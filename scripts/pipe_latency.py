#!/usr/bin/env python3
"""Live-pipe latency: writes records into shardsql's stdin at a fixed rate and measures, per
output row, the time from the write of the record that caused it to the row's arrival on
shardsql's stdout.

  * EMIT CHANGES: `GROUP BY device EMIT CHANGES`; the row (device, n) is caused by the n-th
    record of that device.
  * Window: `WINDOW TUMBLING (ts, INTERVAL '1' SECOND)` with event time = the write time; a
    window's rows are caused by the first record at or past its end (which closes it).

Usage: scripts/pipe_latency.py [--binary target/release/shardsql] [--rates 20,2000,200000]
       [--seconds 10] [--cores 2] [--warmup 1]

Rows caused in the first `--warmup` seconds are left out (column types are inferred from the
first records, which wait up to 50 ms for company). Percentiles are exact over all rows (the
HDR definition: the smallest value with at least p% of the samples at or below it).
"""

import argparse
import os
import subprocess
import sys
import threading
import time


def percentile(sorted_ms, p):
    if not sorted_ms:
        return float("nan")
    k = max(0, min(len(sorted_ms) - 1, int(-(-p * len(sorted_ms) // 100)) - 1))
    return sorted_ms[k]


def run(binary, query, rate, seconds, cores, warmup):
    proc = subprocess.Popen(
        [binary, "--query", query, "--input", "-", "--cores", str(cores), "--timestamps", "epoch-ms",
         "--runtime", "threads"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0)
    arrivals = []

    def read():
        # Big reads stamped on arrival, split into lines afterwards: the consumer must not be
        # the bottleneck it measures.
        fd = proc.stdout.fileno()
        chunks = []
        while True:
            data = os.read(fd, 1 << 20)
            if not data:
                break
            chunks.append((time.monotonic(), data))
        partial = b""
        for t, data in chunks:
            lines = (partial + data).split(b"\n")
            partial = lines.pop()
            arrivals.extend((t, line.decode()) for line in lines)

    reader = threading.Thread(target=read)
    reader.start()
    proc.stdin.write(b"ts,device,v\n")
    start = time.monotonic()
    writes = []  # (write time, first record index, count)
    n = int(rate * seconds)
    # Write in batches of at most 1 ms worth of records (at least one record per write).
    per_write = max(1, int(rate / 1000))
    i = 0
    while i < n:
        due = start + i / rate
        now = time.monotonic()
        if now < due:
            time.sleep(min(due - now, 0.001))
            continue
        k = min(per_write, n - i)
        chunk = "".join(
            f"{int((i + j) * 1000 / rate) + 1_700_000_000_000},d{(i + j) % 10},{i + j}\n"
            for j in range(k))
        proc.stdin.write(chunk.encode())
        writes.append((time.monotonic(), i, k))
        i += k
    end_of_writes = time.monotonic()
    time.sleep(0.3)
    proc.stdin.close()
    reader.join()
    err = proc.stderr.read().decode()
    proc.wait()
    return start, writes, arrivals, end_of_writes, err, n


def write_time_of(writes):
    """Record index -> its write time."""
    times = {}
    for t, first, k in writes:
        for j in range(first, first + k):
            times[j] = t
    return times


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--binary", default="target/release/shardsql")
    ap.add_argument("--rates", default="20,2000,200000")
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--warmup", type=float, default=1)
    args = ap.parse_args()
    import tempfile
    tmp = tempfile.mkdtemp()
    q_changes = os.path.join(tmp, "changes.sql")
    q_window = os.path.join(tmp, "window.sql")
    open(q_changes, "w").write("SELECT device, COUNT(*) AS n FROM s GROUP BY device EMIT CHANGES")
    open(q_window, "w").write(
        "SELECT device, COUNT(*) AS n, window_end FROM s GROUP BY device "
        "WINDOW TUMBLING (ts, INTERVAL '1' SECOND)")
    print("| rate (records/s) | written at | query | rows | before close | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for rate in [float(r) for r in args.rates.split(",")]:
        for name, query in [("EMIT CHANGES", q_changes), ("window close", q_window)]:
            start, writes, arrivals, end_of_writes, err, n = run(
                args.binary, query, rate, args.seconds, args.cores, args.warmup)
            wt = write_time_of(writes)
            header = arrivals[0][1].split(",") if arrivals else []
            rows = [(t, dict(zip(header, line.split(",")))) for t, line in arrivals[1:]]
            lat = []
            before_close = sum(1 for t, _ in rows if t <= end_of_writes + 0.25)
            if name == "EMIT CHANGES":
                for t, r in rows:
                    k = int(r["n"])
                    d = int(r["device"][1:])
                    idx = (k - 1) * 10 + d  # the k-th record of device d
                    if idx in wt and wt[idx] - start >= args.warmup:
                        lat.append((t - wt[idx]) * 1000)
            else:
                for t, r in rows:
                    end = r["window_end"]
                    end_ms = int(end) if end.isdigit() else None
                    if end_ms is None:
                        continue
                    # The closing record: the first whose event time is at or past the end.
                    offset = end_ms - 1_700_000_000_000
                    idx = int(-(-offset * rate // 1000))
                    while idx < n and int(idx / rate * 1000) < offset:
                        idx += 1
                    if idx in wt and wt[idx] - start >= args.warmup:
                        lat.append((t - wt[idx]) * 1000)
            lat.sort()
            cells = [percentile(lat, p) for p in (50, 90, 99, 99.9)] + [lat[-1] if lat else float("nan")]
            achieved = n / max(end_of_writes - start, 1e-9)
            print(f"| {rate:,.0f} | {achieved:,.0f} | {name} | {len(rows):,} | {before_close:,} | "
                  + " | ".join(f"{c:.1f}" for c in cells) + " |")
            if "records in" not in err:
                print(err, file=sys.stderr)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
