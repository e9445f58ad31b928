"""The scoring service under load: ``ctrkit serve`` in its own process (uvicorn, 1 and 2 workers),
driven over loopback by an async HTTP client (aiohttp) in another process.

    python benchmarks/bench_serve.py [--models lr,deepfm,autoint+,deepfm@synthetic] [--sizes 1,10,100,1000]
                                     [--seconds 5] [--workers 1,2] [--rate 200] [--clients 16]
    python benchmarks/bench_serve.py --sustain 600 [--fraction 0.8]   # 10 minutes at 80% of saturation

Per model (trained on Adult for 2 epochs into a temporary folder; ``M@synthetic``: on
``--synthetic-rows`` Criteo-shaped synthetic rows for 1 epoch, scored on fresh rows of the same
generator) and request size it prints, at
saturation (``--clients`` requests in flight; for 100 rows and more also with Arrow IPC bodies)
and at a fixed offered load (``--rate`` requests/s for single rows, ``--rate / size`` for bigger
requests, open loop): requests/s, rows/s, p50/p95/p99
latency and the server's CPU time per request; and the same rows scored in-process
(``Run.predict`` on the encoded rows, by request size) so that the HTTP overhead shows as a ratio.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import Dict, List

HERE = os.path.dirname(os.path.abspath(__file__))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def adult_rows(run_folder: str) -> List[dict]:
    import pyarrow.compute as pc

    from ctrkit.datasets import adult
    from ctrkit.runs import load_run

    run = load_run(run_folder)
    table = run.open_data(os.path.join(adult.FILES, "adult.test.gz")).read_all().drop(["income"])
    numeric = {f.column for f in run.processor.schema.fields if f.type == "numeric"}
    cols = {n: (pc.cast(table.column(n), "float64") if n in numeric else table.column(n)).to_pylist()
            for n in table.column_names}
    return [dict(zip(cols, v)) for v in zip(*cols.values())]


def synthetic_rows(n: int) -> List[dict]:
    """``n`` fresh rows of the synthetic generator (a block no training split holds), label dropped."""
    from ctrkit.datasets.synthetic import SyntheticConfig, SyntheticWorld

    table = SyntheticWorld(SyntheticConfig()).block(10_000, n).drop(["label"])
    return table.to_pylist()


def trained(model: str, folder: str, synthetic_rows_n: int) -> List[dict]:
    """Trains ``model`` (``NAME`` on Adult, 2 epochs; ``NAME@synthetic`` on ``synthetic_rows_n``
    synthetic rows, 1 epoch) into ``folder``; returns raw rows to score."""
    name, _, data = model.partition("@")
    if data == "synthetic":
        flags = ["--dataset", "synthetic", "--set", f"data.options.n_rows={synthetic_rows_n}", "--epochs", "1"]
    else:
        flags = ["--dataset", "adult", "--epochs", "2"]
    subprocess.run([sys.executable, "-m", "ctrkit", "train", *flags, "--model", name, "--out", folder,
                    "--set", "train.progress=false"], check=True, capture_output=True)
    return synthetic_rows(5_000) if data == "synthetic" else adult_rows(folder)


CONTENT_TYPES = {"json": "application/json", "arrow": "application/vnd.apache.arrow.stream"}


def arrow_stream(rows: List[dict]) -> bytes:
    import pyarrow as pa

    table = pa.Table.from_pylist(rows)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def cpu_seconds(pids: List[int]) -> float:
    """User + system CPU seconds of the processes (the server and its workers)."""
    tick, total = os.sysconf("SC_CLK_TCK"), 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as fh:
                parts = fh.read().rsplit(")", 1)[1].split()
            total += (int(parts[11]) + int(parts[12])) / tick
        except OSError:
            pass
    return total


def server_pids(pid: int) -> List[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [pid] + [int(p) for p in out]


async def drive(url: str, bodies: List[bytes], seconds: float, clients: int, rate: float,
                content_type: str = "application/json") -> Dict[str, float]:
    """Saturation (``rate`` 0: ``clients`` loops back to back) or an open loop at ``rate``/s."""
    import aiohttp

    latencies: List[float] = []
    errors, kinds = 0, {}
    # idle connections are dropped before uvicorn's 5 s keep-alive closes them: a request sent on a
    # connection the server is closing fails with ServerDisconnectedError (one in a 10-minute run)
    connector = aiohttp.TCPConnector(limit=max(clients, 64), keepalive_timeout=3)
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base_url=url, connector=connector, timeout=timeout) as client:
        async def one(i: int) -> None:
            nonlocal errors
            start = time.perf_counter()
            try:
                async with client.post("/predict", data=bodies[i % len(bodies)],
                                       headers={"content-type": content_type}) as r:
                    await r.read()
                    failed = "" if r.status == 200 else f"HTTP {r.status}"
            except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                failed = type(exc).__name__
            latencies.append(time.perf_counter() - start)
            if failed:
                errors += 1
                kinds[failed] = kinds.get(failed, 0) + 1

        for i in range(min(20, len(bodies))):    # connections opened and the server warm
            await one(i)
        latencies.clear()
        start = time.perf_counter()
        if rate <= 0:
            async def loop(k: int) -> None:
                i = k
                while time.perf_counter() - start < seconds:
                    await one(i)
                    i += clients
            await asyncio.gather(*(loop(k) for k in range(clients)))
        else:
            tasks, i = [], 0
            while (now := time.perf_counter() - start) < seconds:
                due = i / rate
                if due > now:
                    await asyncio.sleep(due - now)
                tasks.append(asyncio.create_task(one(i)))
                i += 1
            await asyncio.gather(*tasks)
        wall = time.perf_counter() - start
    q = statistics.quantiles(latencies, n=100) if len(latencies) > 1 else [latencies[0]] * 99
    return {"requests": len(latencies), "rps": len(latencies) / wall, "p50": q[49], "p95": q[94], "p99": q[98],
            "errors": errors, "error_kinds": kinds, "wall": wall}


def in_process_rows_per_second(run_folder: str, rows: List[dict], size: int, seconds: float = 2.0) -> float:
    import pyarrow as pa

    from ctrkit.runs import load_run

    run = load_run(run_folder)
    table = pa.Table.from_pylist(rows[:size])
    encoded = run.processor.transform(table, require_label=False)
    run.predict(encoded)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        run.predict(encoded)
        n += 1
    return n * size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="lr,deepfm,autoint+,deepfm@synthetic")
    parser.add_argument("--sizes", default="1,10,100,1000")
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=200.0, help="offered requests/s for single rows")
    parser.add_argument("--clients", type=int, default=16, help="requests in flight at saturation")
    parser.add_argument("--synthetic-rows", type=int, default=1_000_000, help="training rows of M@synthetic")
    parser.add_argument("--sustain", type=float, default=0.0,
                        help="instead of the table: single-row DeepFM requests at --fraction of saturation for this "
                             "many seconds, with errors and the server's memory after warm-up and at the end")
    parser.add_argument("--fraction", type=float, default=0.8, help="of the saturation rate, for --sustain")
    parser.add_argument("--drive", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.drive:                       # the client process
        with open(args.drive) as fh:
            job = json.load(fh)
        bodies = [base64.b64decode(b) for b in job["bodies"]]
        print("RESULT " + json.dumps(asyncio.run(drive(job["url"], bodies, job["seconds"], job["clients"],
                                                         job["rate"], job["content_type"]))), flush=True)
        return
    if args.sustain:
        sustain(args.sustain, args.clients, args.fraction)
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"{os.cpu_count()} cores; {args.seconds:g} s per cell; saturation = {args.clients} requests in flight; "
          f"offered = {args.rate:g} requests/s ÷ rows per request\n")
    print("| model | workers | rows/request | load | requests/s | rows/s | p50 ms | p95 ms | p99 ms | server CPU ms/request "
          "| errors | in-process rows/s | HTTP / in-process |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            folder = os.path.join(tmp, model)
            rows = trained(model, folder, args.synthetic_rows)
            local = {size: in_process_rows_per_second(folder, rows, size) for size in sizes}
            for workers in (int(w) for w in args.workers.split(",")):
                port = free_port()
                server = subprocess.Popen([sys.executable, "-m", "ctrkit", "serve", "--run", folder, "--port",
                                           str(port), "--workers", str(workers), "--max-rows", "100000"],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                url = f"http://127.0.0.1:{port}"
                _wait_ready(url)
                try:
                    for size in sizes:
                        parts = [[rows[(k * size + j) % len(rows)] for j in range(size)] for k in range(50)]
                        cells = [("saturation", 0.0, "json"), ("offered", args.rate / size, "json")]
                        if size >= 100:
                            cells.append(("saturation", 0.0, "arrow"))
                        for load, rate, kind in cells:
                            bodies = [base64.b64encode(json.dumps({"rows": p}).encode() if kind == "json"
                                                       else arrow_stream(p)).decode() for p in parts]
                            pids = server_pids(server.pid)
                            cpu = cpu_seconds(pids)
                            job = {"url": url, "bodies": bodies, "seconds": args.seconds, "clients": args.clients,
                                   "rate": rate, "content_type": CONTENT_TYPES[kind]}
                            job_path = os.path.join(tmp, "job.json")
                            with open(job_path, "w") as fh:
                                json.dump(job, fh)
                            out = subprocess.run([sys.executable, __file__, "--drive", job_path],
                                                 capture_output=True, text=True)
                            line = next(x for x in out.stdout.splitlines() if x.startswith("RESULT "))
                            r = json.loads(line[7:])
                            per_request = (cpu_seconds(pids) - cpu) / max(r["requests"], 1) * 1000
                            label = ("saturation" if load == "saturation" else f"{rate:g}/s offered") + \
                                (", Arrow" if kind == "arrow" else "")
                            print(f"| {model} | {workers} | {size} | {label} | {r['rps']:,.0f} | {r['rps'] * size:,.0f} | "
                                  f"{r['p50'] * 1000:.1f} | {r['p95'] * 1000:.1f} | {r['p99'] * 1000:.1f} | "
                                  f"{per_request:.2f} | {r['errors']} | {local[size]:,.0f} | "
                                  f"{r['rps'] * size / local[size]:.2f} |", flush=True)
                finally:
                    server.terminate()
                    server.wait(30)


def rss_mb(pids: List[int]) -> float:
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as fh:
                total += next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))
        except (OSError, StopIteration):
            pass
    return total / 1024


def sustain(seconds: float, clients: int, fraction: float, warmup: float = 30.0) -> None:
    """Single-row DeepFM requests at ``fraction`` of the measured saturation rate for ``seconds``:
    errors by kind, latency, and the server's memory after warm-up and at the end; the server's
    own log (stderr) is printed when it holds anything."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = os.path.join(tmp, "deepfm")
        rows = trained("deepfm", folder, 0)
        bodies = [base64.b64encode(json.dumps({"rows": [r]}).encode()).decode() for r in rows[:500]]
        port = free_port()
        log = open(os.path.join(tmp, "server.log"), "w+")
        server = subprocess.Popen([sys.executable, "-m", "ctrkit", "serve", "--run", folder, "--port", str(port)],
                                  stdout=subprocess.DEVNULL, stderr=log)
        url = f"http://127.0.0.1:{port}"
        _wait_ready(url)
        try:
            def run(rate: float, length: float) -> subprocess.Popen:
                path = os.path.join(tmp, f"job{rate}.json")
                with open(path, "w") as fh:
                    json.dump({"url": url, "bodies": bodies, "seconds": length, "clients": clients, "rate": rate,
                               "content_type": "application/json"}, fh)
                return subprocess.Popen([sys.executable, __file__, "--drive", path], stdout=subprocess.PIPE, text=True)

            def result(proc: subprocess.Popen) -> Dict[str, float]:
                out = proc.communicate()[0]
                return json.loads(next(x for x in out.splitlines() if x.startswith("RESULT "))[7:])

            saturation = result(run(0.0, 10.0))["rps"]
            rate = fraction * saturation
            pids = server_pids(server.pid)
            driver = run(rate, seconds)
            time.sleep(warmup)
            after_warmup = rss_mb(pids)
            r = result(driver)
            at_end = rss_mb(pids)
        finally:
            server.terminate()
            server.wait(30)
            log.seek(0)
            server_log = log.read().strip()
            log.close()
    if server_log:
        print("server log:\n" + server_log[-3000:])
    print(f"saturation {saturation:,.0f} requests/s; {seconds:g} s at {rate:,.0f}/s offered: {r['requests']:,} requests, "
          f"{r['errors']} errors {r['error_kinds'] or ''}, {r['rps']:,.0f}/s served, p50 {r['p50'] * 1000:.1f} ms, p99 {r['p99'] * 1000:.1f} ms; "
          f"server RSS {after_warmup:,.0f} MB after {warmup:g} s, {at_end:,.0f} MB at the end "
          f"({at_end / after_warmup - 1:+.1%})")


def _wait_ready(url: str) -> None:
    deadline = time.time() + 90
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url + "/ready", timeout=1) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError("the server did not start")


if __name__ == "__main__":
    main()
