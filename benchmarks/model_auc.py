"""Test AUC and logloss of every model over several seeds, trained through the CLI from configs/.

    python benchmarks/model_auc.py [--datasets adult,synthetic,...] [--models lr,deepfm] [--seeds 5]
                                   [--jobs 2] [--keep DIR] [--merge] [--out benchmarks/AUC.md] [--set KEY=VALUE ...]

A dataset with a config per model (``adult``, ``synthetic``: ``configs/<dataset>_<model>.yaml``;
``synthetic-1m``: the synthetic configs on 1,000,000 rows) trains each model from its own config; the others train their template with ``--model M``
(the template's options of another model dropped) on the files in ``../shared/data``, and are
skipped where those files are not there (a section written before is kept). Every run is
``ctrkit train --config ... --seed S`` in a fresh process (early stopping on validation AUC, best
weights kept). Writes ``--out`` after each dataset: its section (mean ± std over the seeds of test
AUC, test logloss and validation AUC, the epochs (best epoch) and seconds, with the command) replaces
the one an earlier run wrote; the other datasets' sections are kept.

``--merge`` puts the rows into the section already there instead of replacing it: a model's new
row replaces its old one, the others stay, and the command is listed under the earlier ones.

``--jobs N`` trains N runs at a time, each with cores/N threads (``train.threads``): small batches
keep two threads of one run half idle (RESULTS.md, sixteenth session). ``--keep DIR`` writes each
run's metrics into DIR as it ends and reuses the runs found there with the same command line, so a
long job that stops resumes where it was.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, List, Optional, Tuple

from ctrkit.io.threads import cores

HERE = os.path.dirname(os.path.abspath(__file__))
CONFIGS = os.path.join(HERE, "..", "configs")
SHARED = os.path.join(HERE, "..", "..", "shared", "data")
MODELS = ("lr", "fm", "fnn", "deepfm", "afm", "autoint", "autoint+", "fignn", "widedeep", "pnn", "nfm", "dcn", "dcnv2",
          "xdeepfm", "fibinet", "dlrm", "finalmlp", "finalnet")   # din: on the history datasets (--models deepfm,din)
SMALL = ["--batch-size", "256", "--set", "train.patience=3"]    # the 8k-row samples (see their templates)
# on another model's template, options a model would take over that change what it is: AutoInt
# with the template's MLP is AutoInt+
OWN_DEFAULTS = {"autoint": ["--set", "model.dnn_units=null"]}
# one generated world (and split) for every seed: a run's --seed alone would also draw a new one
ONE_WORLD = ["--set", "data.options.seed=0"]
PER_MODEL = {"synthetic-1m": "synthetic"}   # trains another dataset's per-model configs (with its flags)
# dataset -> (template config, or None for a config per model; flags; the shared folder it needs)
DATASETS: Dict[str, Tuple[Optional[str], List[str], Optional[str]]] = {
    "adult": (None, [], None),
    "synthetic": (None, ONE_WORLD, None),
    "synthetic-1m": (None, ["--set", "data.options.n_rows=1000000", *ONE_WORLD], None),
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
        name = f"{PER_MODEL.get(dataset, dataset)}_{model.replace('+', '_plus')}.yaml"
        return ["--config", os.path.join(CONFIGS, name), *flags]
    return ["--config", os.path.join(CONFIGS, f"{template}.yaml"), "--model", model,
            *[f.format(data=data) for f in flags], *OWN_DEFAULTS.get(model, [])]


def run(args: List[str], seed: int, extra: List[str], keep: Optional[str] = None) -> Dict:
    """``ctrkit train ARGS --seed SEED`` in a fresh process: its metrics.json, with ``wall`` seconds
    added; taken from ``keep`` when a run with the same command line left its metrics there."""
    train = [*args, "--seed", str(seed), "--set", "train.progress=false", *[x for s in extra for x in ("--set", s)]]
    kept = keep and os.path.join(keep, hashlib.sha1(json.dumps(train).encode()).hexdigest()[:16] + ".json")
    if kept and os.path.exists(kept):
        with open(kept) as fh:
            return json.load(fh)["metrics"]
    with tempfile.TemporaryDirectory() as out:
        start = time.time()
        done = subprocess.run([sys.executable, "-m", "ctrkit", "train", *train, "--out", out],
                              capture_output=True, text=True)
        if done.returncode:
            raise RuntimeError(f"ctrkit train {' '.join(train)}: {done.stderr[-2000:]}")
        with open(os.path.join(out, "metrics.json")) as fh:
            metrics = json.load(fh)
    metrics["wall"] = time.time() - start
    if kept:
        os.makedirs(keep, exist_ok=True)
        with open(kept + ".tmp", "w") as fh:
            json.dump({"command": train, "metrics": metrics}, fh)
        os.replace(kept + ".tmp", kept)
    return metrics


def spread(values: List[float], digits: int = 4) -> str:
    if len(values) < 2:
        return f"{values[0]:.{digits}f}"
    return f"{statistics.mean(values):.{digits}f} ± {statistics.stdev(values):.{digits}f}"


HEADER = ["# Test AUC of every model, over seeds", "",
          "Each cell: mean ± standard deviation over the seeds (each seed draws the validation split where the "
          "data has none, the initial weights and the batch order); each run is `ctrkit train --config CONFIG "
          "--seed S` in a fresh process, early stopping on validation AUC with the best weights kept. Configs: "
          "`configs/<dataset>_<model>.yaml`, or the dataset's template with `--model M`. Each section gives the "
          "command that wrote it.", ""]


def sections(path: str) -> Tuple[str, Dict[str, str]]:
    """The text before the first ``## `` heading of ``path`` and its sections by dataset name, in order."""
    if not os.path.exists(path):
        return "\n".join(HEADER), {}
    with open(path) as fh:
        header, *parts = fh.read().split("\n## ")
    return header, {part.split("\n", 1)[0].strip(): "## " + part.rstrip("\n") + "\n" for part in parts}


def write_section(path: str, dataset: str, text: str) -> None:
    """Replace (or add) ``dataset``'s section of ``path``, keeping the other datasets' sections."""
    header, found = sections(path)
    found[dataset] = text
    with open(path, "w") as fh:
        fh.write(header.rstrip("\n") + "\n\n" + "\n".join(found.values()))


def merge(old: str, new: str) -> str:
    """Section ``old`` with the rows of section ``new`` put into its table (a model's row replaced,
    the rows in MODELS order) and ``new``'s command listed below ``old``'s."""
    lines, fresh = old.rstrip("\n").split("\n"), new.rstrip("\n").split("\n")
    rows = [i for i, line in enumerate(lines) if line.startswith("| ") and not line.startswith("| model |")]
    if not rows:
        return new
    by_model = {line.split("|")[1].strip(): line for line in (lines[i] for i in rows)}
    by_model.update((line.split("|")[1].strip(), line) for line in fresh
                    if line.startswith("| ") and not line.startswith("| model |"))
    order = {m: i for i, m in enumerate(MODELS)}
    table = sorted(by_model.values(), key=lambda line: order.get(line.split("|")[1].strip(), len(MODELS)))
    merged = lines[:rows[0]] + table + lines[rows[-1] + 1:]
    last_command = max(i for i, line in enumerate(merged[:rows[0]]) if line.startswith("`python "))
    command = next(line for line in fresh if line.startswith("`python "))
    return "\n".join(merged[:last_command + 1] + [command] + merged[last_command + 1:]) + "\n"


def row(model: str, runs: List[Dict]) -> str:
    """The table row of ``model``'s runs (metrics.json of each seed, with ``wall`` seconds)."""
    return (f"| {model} | {len(runs)} | {spread([r['test']['auc'] for r in runs])} | "
            f"{spread([r['test']['logloss'] for r in runs])} | {spread([r['valid']['auc'] for r in runs])} | "
            f"{statistics.mean(r['train']['epochs'] for r in runs):.1f} "
            f"({statistics.mean(r['train']['best_epoch'] for r in runs):.1f}) | "
            f"{statistics.mean(r['wall'] for r in runs):.0f} |")


def section(dataset: str, models: List[str], seeds: int, extra: List[str], jobs: int = 1,
            keep: Optional[str] = None, merged: bool = False) -> Optional[str]:
    """Train every model on ``dataset`` with each seed, ``jobs`` runs at a time; the section's markdown
    (printed row by row), or None when the dataset's files are not on this machine."""
    if command(dataset, models[0]) is None:
        print(f"skipped {dataset}: {os.path.join('../shared/data', str(DATASETS[dataset][2]))} is not on this "
              "machine (its section, if any, is kept)", flush=True)
        return None
    options = " ".join([*(f"--set {s}" for s in extra), *([f"--jobs {jobs}"] if jobs > 1 else []),
                        *(["--merge"] if merged else [])])
    if jobs > 1:
        extra = [*extra, f"train.threads={max(1, cores() // jobs)}"]
    template, flags, folder = DATASETS[dataset]
    lines = [f"## {dataset}", "", f"`python benchmarks/model_auc.py --datasets {dataset} --models {','.join(models)} "
             f"--seeds {seeds}{' ' + options if options else ''}` ({time.strftime('%Y-%m-%d')})", "",
             f"Config: {'configs/' + (template + '.yaml with --model M' if template else PER_MODEL.get(dataset, dataset) + '_M.yaml')}"
             f" {' '.join(flags).replace('{data}', '../shared/data/' + str(folder))}".rstrip(),
             "", "| model | seeds | test AUC | test logloss | valid AUC | epochs (best) | seconds |",
             "|---|---|---|---|---|---|---|"]
    with ThreadPoolExecutor(jobs) as pool:
        # seed by seed, so that a job stopped early has kept (--keep) every model's first seeds
        runs = {(model, seed): pool.submit(run, command(dataset, model), seed, extra, keep)
                for seed in range(seeds) for model in models}
        for model in models:
            lines.append(row(model, [runs[model, seed].result() for seed in range(seeds)]))
            print(lines[-1], flush=True)
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=1, help="runs at a time, each with cores/jobs threads")
    parser.add_argument("--keep", help="a folder for each run's metrics; runs already there are not trained again")
    parser.add_argument("--merge", action="store_true",
                        help="add the rows to the dataset's section (replacing those models' rows) instead of replacing it")
    parser.add_argument("--out", default=os.path.join(HERE, "AUC.md"))
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    for dataset in args.datasets.split(","):
        if dataset not in DATASETS:
            parser.error(f"--datasets: unknown {dataset!r}; expected some of {', '.join(DATASETS)}")
        text = section(dataset, args.models.split(","), args.seeds, args.set, args.jobs, args.keep, args.merge)
        if text is not None:
            old = sections(args.out)[1].get(dataset)
            write_section(args.out, dataset, merge(old, text) if args.merge and old else text)
            print(f"wrote {dataset} into {args.out}", flush=True)


if __name__ == "__main__":
    main()
