"""Validation and test AUC / logloss of every model on the bundled Adult data and on synthetic data.

    python benchmarks/model_auc.py [--synthetic-rows 100000] [--models lr,fm,...] [--seed 0]

Each model trains with early stopping on validation AUC (patience 1, best weights restored) and
the recipe below (Adam; AFM gets a higher learning rate, as its attention divides the gradient
among pairs). Prints a markdown table per dataset.
"""
from __future__ import annotations

import argparse
import time

import torch

from ctrkit.data.datasets import adult, prepare, synthetic
from ctrkit.models import MODELS, build_model
from ctrkit.train import Trainer

MODEL_OPTIONS = {
    "fnn": {"dnn_units": (400, 400, 400)},
    "deepfm": {"dnn_units": (400, 400, 400)},
    "autoint": {"attention_layers": 3, "heads": 2, "attention_dim": 32},
    "autoint+": {"attention_layers": 3, "heads": 2, "attention_dim": 32, "dnn_units": (400, 400, 400)},
    "fignn": {"gnn_layers": 3},
    "afm": {"attention_dim": 16},
}
LR = {"afm": 1e-2}


def run(name: str, prepared, epochs: int, batch_size: int, seed: int) -> dict:
    torch.manual_seed(seed)
    model = build_model(name, prepared.processor.feature_map(), embedding_dim=16, **MODEL_OPTIONS.get(name, {}))
    trainer = Trainer(model, epochs=epochs, batch_size=batch_size, lr=LR.get(name, 1e-3), patience=1, seed=seed)
    start = time.perf_counter()
    trainer.fit(prepared.splits["train"], prepared.splits["valid"])
    seconds = time.perf_counter() - start
    valid = trainer.evaluate(prepared.splits["valid"])
    test = trainer.evaluate(prepared.splits["test"])
    return {"model": name, "epochs": len(trainer.history), "best": trainer.best_epoch, "valid_auc": valid["auc"],
            "valid_logloss": valid["logloss"], "test_auc": test["auc"], "test_logloss": test["logloss"],
            "seconds": seconds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--synthetic-rows", type=int, default=100_000)
    parser.add_argument("--models", default=",".join(MODELS))
    parser.add_argument("--datasets", default="adult,synthetic")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    sets = {"adult": (lambda: adult.load(seed=args.seed), 20, 512),
            "synthetic": (lambda: synthetic.load(args.synthetic_rows, seed=args.seed), 5, 1024)}
    for dataset in args.datasets.split(","):
        load, epochs, batch = sets[dataset]
        prepared = prepare(load())
        sizes = {k: len(v) for k, v in prepared.splits.items()}
        print(f"\n### {dataset} {sizes} (embedding_dim 16, batch {batch}, up to {epochs} epochs, seed {args.seed})\n")
        print("| model | epochs (best) | valid AUC | valid logloss | test AUC | test logloss | train s |")
        print("|---|---|---|---|---|---|---|")
        for name in args.models.split(","):
            r = run(name, prepared, epochs, batch, args.seed)
            print(f"| {r['model']} | {r['epochs']} ({r['best']}) | {r['valid_auc']:.4f} | {r['valid_logloss']:.4f} | "
                  f"{r['test_auc']:.4f} | {r['test_logloss']:.4f} | {r['seconds']:.0f} |", flush=True)


if __name__ == "__main__":
    main()
