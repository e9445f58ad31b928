"""ctrkit side of benchmarks/compare.py: preprocess the CSVs, train one epoch, predict valid."""
from __future__ import annotations

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_util import AFM_ATTENTION, AUTOINT, CATEGORICAL, EMBED_DIM, LR, MLP, NUMERIC, Timer, report, runner_args, scores, warm_up_torch  # noqa: E402

from ctrkit.features import FeatureSpec, Processor, Schema  # noqa: E402
from ctrkit.models import build_model  # noqa: E402
from ctrkit.train import Trainer  # noqa: E402
from ctrkit.train.trainer import predict  # noqa: E402

OPTIONS = {
    "lr": {}, "fm": {},
    "fnn": {"dnn_units": MLP, "use_first_order": False},
    "deepfm": {"dnn_units": MLP},
    "afm": {"attention_dim": AFM_ATTENTION},
    "autoint": {"attention_layers": AUTOINT["layers"], "heads": AUTOINT["heads"], "attention_dim": AUTOINT["dim"]},
    "autoint+": {"attention_layers": AUTOINT["layers"], "heads": AUTOINT["heads"], "attention_dim": AUTOINT["dim"],
                 "dnn_units": MLP},
    "fignn": {"gnn_layers": 3},
}


def main() -> None:
    args = runner_args("--sparse", "--bf16", "--raw-numeric")   # SparseAdam; bf16 autocast; numeric as x·v
    torch.manual_seed(0)
    timer = Timer()
    # Counts are cut into 32 quantile bins and embedded (like the peers' discretised or label-encoded
    # input); --raw-numeric keeps them as log-scaled values times a learned vector instead.
    buckets = None if args.raw_numeric else 32
    schema = Schema(fields=[FeatureSpec(name=c, type="numeric", log=True, buckets=buckets) for c in NUMERIC]
                    + [FeatureSpec(name=c, type="categorical") for c in CATEGORICAL], label="label")
    with timer("preprocess"):
        proc = Processor(schema).fit(args.train)
        train = proc.transform(args.train)
        valid = proc.transform(args.valid)
    model = build_model(args.model, proc.feature_map(), embedding_dim=EMBED_DIM, sparse=args.sparse,
                        **OPTIONS[args.model])
    trainer = Trainer(model, epochs=args.epochs, batch_size=args.batch_size, lr=LR, progress=False,
                      bf16=args.bf16)
    warm_up_torch()
    with timer("train"):
        trainer.fit(train)
    with timer("predict"):
        p = predict(model, valid)
    variant = "".join(f"+{k}" for k in ("sparse", "bf16", "raw_numeric") if getattr(args, k))
    report({"library": "ctrkit" + variant,
            "model": args.model, "rows": len(train), "valid_rows": len(valid), **timer.seconds,
            "train_samples_per_second": len(train) * args.epochs / timer.seconds["train"],
            "predict_samples_per_second": len(valid) / timer.seconds["predict"], **scores(valid.label, p)})


if __name__ == "__main__":
    main()
