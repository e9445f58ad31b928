"""Valid AUC against training speed for a model's sizes: how the models' default sizes are chosen.

Each option set runs compare.py's ctrkit harness (run_ctrkit.py: same data, epochs, batch and
optimiser as a compare.py row) with the options over the row's own, and the table prints the
median train samples/s and valid AUC of ``--repeats`` runs per set, interleaved so that the
machine's drift spreads over all sets::

    python benchmarks/bench_sizes.py --model autoint --datasets adult,synthetic --repeats 3 \\
        --options '{}' '{"attention_dim": 8}' '{"attention_layers": 2, "attention_dim": 16}'
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from typing import Dict, List

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import adult_csvs, run, synthetic_csvs  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", required=True)
    parser.add_argument("--datasets", default="adult,synthetic")
    parser.add_argument("--options", nargs="+", default=["{}"], help="JSON option sets ('{}': the row's sizes)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic training rows")
    parser.add_argument("--valid-rows", type=int, default=200_000, help="synthetic valid rows")
    args = parser.parse_args()
    for option in args.options:
        json.loads(option)   # a typo fails before the first run, not after an hour
    print(f"| dataset | {args.model} options | train samples/s | valid AUC | epochs | runs |")
    print("|---|---|---|---|---|---|")
    for dataset in args.datasets.split(","):
        paths = adult_csvs() if dataset == "adult" else synthetic_csvs(args.rows, args.valid_rows)
        runs: Dict[str, List[dict]] = {option: [] for option in args.options}
        for _ in range(args.repeats):
            for option in args.options:
                result = run("ctrkit", args.model, dataset, paths, ["--options", option])
                if result is not None:
                    runs[option].append(result)
        for option, results in runs.items():
            if not results:
                print(f"| {dataset} | `{option}` | failed | | | 0 |")
                continue
            median = lambda key: statistics.median(r[key] for r in results)  # noqa: E731
            print(f"| {dataset} | `{option}` | {median('train_samples_per_second'):,.0f} | {median('auc'):.4f} "
                  f"| {median('epochs'):g} | {len(results)} |", flush=True)


if __name__ == "__main__":
    main()
