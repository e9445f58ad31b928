"""Validation and test AUC / logloss of every model, trained from the ready configs in configs/.

    python benchmarks/model_auc.py [--datasets adult,synthetic] [--set KEY=VALUE ...]

Runs ``configs/<dataset>_*.yaml`` one by one (early stopping on validation AUC, best weights
restored) into a temporary folder and prints a markdown table per dataset. ``--set`` overrides
apply to every run, e.g. ``--set data.options.n_rows=100000`` for a smaller synthetic set.
"""
from __future__ import annotations

import argparse
import glob
import os
import tempfile

from ctrkit.config import load_config
from ctrkit.experiment import run_experiment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="adult,synthetic")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "configs")
    for dataset in args.datasets.split(","):
        print(f"\n### {dataset} (configs/{dataset}_*.yaml{'; ' + ', '.join(args.set) if args.set else ''})\n")
        print("| model | epochs (best) | valid AUC | valid logloss | test AUC | test logloss | train s |")
        print("|---|---|---|---|---|---|---|")
        for path in sorted(glob.glob(os.path.join(root, f"{dataset}_*.yaml"))):
            with tempfile.TemporaryDirectory() as out:
                config = load_config(path, [*args.set, "train.progress=false"], out=out)
                m = run_experiment(config)
            t = m["train"]
            print(f"| {m['model']} | {t['epochs']} ({t['best_epoch']}) | {m['valid']['auc']:.4f} | "
                  f"{m['valid']['logloss']:.4f} | {m['test']['auc']:.4f} | {m['test']['logloss']:.4f} | "
                  f"{t['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
