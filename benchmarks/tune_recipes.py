"""Tune every model of a dataset from its config in configs/ and compare with the config as it is.

    python benchmarks/tune_recipes.py [--dataset adult] [--models deepfm,lr] [--trials 30] [--jobs 2]
                                      [--out tunes] [--set KEY=VALUE ...]

For each ``configs/<dataset>_<model>.yaml``: trains the config as it stands (the "old" recipe), runs
``ctrkit tune`` over its ``tune:`` space into ``OUT/<dataset>_<model>`` (resuming a study that is
there), and prints a markdown table: valid and test AUC of the old config and of the best trial,
the best trial's parameters, and the minutes the tuning took. The winners are for a human to copy
into configs/ (``OUT/<dataset>_<model>/best.yaml`` holds each full config).
"""
from __future__ import annotations

import argparse
import csv
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def trained(config: str, out: str, sets: list) -> dict:
    subprocess.run([sys.executable, "-m", "ctrkit", "train", "--config", config, "--out", out, "--overwrite",
                    "--set", "train.progress=false", *sets], check=True, capture_output=True)
    with open(os.path.join(out, "metrics.json")) as fh:
        return json.load(fh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="adult")
    parser.add_argument("--models", help="comma-separated (default: every config of the dataset)")
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--out", default="tunes")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="passed to train and tune")
    args = parser.parse_args()
    sets = [x for s in args.set for x in ("--set", s)]
    configs = sorted(glob.glob(os.path.join(HERE, "..", "configs", f"{args.dataset}_*.yaml")))
    if args.models:   # in the order given
        by_model = {os.path.basename(c)[len(args.dataset) + 1:-5]: c for c in configs}
        configs = [by_model[m.replace("+", "_plus")] for m in args.models.split(",")]
    print(f"`python benchmarks/tune_recipes.py --dataset {args.dataset} --trials {args.trials} --jobs {args.jobs}`\n")
    print("| config | old valid AUC | old test AUC | tuned valid AUC | tuned test AUC | trials (complete/pruned/failed) "
          "| minutes | best parameters |")
    print("|---|---|---|---|---|---|---|---|")
    for config in configs:
        name = os.path.basename(config)[:-5]
        with tempfile.TemporaryDirectory() as tmp:
            old = trained(config, os.path.join(tmp, "old"), sets)
        folder = os.path.join(args.out, name)
        resume = ["--resume"] if os.path.exists(os.path.join(folder, "study.db")) else []
        start = time.time()
        subprocess.run([sys.executable, "-m", "ctrkit", "tune", "--config", config, "--trials", str(args.trials),
                        "--jobs", str(args.jobs), "--out", folder, *resume, *sets], check=True, capture_output=True)
        minutes = (time.time() - start) / 60
        with open(os.path.join(folder, "best", "metrics.json")) as fh:
            best = json.load(fh)
        with open(os.path.join(folder, "trials.csv")) as fh:
            trials = list(csv.DictReader(fh))
        with open(os.path.join(folder, "best.json")) as fh:
            number = json.load(fh)["trial"]
        fixed = ("number", "state", "value", "seconds", "epochs")
        params = {k: v for k, v in trials[number].items() if k not in fixed}
        states = [t["state"] for t in trials]
        counts = "/".join(str(states.count(s)) for s in ("complete", "pruned", "fail"))
        print(f"| {name} | {old['valid']['auc']:.4f} | {old['test']['auc']:.4f} | {best['valid']['auc']:.4f} | "
              f"{best['test']['auc']:.4f} | {counts} | {minutes:.1f} | {params} |", flush=True)


if __name__ == "__main__":
    main()
