"""Read + fit + transform speed of the processor on a 1M-row Criteo-shaped CSV.

    python benchmarks/bench_prepare.py [--rows 1000000] [--csv PATH] [--keep]

Writes the synthetic CSV once (13 numeric, 26 categorical fields, vocabularies up to 200k; cached
at --csv), then times, in a fresh child process each so peak memory is measured per stage:
fit (read + count + scale) and transform (read + encode) into .npy files, and the two together.
Prints a table of seconds, rows per second and peak RSS.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def child(csv_path: str, out: str) -> None:
    """Fit + transform in this process; print JSON timings."""
    import numpy as np

    from ctrkit.data.datasets.criteo import NUMERIC, CATEGORICAL
    from ctrkit.features import FeatureSpec, Processor, Schema

    schema = Schema(fields=[FeatureSpec(name=c, type="numeric", log=True) for c in NUMERIC]
                    + [FeatureSpec(name=c, type="categorical") for c in CATEGORICAL], label="label")
    t0 = time.perf_counter()
    proc = Processor(schema).fit(csv_path)
    t1 = time.perf_counter()
    rows = proc.transform_to(csv_path, out)
    t2 = time.perf_counter()
    cat = np.load(os.path.join(out, "cat.npy"), mmap_mode="r")
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": rows, "fit_s": t1 - t0, "transform_s": t2 - t1, "vocab": proc.vocab_size,
                      "cat_shape": list(cat.shape), "peak_mb": peak_mb}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--csv", default=os.path.join(tempfile.gettempdir(), "ctrkit-bench", "synthetic-{rows}.csv"))
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from ctrkit.data.datasets.synthetic import write_csv

    csv_path = args.csv.format(rows=args.rows)
    if not os.path.exists(csv_path):
        t = time.perf_counter()
        write_csv(csv_path, args.rows)
        print(f"wrote {csv_path} ({os.path.getsize(csv_path) / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")
    with tempfile.TemporaryDirectory() as out:
        result = json.loads(subprocess.run([sys.executable, __file__, "--child", csv_path, out], check=True,
                                           capture_output=True, text=True).stdout)
    n = result["rows"]
    total = result["fit_s"] + result["transform_s"]
    print(f"\nfile: {csv_path} ({os.path.getsize(csv_path) / 1e6:.0f} MB, {n:,} rows, "
          f"13 numeric + 26 categorical, table rows {result['vocab']:,}); cores: {os.cpu_count()}")
    print(f"{'stage':<28} {'seconds':>8} {'rows/s':>12}")
    print(f"{'fit (read+count+scale)':<28} {result['fit_s']:>8.2f} {n / result['fit_s']:>12,.0f}")
    print(f"{'transform (read+encode+npy)':<28} {result['transform_s']:>8.2f} {n / result['transform_s']:>12,.0f}")
    print(f"{'total':<28} {total:>8.2f} {n / total:>12,.0f}")
    print(f"peak RSS: {result['peak_mb']:.0f} MB")


if __name__ == "__main__":
    main()
