"""ctrkit against DeepCTR-Torch and pytorch-fm, side by side, and the distance to the hardware.

    python benchmarks/compare.py [--datasets synthetic,adult,movielens-history] [--rows 1000000] [--valid-rows 200000]
                                 [--models lr,fm,...] [--libraries ctrkit,ctrkit-cli,deepctr-torch,pytorch-fm]
                                 [--variants bf16,peer-sizes] [--repeats 1] [--merge]
                                 [--batch-size N] [--device cuda]

Creates benchmarks/.venv-peers (deepctr-torch and torchfm from the package registry, with the
same pinned torch) on first use, writes CSVs to benchmarks/.cache (the synthetic Criteo-shaped data,
13 numeric and 26 categorical fields; the bundled Adult train/valid split; for DIN, MovieLens-1M ratings
with each user's earlier liked movies, read from ../shared/data and skipped where it is not), then runs one process
per dataset, library and model with the same settings (embedding 16, Adam 1e-3, MLP [400, 400, 400];
synthetic: one epoch at batch 4096; Adult: batch 1024, early stopping on valid AUC with patience 2;
MovieLens: batch 4096, up to 5 epochs, patience 1;
AutoInt at each library's default sizes: ctrkit 1 layer × 2 heads × 16, the peers the paper's 3 × 2 × 32) and prints a table per dataset with ctrkit/peer ratios.
Writes benchmarks/RESULTS.md and benchmarks/results.json. Also measures this machine's float32 and
bfloat16 matmul rates and, for each ctrkit model, the FLOPs of one training step and the fraction
of the float32 rate it reaches.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional

from bench_util import BINS, DATASETS, DIN, PREDICT_BUDGET_S, matmul_gflops

from ctrkit.train.device import check_device

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS = os.path.join(HERE, ".venv-peers")
CACHE = os.path.join(HERE, ".cache")
RUNNERS = {"ctrkit": "run_ctrkit.py", "ctrkit-cli": "run_ctrkit_cli.py", "deepctr-torch": "run_deepctr.py",
           "pytorch-fm": "run_torchfm.py"}
# issue 23's models that DeepCTR-Torch has, but DIN (on sequence data, with no numeric fields to bin)
SECOND_WAVE = {"widedeep", "pnn", "nfm", "dcn", "dcnv2", "xdeepfm", "fibinet"}
HAS = {"ctrkit": {"lr", "fm", "fnn", "deepfm", "afm", "autoint", "autoint+", "fignn", "dlrm", "finalmlp",
                  "finalnet", "din"} | SECOND_WAVE,
       "deepctr-torch": {"lr", "fm", "deepfm", "afm", "autoint", "autoint+", "din"} | SECOND_WAVE,
       "pytorch-fm": {"lr", "fm", "fnn", "deepfm", "afm", "autoint+"}}
# `ctrkit train` on the same CSVs, as a user runs it (run_ctrkit_cli.py); not DIN, whose behaviour sequence
# must be declared in a schema (share_embedding), which types inferred from a CSV do not give
HAS["ctrkit-cli"] = HAS["ctrkit"] - {"din"}
VARIANT_MODELS = {"peer-sizes": {"afm", "autoint", "autoint+"}}   # variants that change only some models
# Equal-work rows, compared only with each other: AutoInt at DeepCTR-Torch's sizes (3 layers of 2 x 8)
# on both sides, and DeepCTR-Torch seeing the binned numeric fields as sparse fields, as ctrkit does (its
# AFM takes sparse fields only, so without them it pools 325 pairs of 26 fields, not 741 of 39; AFM's
# sizes are the same on both sides, so its ctrkit+peer_sizes run is the plain configuration).
EQUAL_WORK = {"ctrkit+peer_sizes", "deepctr-torch+binned"}


def peers_python() -> str:
    python = os.path.join(PEERS, "bin", "python")
    if not os.path.exists(python):
        print(f"creating {PEERS} (deepctr-torch, torchfm, torch from constraints.txt) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", PEERS], check=True)
        subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c",
                        os.path.join(ROOT, "constraints.txt"), "torch", "deepctr-torch==0.3.0", "torchfm==0.7.0",
                        "scikit-learn", "pandas", "requests"], check=True)
    return python


def synthetic_csvs(rows: int, valid_rows: int) -> Dict[str, str]:
    from ctrkit.datasets.synthetic import SyntheticConfig, SyntheticWorld, BLOCK_ROWS
    import pyarrow.csv as pa_csv

    os.makedirs(CACHE, exist_ok=True)
    paths = {"train": os.path.join(CACHE, f"synthetic-{rows}-train.csv"),
             "valid": os.path.join(CACHE, f"synthetic-{rows}-valid-{valid_rows}.csv")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    world = SyntheticWorld(SyntheticConfig(seed=0))
    block = 0
    for name, n in (("train", rows), ("valid", valid_rows)):
        with open(paths[name] + ".tmp", "wb") as sink:
            writer = None
            for start in range(0, n, BLOCK_ROWS):
                table = world.block(block, min(BLOCK_ROWS, n - start))
                block += 1
                if writer is None:
                    writer = pa_csv.CSVWriter(sink, table.schema, write_options=pa_csv.WriteOptions(quoting_style="none"))
                writer.write_table(table)
            writer.close()
        os.replace(paths[name] + ".tmp", paths[name])
    return paths


def adult_csvs() -> Dict[str, str]:
    """The bundled Adult train/valid split (ctrkit's seeded 80/20 split of adult.data) as CSVs
    with a 0/1 'label' column."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.csv as pa_csv
    from ctrkit.datasets import adult

    os.makedirs(CACHE, exist_ok=True)
    paths = {name: os.path.join(CACHE, f"adult-{name}.csv") for name in ("train", "valid")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    raw = adult.load()
    for name, path in paths.items():
        table = raw.splits[name].table
        label = pc.cast(pc.equal(table["income"], ">50K"), pa.int8())
        table = table.drop_columns(["income"]).append_column("label", label)
        pa_csv.write_csv(table, path + ".tmp")
        os.replace(path + ".tmp", path)
    return paths


MOVIELENS = os.path.join(ROOT, "..", "shared", "data", "movielens-1m")


def movielens_history_csvs() -> Optional[Dict[str, str]]:
    """MovieLens-1M (``../shared/data``, not redistributable) as ctrkit's loader reads it, each rating
    with ``history``, the user's last DIN["history"] liked movies at earlier times (oldest first),
    '|'-separated; ctrkit's seeded 80/10/10 split, its train and valid parts. None when not there."""
    import pyarrow.csv as pa_csv
    from ctrkit.datasets import movielens

    if not os.path.exists(os.path.join(MOVIELENS, "READY")):
        return None
    os.makedirs(CACHE, exist_ok=True)
    paths = {name: os.path.join(CACHE, f"movielens-history-{name}.csv") for name in ("train", "valid")}
    if all(os.path.exists(p) for p in paths.values()):
        return paths
    raw = movielens.load(MOVIELENS, history=DIN["history"])
    spec = DATASETS["movielens-history"]
    for name, path in paths.items():
        table = raw.splits[name].table.select(spec["categorical"] + list(spec["sequence"]) + ["label"])
        pa_csv.write_csv(table, path + ".tmp")
        os.replace(path + ".tmp", path)
    return paths


def dataset_csvs(dataset: str, args: argparse.Namespace) -> Optional[Dict[str, str]]:
    """The train and valid CSVs of ``dataset`` (None: its source files are not on this machine)."""
    if dataset == "synthetic":
        return synthetic_csvs(args.rows, args.valid_rows)
    return adult_csvs() if dataset == "adult" else movielens_history_csvs()


def runs_on(dataset: str, model: str) -> bool:
    """Whether ``model`` has a row on ``dataset``: DIN needs a behaviour sequence, and the sequence
    data is there for the models that need one."""
    spec = DATASETS[dataset]
    return model in spec["models"] if "models" in spec else model != "din"


def run(library: str, model: str, dataset: str, paths: Dict[str, str], extra: List[str],
        device: str = "cpu") -> Optional[dict]:
    """One runner process; ctrkit's on ``device`` (and its matmul rate measured there)."""
    python = sys.executable if library.startswith("ctrkit") else peers_python()
    cmd = [python, os.path.join(HERE, RUNNERS[library]), "--model", model, "--dataset", dataset,
           "--train", paths["train"], "--valid", paths["valid"], *extra]
    device = device if library == "ctrkit" else "cpu"
    if device != "cpu":
        cmd += ["--device", device]
    rate = lambda: matmul_gflops(device=device)  # noqa: E731
    rate_before = rate()
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    rate_after = rate()
    lines = [line for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
    if proc.returncode != 0 or not lines:
        print(f"  {library} {model} failed:\n{proc.stderr[-2000:]}", flush=True)
        return None
    result = json.loads(lines[-1][7:])
    result["dataset"] = dataset
    result["started"] = started
    result["wall_seconds"] = wall
    # this machine's speed drifts (4096² fp32 matmul 110-191 GFLOP/s within one day): the rate just
    # before and after the run is the one its '% of fp32 matmul' is measured against
    result["matmul_gflops"] = (rate_before + rate_after) / 2
    result["matmul_gflops_before_after"] = [rate_before, rate_after]
    return result


def median_run(runs: List[Optional[dict]]) -> Optional[dict]:
    """One result from repeated runs of a row: the median of each number (the runs' own figures kept
    under 'runs'); None if any run failed. Single runs of a row varied by ±25-50% on this machine
    (synthetic LR: 0.75-1.8M samples/s in five processes)."""
    if not runs or any(r is None for r in runs):
        return None
    if len(runs) == 1:
        return runs[0]
    merged = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            merged[key] = statistics.median(r[key] for r in runs)
    merged["runs"] = runs
    return merged


def matmul_rates(bf16: bool) -> Dict[str, float]:
    """float32 (and, when a bf16 run needs it, bfloat16) 4096² matmul rates: a CPU without native
    bfloat16 (no AVX-512 BF16 or AMX) takes minutes for the bfloat16 ones."""
    return {name: matmul_gflops(name) for name in ("float32", "bfloat16")[:1 + bf16]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default="synthetic,adult,movielens-history",
                        help="movielens-history (DIN's rows) reads ../shared/data/movielens-1m, skipped when not there")
    parser.add_argument("--rows", type=int, default=1_000_000, help="synthetic training rows")
    parser.add_argument("--valid-rows", type=int, default=200_000, help="synthetic valid rows")
    parser.add_argument("--models", default=",".join(MODEL_ORDER),
                        help="each runs on the datasets it fits (runs_on: DIN on movielens-history only)")
    parser.add_argument("--libraries", default="ctrkit,ctrkit-cli,deepctr-torch,pytorch-fm")
    parser.add_argument("--variants", default="bf16,peer-sizes",
                        help="extra ctrkit runs (comma-separated): sparse, bf16, raw-numeric, peer-sizes "
                             "(AutoInt at DeepCTR-Torch's sizes, 3 layers of 2 heads x 8)")
    parser.add_argument("--repeats", type=int, default=1,
                        help="runs per row, each in a fresh process; the row shows the median of each figure")
    parser.add_argument("--batch-size", type=int, help="training batch of every run (default: the dataset's)")
    parser.add_argument("--device", default="cpu",
                        help="where ctrkit's runs train and predict, e.g. cuda (the peers run on the CPU)")
    parser.add_argument("--merge", action="store_true",
                        help="keep results.json's rows for (dataset, library, model) triples not run now (same data size)")
    args = parser.parse_args()
    try:
        check_device(args.device)
    except ValueError as exc:
        parser.error(str(exc))
    if args.device in ("model", "auto"):
        parser.error("--device: give cpu, cuda or cuda:N")
    rates = matmul_rates("bf16" in args.variants.split(","))
    print(f"matmul: {rate_text(rates)}", flush=True)
    results: List[dict] = []
    for dataset in args.datasets.split(","):
        if dataset not in DATASETS:
            parser.error(f"--datasets: unknown {dataset!r}; expected some of {', '.join(DATASETS)}")
        paths = dataset_csvs(dataset, args)
        if paths is None:
            print(f"skipped {dataset}: {MOVIELENS} is not on this machine (MovieLens is not redistributable)",
                  flush=True)
            continue
        batch = args.batch_size or DATASETS[dataset]["batch_size"]
        for model in (m for m in args.models.split(",") if runs_on(dataset, m)):
            runs = [(lib, []) for lib in args.libraries.split(",") if model in HAS[lib]]
            if "ctrkit" in args.libraries.split(","):
                runs += [("ctrkit", [f"--{v}"]) for v in args.variants.split(",")
                         if v and model in VARIANT_MODELS.get(v, HAS["ctrkit"])]
            if ((("peer-sizes" in args.variants.split(",") and model in VARIANT_MODELS["peer-sizes"])
                 or model in SECOND_WAVE) and "deepctr-torch" in args.libraries):
                runs.append(("deepctr-torch", ["--binned-numeric"]))
            if args.batch_size:
                runs = [(library, extra + ["--batch-size", str(args.batch_size)]) for library, extra in runs]
            for library, extra in runs:
                r = median_run([run(library, model, dataset, paths, extra, args.device) for _ in range(args.repeats)])
                if r is None:
                    continue
                if "step_flops" in r:   # counted by the ctrkit runner on its first batch
                    r["step_gflop"] = r["step_flops"] / 1e9
                    rate = r.get("matmul_gflops", rates["float32"])
                    r["matmul_fraction"] = r["step_flops"] / batch * r["train_samples_per_second"] / (rate * 1e9)
                results.append(r)
                with open(os.path.join(HERE, "results.partial.json"), "w") as fh:   # survives a kill
                    json.dump(results, fh, indent=1)
                print(f"  {dataset:<9} {r['library']:<14} {model:<9} train {r['train_samples_per_second']:>9,.0f}/s  "
                      f"predict {_number(r['predict_samples_per_second']):>10}/s  AUC {r['auc']:.4f}  "
                      f"preprocess {r['preprocess']:.1f}s  peak {r['peak_rss_mb']:.0f} MB", flush=True)
    kept: List[dict] = []
    if args.merge and os.path.exists(os.path.join(HERE, "results.json")):
        with open(os.path.join(HERE, "results.json")) as fh:
            old = json.load(fh)["results"]
        key = lambda r: (r["dataset"], r["library"], r["model"])  # noqa: E731
        ran = {key(r) for r in results}
        kept = [r for r in old if key(r) not in ran]
        results = kept + results
    write_results(results, rates, args, len(kept))


def rate_text(rates: Dict[str, float]) -> str:
    return ", ".join(f"{name} {value:.0f} GFLOP/s" for name, value in rates.items())


def _ratio(a: Optional[float], b: Optional[float]) -> str:
    return f"{a / b:.2f}" if a is not None and b else ""


def _number(value: Optional[float]) -> str:
    return "-" if value is None else f"{value:,.0f}"


def _row(r: dict, peers: List[dict]) -> str:
    """One table row; ratios and the hardware columns only for ctrkit rows."""
    runs = f" (median of {len(r['runs'])})" if "runs" in r else ""
    cells = [r["model"], r["library"] + runs, str(r.get("epochs", 1)), f"{r['train_samples_per_second']:,.0f}", "",
             _number(r["predict_samples_per_second"]) + (f" ({r['predict_engine']})" if "predict_engine" in r else ""),
             "", f"{r['auc']:.4f}", "", f"{r['logloss']:.4f}",
             f"{r['preprocess']:.1f}", "", f"{r['peak_rss_mb']:,.0f}", "", ""]
    if r["library"].startswith("ctrkit"):
        best = lambda key: max((p[key] for p in peers), default=None)  # noqa: E731
        cells[4] = _ratio(r["train_samples_per_second"], best("train_samples_per_second"))
        cells[6] = _ratio(r["predict_samples_per_second"], best("predict_samples_per_second"))
        cells[13] = f"{r['step_gflop']:.2f}" if "step_gflop" in r else ""
        if peers:
            cells[8] = f"{r['auc'] - best('auc'):+.4f}"
            cells[11] = _ratio(best("preprocess"), r["preprocess"])
        cells[14] = f"{100 * r['matmul_fraction']:.0f}%" + (
            f" of {r['matmul_gflops']:.0f}" if "matmul_gflops" in r else "") if "matmul_fraction" in r else ""
    return "| " + " | ".join(cells) + " |"


def _row_order(r: dict) -> tuple:
    """Within a model: the plain configuration (ctrkit, then the peers), its ctrkit variants, then
    the equal-work rows."""
    library = r["library"]
    return (library in EQUAL_WORK, "+" in library, not library.startswith("ctrkit"), library)


NOTES_MARKER = "<!-- analysis: kept as written when compare.py rewrites the tables above -->"
MODEL_ORDER = ["lr", "fm", "fnn", "deepfm", "afm", "autoint", "autoint+", "fignn", "widedeep", "pnn", "nfm", "dcn", "dcnv2",
               "xdeepfm", "fibinet", "dlrm", "finalmlp", "finalnet", "din"]
HEADER = ("| model | library | epochs | train samples/s | × best peer | predict samples/s (engine) | × best peer | valid AUC | "
          "Δ AUC vs peer | logloss | preprocess s | × slower peer | peak RSS MB | step GFLOP | % of fp32 matmul |")


def data_line(dataset: str, results: List[dict]) -> str:
    """The 'Data:' line under a dataset's heading: sizes (from its first result) and training settings."""
    spec, first = DATASETS[dataset], results[0]
    sizes = f"{first['rows']:,} train / {first['valid_rows']:,} valid rows"
    if dataset == "synthetic":
        what = f"synthetic Criteo-shaped CSV, {sizes}; one epoch"
    elif dataset == "movielens-history":
        what = (f"MovieLens-1M (the partial copy in ../shared/data), {sizes}: 6 categorical fields, genres "
                f"(mean-pooled) and each rating's history, the user's last {DIN['history']} liked movies sharing "
                f"item_id's table, attended over with the target item (activation unit {list(DIN['attention'])}, "
                f"Dice); up to {spec['epochs']} epochs, early stopping (patience {spec['patience']})")
    else:
        what = (f"Adult (bundled), {sizes}; up to {spec['epochs']} "
                f"epochs, early stopping on valid AUC (patience {spec['patience']}), best weights restored")
    if not spec["numeric"]:
        return f"Data: {what}; batch {spec['batch_size']}; embedding 16; Adam 1e-3; MLP [400, 400, 400] (ReLU)."
    return (f"Data: {what}; batch {spec['batch_size']}; embedding 16; Adam 1e-3; MLP [400, 400, 400]. "
            f"Numeric fields: ctrkit cuts them into at most {BINS} tie-aware quantile bins (`+raw_numeric`: value × vector), "
            f"pytorch-fm discretises them as in its Criteo example (⌊ln² x⌋ above 2) and label-encodes, "
            f"DeepCTR-Torch MinMax-scales them (`+binned`: the same bins as sparse fields).")


INT8_KEY = "predict_onnx-int8_samples_per_second"


def cli_lines(rows: List[dict]) -> List[str]:
    """How the command line (`ctrkit-cli`: `ctrkit train` on the same CSVs) trains against the
    harness (`ctrkit`: the Trainer on arrays in memory), per model that has both rows."""
    pairs = []
    for cli in (r for r in rows if r["library"] == "ctrkit-cli"):
        harness = next((r for r in rows if r["library"] == "ctrkit" and r["model"] == cli["model"]), None)
        if harness:
            pairs.append(f"{cli['model']} {cli['train_samples_per_second'] / harness['train_samples_per_second']:.2f}"
                         f" (AUC {cli['auc']:.4f} vs {harness['auc']:.4f})")
    if not pairs:
        return []
    return ["`ctrkit-cli` rows run `ctrkit train` on the same CSVs as a user would (types inferred, data prepared "
            "into the run folder and memory-mapped, the CLI's defaults); their train samples/s ÷ the `ctrkit` "
            "harness row's: " + "; ".join(pairs) + ".", ""]


def int8_lines(rows: List[dict]) -> List[str]:
    """The opt-in int8 engine against float32 ONNX Runtime and the best peer, for the ctrkit float32
    runs that timed it (the same processes and trained weights as the main table's rows)."""
    lines = ["Opt-in int8 prediction (`engine=\"onnx-int8\"`: ONNX Runtime, int8 weights in the matrix "
             "products), timed in the same runs as the rows above:", "",
             "| model | library | float32 ONNX samples/s | int8 samples/s | × float32 | × best peer "
             "| valid AUC float32 → int8 | max abs Δp |", "|---" * 8 + "|"]
    for r in rows:
        runs = f" (median of {len(r['runs'])})" if "runs" in r else ""
        best = max((p["predict_samples_per_second"] for p in r["peers"]), default=None)
        lines.append(f"| {r['model']} | {r['library']}{runs} | {r['predict_onnx_samples_per_second']:,.0f} | "
                     f"{r[INT8_KEY]:,.0f} | {r[INT8_KEY] / r['predict_onnx_samples_per_second']:.2f} | "
                     f"{_ratio(r[INT8_KEY], best)} | {r['auc']:.4f} → {r['int8_auc']:.4f} | "
                     f"{r['int8_max_abs_diff']:.4f} |")
    return lines + [""]


def write_results(results: List[dict], rates: Dict[str, float], args: argparse.Namespace, kept: int = 0) -> None:
    lines = ["# ctrkit vs DeepCTR-Torch and pytorch-fm", "",
             f"Command: `python benchmarks/compare.py --datasets {args.datasets} --rows {args.rows} "
             f"--valid-rows {args.valid_rows} --models {args.models} --libraries {args.libraries} "
             f"--variants {args.variants} --repeats {args.repeats}{' --merge' if args.merge else ''}"
             f"{f' --batch-size {args.batch_size}' if args.batch_size else ''}"
             f"{f' --device {args.device}' if args.device != 'cpu' else ''}`", "",
             f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
             f"{platform.platform()}; torch threads = cores. Matmul rate (4096² torch.mm): {rate_text(rates)} at the start; "
             f"a ctrkit row's '% of fp32 matmul' divides by the mean of the float32 rates measured just "
             f"before and after its run (shown after 'of'). Prediction: the median time of "
             f"repeated calls on the valid split (for {PREDICT_BUDGET_S:.0f} s, at least one call).", ""]
    if args.device != "cpu":
        import torch
        lines += [f"Rows labelled `+{args.device}` ran on {torch.cuda.get_device_name(torch.device(args.device))}; "
                  f"their '% of fp32 matmul' is against that device's rate. The other rows ran on the CPU.", ""]
    if kept:
        lines += [f"{kept} of the {len(results)} rows were kept from earlier runs (`--merge`); results.json has "
                  f"each run's start time ('started', recorded since 2026-11-23). `make bench` runs every row "
                  f"anew.", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in results):
        subset = [r for r in results if r["dataset"] == dataset]
        lines += [f"## {dataset}", "", data_line(dataset, subset), "", HEADER, "|---" * HEADER.count(" | ") + "|---|"]
        int8_rows = []
        for model in sorted(dict.fromkeys(r["model"] for r in subset), key=MODEL_ORDER.index):
            rows = sorted((r for r in subset if r["model"] == model), key=_row_order)
            peers = [r for r in rows if not r["library"].startswith("ctrkit")]
            for r in rows:
                # the second wave's DeepCTR-Torch models pair only sparse fields, so their +binned run (the
                # numeric fields as sparse ones, as ctrkit's) does ctrkit's work: both count as peers
                same_work = peers if model in SECOND_WAVE else [
                    p for p in peers if (p["library"] in EQUAL_WORK) == (r["library"] in EQUAL_WORK)]
                lines.append(_row(r, same_work))
                if INT8_KEY in r:
                    int8_rows.append({**r, "peers": same_work})
        lines.append("")
        lines += cli_lines(subset)
        if int8_rows:
            lines += int8_lines(int8_rows)
    text = "\n".join(lines)
    path = os.path.join(HERE, "RESULTS.md")
    if os.path.exists(path):          # keep the hand-written analysis below the marker
        with open(path) as fh:
            old = fh.read()
        if NOTES_MARKER in old:
            text += "\n" + old[old.index(NOTES_MARKER):]
    with open(path, "w") as fh:
        fh.write(text)
    with open(os.path.join(HERE, "results.json"), "w") as fh:
        json.dump({"rates_gflops": rates, "args": vars(args), "results": results}, fh, indent=1)
    print("\n" + text)


if __name__ == "__main__":
    main()
