"""compare.py runner: ctrkit through its command line, exactly as a user runs it.

One ``ctrkit train --train T --valid V --label label --model M ...`` process: the schema is
inferred from the CSV (numeric fields binned, as the harness bins them), the data is prepared
into the run folder and read back memory-mapped, and training runs with the CLI's defaults (its
bf16 choice, progress, checkpoints). Only what the table fixes for every library is passed:
batch, epochs, embedding 16, Adam 1e-3 and the model's sizes of ``run_ctrkit.OPTIONS``. Training
samples/s and AUC come from the run's ``metrics.json``; ``preprocess`` is the command's wall time
outside training (start, inference of the schema, preparation, evaluation, writing the run).
Prediction is not timed here (the harness row times the same model's prediction in process).
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import EMBED_DIM, LR, report, runner_args  # noqa: E402
from run_ctrkit import OPTIONS  # noqa: E402


def main() -> None:
    args = runner_args()
    sets = [f"model.{key}={json.dumps(list(v) if isinstance(v, tuple) else v)}" for key, v in OPTIONS[args.model].items()]
    with tempfile.TemporaryDirectory() as out:
        run = os.path.join(out, "run")
        command = [sys.executable, "-m", "ctrkit", "train", "--train", args.train, "--valid", args.valid,
                   "--label", "label", "--model", args.model, "--batch-size", str(args.batch_size),
                   "--embedding-dim", str(EMBED_DIM), "--lr", str(LR), "--out", run,
                   *(["--epochs", str(args.epochs)] if not args.patience else []),
                   *[item for s in sets for item in ("--set", s)]]
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if done.returncode:
            raise SystemExit(done.stderr[-3000:])
        with open(os.path.join(run, "metrics.json")) as fh:
            metrics = json.load(fh)
        with open(os.path.join(run, "data", "train", "manifest.json")) as fh:
            rows = json.load(fh)["rows"]
        with open(os.path.join(run, "data", "valid", "manifest.json")) as fh:
            valid_rows = json.load(fh)["rows"]
    train = metrics["train"]
    report({"library": "ctrkit-cli", "model": args.model, "rows": rows, "valid_rows": valid_rows,
            "epochs": train["epochs"], "train": train["seconds"],
            "train_samples_per_second": train["samples_per_second"], "precision": train["precision"],
            "predict_samples_per_second": None, "preprocess": wall - train["seconds"],
            "auc": metrics["valid"]["auc"], "logloss": metrics["valid"]["logloss"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
            "command": " ".join(["ctrkit", *command[3:]])})


if __name__ == "__main__":
    main()
