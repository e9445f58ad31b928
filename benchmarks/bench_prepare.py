"""Read + fit + transform speed of the processor on a 1M-row Criteo-shaped CSV.

    python benchmarks/bench_prepare.py [--rows 1000000] [--csv PATH] [--processes 1,2]

Writes the synthetic CSV once (13 numeric, 26 categorical fields, vocabularies up to 200k; cached
at --csv), then times, in a fresh child process per path so that peak memory is its own: streamed,
fit (read + count + scale) then transform (read + encode) into .npy files; and in memory,
fit_transform (one read: count, then encode the kept dictionary codes). Prints a table of seconds,
rows per second and peak RSS. Then ``ctrkit prepare`` on the same rows cut into 4 CSV parts (a
glob), by each number of processes in ``--processes`` (torchrun, ``--nproc``), with the wall time
of the command and whether the folders are equal to the one-process folder, byte for byte.
"""
from __future__ import annotations

import argparse
import filecmp
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import List

HERE = os.path.dirname(os.path.abspath(__file__))


def child(csv_path: str, out: str) -> None:
    """Fit + transform_to (``out`` a folder) or fit_transform (``out`` = '-') here; print JSON timings."""
    import numpy as np

    from ctrkit.datasets.criteo import NUMERIC, CATEGORICAL
    from ctrkit.features import FeatureSpec, Processor, Schema

    schema = Schema(fields=[FeatureSpec(name=c, type="numeric", log=True) for c in NUMERIC]
                    + [FeatureSpec(name=c, type="categorical") for c in CATEGORICAL], label="label")
    t0 = time.perf_counter()
    if out == "-":
        proc = Processor(schema)
        rows = len(proc.fit_transform(csv_path))
        times = {"fit_transform_s": time.perf_counter() - t0}
    else:
        proc = Processor(schema).fit(csv_path)
        t1 = time.perf_counter()
        rows = proc.transform_to(csv_path, out)
        times = {"fit_s": t1 - t0, "transform_s": time.perf_counter() - t1}
        assert np.load(os.path.join(out, "cat.npy"), mmap_mode="r").shape[0] == rows
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "vocab": proc.vocab_size, "peak_mb": peak_mb, **times}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--csv", default=os.path.join(tempfile.gettempdir(), "ctrkit-bench", "synthetic-{rows}.csv"))
    parser.add_argument("--processes", default="1,2", help="numbers of processes for `ctrkit prepare` of 4 CSV "
                                                           "parts ('' to leave it out)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from ctrkit.datasets.synthetic import write_csv

    csv_path = args.csv.format(rows=args.rows)
    if not os.path.exists(csv_path):
        t = time.perf_counter()
        write_csv(csv_path, args.rows)
        print(f"wrote {csv_path} ({os.path.getsize(csv_path) / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
    def run(out: str) -> dict:
        return json.loads(subprocess.run([sys.executable, __file__, "--child", csv_path, out], check=True,
                                         capture_output=True, text=True).stdout)

    with tempfile.TemporaryDirectory() as out:
        streamed = run(out)
    in_memory = run("-")
    n = streamed["rows"]
    print(f"\nfile: {csv_path} ({os.path.getsize(csv_path) / 1e6:.0f} MB, {n:,} rows, "
          f"13 numeric + 26 categorical, table rows {streamed['vocab']:,}); cores: {os.cpu_count()}")
    print(f"{'stage':<36} {'seconds':>8} {'rows/s':>12} {'peak RSS MB':>12}")
    rows = [("fit (read+count+scale)", streamed["fit_s"], ""),
            ("transform_to (read+encode+npy)", streamed["transform_s"], ""),
            ("streamed total", streamed["fit_s"] + streamed["transform_s"], f"{streamed['peak_mb']:.0f}"),
            ("fit_transform (one read, in memory)", in_memory["fit_transform_s"], f"{in_memory['peak_mb']:.0f}")]
    for name, seconds, peak in rows:
        print(f"{name:<36} {seconds:>8.2f} {n / seconds:>12,.0f} {peak:>12}")
    if args.processes:
        parallel(csv_path, [int(p) for p in args.processes.split(",")])


def parallel(csv_path: str, processes: List[int], parts: int = 4) -> None:
    """``ctrkit prepare`` of the rows cut into ``parts`` CSV files, by each number of processes."""
    import pyarrow as pa
    import pyarrow.csv as pa_csv

    from ctrkit.datasets.criteo import NUMERIC, CATEGORICAL

    folder = os.path.join(os.path.dirname(csv_path), os.path.basename(csv_path) + f".{parts}-parts")
    if not os.path.isdir(folder):
        table = pa_csv.read_csv(csv_path, convert_options=pa_csv.ConvertOptions(
            column_types={c: pa.string() for c in CATEGORICAL}))
        os.makedirs(folder)
        n = table.num_rows
        for i in range(parts):
            start, stop = n * i // parts, n * (i + 1) // parts
            pa_csv.write_csv(table.slice(start, stop - start), os.path.join(folder, f"part-{i}.csv"))
    command = [sys.executable, "-m", "ctrkit", "prepare", "--train", os.path.join(folder, "part-*.csv"),
               "--label", "label", "--numeric", ",".join(NUMERIC), "--categorical", ",".join(CATEGORICAL)]
    print(f"\nctrkit prepare --train '{folder}/part-*.csv' ({parts} CSV parts), seconds of the whole command")
    print(f"{'processes':>9} {'seconds':>8} {'rows/s':>12} {'same folder as 1 process':>25}")
    with tempfile.TemporaryDirectory() as out:
        first = None
        for p in processes:
            target = os.path.join(out, f"p{p}")
            t = time.perf_counter()
            done = subprocess.run([*command, "--out", target, *(["--nproc", str(p)] if p > 1 else [])],
                                  capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
            seconds = time.perf_counter() - t
            if done.returncode:
                raise SystemExit(done.stderr[-2000:])
            files = sorted(os.path.relpath(os.path.join(d, f), target) for d, _, fs in os.walk(target) for f in fs
                           if not f.endswith("manifest.json"))
            same = "-" if first is None else str(all(filecmp.cmp(os.path.join(first, f), os.path.join(target, f),
                                                                 shallow=False) for f in files))
            first = first or target
            rows = json.load(open(os.path.join(target, "train", "manifest.json")))["rows"]
            print(f"{p:>9} {seconds:>8.2f} {rows / seconds:>12,.0f} {same:>25}")


if __name__ == "__main__":
    main()
