"""Training speed when another busy process shares the cores: torch's thread pool fixed at every
core (``train.threads`` = cores, the behaviour before issue 24) against sized to the cores other
processes leave (``train.threads: 0``, the default), each on an idle machine and with one spinning
process beside it.

    python benchmarks/bench_contention.py [--models afm,autoint+,deepfm] [--repeats 3] [--rows 100000]

Each row trains one epoch of the model on synthetic Criteo-shaped rows (``ctrkit train``, a process
per run) and prints samples/s, the median of --repeats runs; the runs of a model alternate between
the settings so that drift on a shared machine touches all of them alike.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

SPIN = "while True: pass"


def train(model: str, threads: int, rows: int, out: str) -> float:
    data = (f"data.options={{n_rows: {rows}, n_numeric: 13, n_categorical: 26, vocab_max: 100000, n_pairs: 4, "
            "n_triples: 1, n_first_order: 8}")
    proc = subprocess.run([sys.executable, "-m", "ctrkit", "train", "--dataset", "synthetic", "--model", model,
                           "--epochs", "1", "--batch-size", "1024", "--out", out, "--overwrite", "--set", data,
                           "--set", f"train.threads={threads}", "--set", "train.progress=false"],
                          capture_output=True, text=True)
    match = re.search(r"([\d,]+) samples/s", proc.stdout)
    if proc.returncode or not match:
        raise RuntimeError(proc.stderr[-2000:])
    return float(match.group(1).replace(",", ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="afm,autoint+,deepfm")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=100_000)
    args = parser.parse_args()
    cores = len(os.sched_getaffinity(0))
    print(f"{cores} cores; samples/s, median of {args.repeats} one-epoch runs at batch 1024 on {args.rows:,} "
          "synthetic rows (80% train)\n")
    print(f"| model | idle, {cores} threads | idle, sized | busy, {cores} threads | busy, sized | busy sized / busy fixed |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for model in args.models.split(","):
            runs = {key: [] for key in ("idle fixed", "idle sized", "busy fixed", "busy sized")}
            for _ in range(args.repeats):
                for busy in (False, True):
                    spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
                    try:
                        for threads, name in ((cores, "fixed"), (0, "sized")):
                            runs[f"{'busy' if busy else 'idle'} {name}"].append(
                                train(model, threads, args.rows, os.path.join(tmp, model)))
                    finally:
                        if spinner is not None:
                            spinner.kill()
                            spinner.wait()
            med = {k: statistics.median(v) for k, v in runs.items()}
            print(f"| {model} | {med['idle fixed']:,.0f} | {med['idle sized']:,.0f} | {med['busy fixed']:,.0f} | "
                  f"{med['busy sized']:,.0f} | {med['busy sized'] / med['busy fixed']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
