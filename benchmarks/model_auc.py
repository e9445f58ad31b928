"""Test AUC and logloss of every model over several seeds, trained through the CLI from configs/.

    python benchmarks/model_auc.py [--datasets adult,synthetic,...] [--models lr,deepfm] [--seeds 5]
                                   [--out benchmarks/AUC.md] [--set KEY=VALUE ...]

A dataset with a config per model (``adult``, ``synthetic``: ``configs/<dataset>_<model>.yaml``)
trains each model from its own config; the others train their template with ``--model M``
(the template's options of another model dropped) on the files in ``../shared/data``, and are
skipped, with the reason in the table, where those files are not there. Every run is
``ctrkit train --config ... --seed S`` in a fresh process (early stopping on validation AUC, best
weights kept). Writes ``--out``: per dataset, mean ± std over the seeds of test AUC, test
logloss and validation AUC, the epochs (best epoch) and seconds, with the command.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(HERE, "..", "configs")
SHARED = os.path.join(HERE, "..", "..", "shared", "data")
MODELS = ("lr", "fm", "fnn", "deepfm", "afm", "autoint", "autoint+", "fignn", "widedeep", "pnn", "nfm", "dcn", "dcnv2",
          "xdeepfm", "fibinet", "dlrm", "finalmlp", "finalnet")   # din: on the history datasets (--models deepfm,din)
SMALL = ["--batch-size", "256", "--set", "train.patience=3"]    # the 8k-row samples (see their templates)
# dataset -> (template config, or None for a config per model; flags; the shared folder it needs)
DATASETS: Dict[str, Tuple[Optional[str], List[str], Optional[str]]] = {
    "adult": (None, [], None),
    "synthetic": (None, [], None),
    "movielens-100k": ("movielens_deepfm", ["--path", "{data}"], "movielens-100k"),
    "movielens-1m": ("movielens_deepfm", ["--path", "{data}"], "movielens-1m"),
    # each rating with the user's 20 earlier liked movies (a sequence sharing item_id's table): DIN vs the rest
    "movielens-1m-history": ("movielens_din", ["--path", "{data}"], "movielens-1m"),
    "frappe": ("frappe_afm", ["--path", "{data}"], "frappe"),
    "criteo-sample": ("criteo_deepfm", ["--path", "{data}", *SMALL], "criteo/wide_resdnn"),
    "avazu-sample": ("avazu_autoint_plus", ["--path", "{data}", *SMALL], "avazu/wide_resdnn"),
}


def command(dataset: str, model: str) -> Optional[List[str]]:
    """The ``ctrkit train`` arguments for ``model`` on ``dataset`` (None: its data is not here)."""
    template, flags, folder = DATASETS[dataset]
    data = os.path.join(SHARED, folder) if folder else None
    if data is not None and not os.path.exists(data):
        return None
    if template is None:
        return ["--config", os.path.join(CONFIGS, f"{dataset}_{model.replace('+', '_plus')}.yaml")]
    return ["--config", os.path.join(CONFIGS, f"{template}.yaml"), "--model", model,
            *[f.format(data=data) for f in flags]]


def run(args: List[str], seed: int, extra: List[str]) -> Dict:
    with tempfile.TemporaryDirectory() as out:
        start = time.time()
        done = subprocess.run([sys.executable, "-m", "ctrkit", "train", *args, "--seed", str(seed), "--out", out,
                               "--set", "train.progress=false", *[x for s in extra for x in ("--set", s)]],
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"ctrkit train {' '.join(args)} --seed {seed}: {done.stderr[-2000:]}")
        with open(os.path.join(out, "metrics.json")) as fh:
            metrics = json.load(fh)
        metrics["wall"] = time.time() - start
        return metrics


def spread(values: List[float], digits: int = 4) -> str:
    if len(values) < 2:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", default=os.path.join(HERE, "AUC.md"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    lines = ["# Test AUC of every model, over seeds", "",
             f"`python benchmarks/model_auc.py {' '.join(sys.argv[1:])}`".replace("`python benchmarks/model_auc.py `",
                                                                               "`python benchmarks/model_auc.py`"),
             "", "Each cell: mean ± standard deviation over seeds 0.."
             f"{args.seeds - 1} (each seed draws the validation split where the data has none, the initial "
             "weights and the batch order); each run is `ctrkit train --config CONFIG --seed S` in a fresh "
             "process, early stopping on validation AUC with the best weights kept. Configs: `configs/"
             "<dataset>_<model>.yaml`, or the dataset's template with `--model M`.", ""]
    for dataset in args.datasets.split(","):
        lines += [f"## {dataset}", ""]
        if command(dataset, MODELS[0]) is None:
            lines += [f"Skipped: {os.path.join('../shared/data', DATASETS[dataset][2])} is not on this machine.", ""]
            print("\n".join(lines[-4:]), flush=True)
            continue
        template = DATASETS[dataset][0]
        lines += [f"Config: {'configs/' + template + '.yaml with --model M' if template else 'configs/' + dataset + '_M.yaml'}"
                  f" {' '.join(DATASETS[dataset][1]).replace('{data}', '../shared/data/' + str(DATASETS[dataset][2]))}",
                  "", "| model | seeds | test AUC | test logloss | valid AUC | epochs (best) | seconds |",
                  "|---|---|---|---|---|---|---|"]
        for model in args.models.split(","):
            runs = [run(command(dataset, model), seed, args.set) for seed in range(args.seeds)]
            row = (f"| {model} | {len(runs)} | {spread([r['test']['auc'] for r in runs])} | "
                   f"{spread([r['test']['logloss'] for r in runs])} | {spread([r['valid']['auc'] for r in runs])} | "
                   f"{statistics.mean(r['train']['epochs'] for r in runs):.1f} "
                   f"({statistics.mean(r['train']['best_epoch'] for r in runs):.1f}) | "
                   f"{statistics.mean(r['wall'] for r in runs):.0f} |")
            lines.append(row)
            print(row, flush=True)
        lines.append("")
    with open(args.out, "w") as fh:
        fh.write("\n".join(lines))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
