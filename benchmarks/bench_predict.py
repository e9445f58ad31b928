"""Prediction speed of every model by engine: eager torch (float32, and bfloat16 autocast) against
ONNX Runtime (float32, and the opt-in int8 weights), on the synthetic Criteo-shaped valid rows, at
the sizes of benchmarks/compare.py.

    python benchmarks/bench_predict.py [--train-rows 1000000] [--rows 200000] [--repeats 5] [--models lr,fm,...]

Each model gets its own process (a fresh heap, unlike prediction right after training in
compare.py). Untrained weights: speed does not depend on them. Prints rows per second (median of
--repeats calls after one warm-up call) and the engine the prediction API's ``auto`` picks.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
MODELS = "lr,fm,fnn,deepfm,afm,autoint,autoint+,fignn"


def child(model_name: str, train_rows: int, rows: int, repeats: int) -> None:
    import torch

    from bench_util import BINS, DATASETS, EMBED_DIM
    from compare import synthetic_csvs
    from run_ctrkit import OPTIONS

    from ctrkit.inference import Predictor, default_engine
    from ctrkit.features import FeatureSpec, Processor, Schema
    from ctrkit.models import build_model

    spec = DATASETS["synthetic"]
    schema = Schema(fields=[FeatureSpec(name=c, type="numeric", log=True, buckets=BINS) for c in spec["numeric"]]
                    + [FeatureSpec(name=c, type="categorical") for c in spec["categorical"]], label="label")
    paths = synthetic_csvs(train_rows, rows)
    proc = Processor(schema).fit(paths["train"])
    valid = proc.transform(paths["valid"])
    torch.manual_seed(0)
    model = build_model(model_name, proc.feature_map(), embedding_dim=EMBED_DIM, **OPTIONS[model_name]).eval()
    out = {"model": model_name, "auto": default_engine(model)}
    for label, engine, bf16 in (("torch", "torch", False), ("torch bf16", "torch", True), ("onnx", "onnx", False),
                                ("onnx int8", "onnx-int8", False)):
        run = Predictor(model, engine, bf16)
        run(valid)
        seconds = []
        for _ in range(repeats):
            start = time.perf_counter()
            run(valid)
            seconds.append(time.perf_counter() - start)
        out[label] = len(valid) / statistics.median(seconds)
    print("RESULT " + json.dumps(out), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-rows", type=int, default=1_000_000, help="synthetic rows the processor is fitted on")
    parser.add_argument("--rows", type=int, default=200_000, help="synthetic rows predicted")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--models", default=MODELS)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.train_rows, args.rows, args.repeats)
        return
    print("| model | torch rows/s | torch bf16 rows/s | ONNX Runtime rows/s | ONNX int8 rows/s | ONNX / torch "
          "| int8 / ONNX | auto |")
    print("|---|---|---|---|---|---|---|---|")
    for name in args.models.split(","):
        proc = subprocess.run([sys.executable, __file__, "--child", name, "--train-rows", str(args.train_rows),
                               "--rows", str(args.rows), "--repeats", str(args.repeats)], capture_output=True, text=True)
        line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
        if line is None:
            print(f"| {name} | failed: {proc.stderr.strip().splitlines()[-1:]} |||||||", flush=True)
            continue
        r = json.loads(line[7:])
        print(f"| {name} | {r['torch']:,.0f} | {r['torch bf16']:,.0f} | {r['onnx']:,.0f} | {r['onnx int8']:,.0f} | "
              f"{r['onnx'] / r['torch']:.2f} | {r['onnx int8'] / r['onnx']:.2f} | {r['auto']} |", flush=True)


if __name__ == "__main__":
    main()
