"""The ``ctrkit`` command line: the parser and ``main``; the commands live in ``cli.data`` (no
torch) and ``cli.runs``."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Optional, Sequence

from ..datasets import DATASETS
from ..errors import CTRKitError
from ..inference import ENGINES
from .data import cmd_datasets, cmd_prepare, cmd_schema
from .options import add_data_flags, add_read_flags
from .runs import cmd_evaluate, cmd_export, cmd_models, cmd_predict, cmd_report, cmd_serve, cmd_train, cmd_tune


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctrkit", description="CTR prediction with feature-interaction models")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="fit the processor on train and encode every split to .npy")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="a built-in dataset")
    p.add_argument("--path", help="folder or file of a built-in dataset that is not bundled")
    p.add_argument("--rows", type=int, default=100_000, help="rows for --dataset synthetic")
    add_data_flags(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--nproc", type=int, help="prepare on N processes of this machine (the same as torchrun "
                                             "--standalone --nproc-per-node N -m ctrkit prepare ...)")
    add_read_flags(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("schema", help="infer a schema from a data file and print it as YAML")
    p.add_argument("--data", required=True)
    p.add_argument("--label", required=True)
    add_read_flags(p)
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("train", help="train a model (from a config, a built-in dataset, your files or a prepared folder)")
    add_experiment_flags(p)
    p.add_argument("--out", help="run folder (default runs/DATASET_MODEL)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--overwrite", action="store_true", help="replace the run in --out (without it, a run there is "
                                                            "kept and training stops with an error)")
    p.add_argument("--nproc", type=int, help="train on N processes of this machine (the same as torchrun "
                                             "--standalone --nproc-per-node N -m ctrkit train ...)")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("tune", help="search hyperparameters with Optuna over the config's tune: space "
                                    "(pip install 'ctrkit[tune]')")
    add_experiment_flags(p)
    p.add_argument("--out", required=True, help="the tune folder (study.db, trials.csv, best.yaml, best/, report.html)")
    p.add_argument("--trials", type=int, help="finished trials the study should hold (default: tune.trials, 20)")
    p.add_argument("--jobs", type=int, default=1, help="trials in parallel processes (threads divided between them)")
    p.add_argument("--timeout", help="stop starting trials after this long: seconds, or e.g. 90s, 30m, 2h")
    p.add_argument("--resume", action="store_true", help="continue the study in --out after a stop")
    p.set_defaults(func=cmd_tune)

    p = sub.add_parser("evaluate", help="metrics of a finished run on labelled data")
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", help="also write the metrics to this JSON file")
    add_read_flags(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="add a probability column to a CSV or Parquet file")
    p.add_argument("--run", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="onnx: ONNX Runtime; onnx-int8: ONNX Runtime with int8 weights (faster for MLP "
                        "models, probabilities move a little: benchmarks/RESULTS.md); torch: PyTorch (LR, FM, FNN and DeepFM through "
                        "frozen tables); auto (default): torch for LR, FM, FNN, DeepFM and bfloat16 runs, else onnx "
                        "when installed")
    add_read_flags(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="write a run's model as an ONNX graph (encoded arrays in, probability out)")
    p.add_argument("--run", required=True)
    p.add_argument("--out", help="the .onnx file (default RUN/model.onnx, RUN/model-int8.onnx with --int8)")
    p.add_argument("--int8", action="store_true", help="int8 weights for the matrix products (dynamic quantization)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="write RUN/report.html with PNG plots (for a tune folder: the study's report too)")
    p.add_argument("--run", required=True)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("serve", help="an HTTP scoring service for a run (pip install 'ctrkit[serve]')")
    p.add_argument("--run", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="server processes, each with the model loaded")
    p.add_argument("--engine", choices=ENGINES, default="auto")
    p.add_argument("--max-rows", type=int, default=10_000, help="rows per request, more is refused (413)")
    p.add_argument("--max-body-bytes", type=int, default=16 << 20, help="request body size, more is refused (413)")
    p.add_argument("--max-batch-wait-ms", type=float, default=2.0,
                   help="gather concurrent requests for up to this long into one batch (0: off)")
    p.add_argument("--ignore-unknown-fields", action="store_true", help="accept fields the run does not know "
                                                                         "(default: 422)")
    p.add_argument("--admin-token", help="enables POST /admin/reload, which then needs 'Authorization: Bearer TOKEN'")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("models", help="the model table with paper references")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("datasets", help="list the built-in datasets")
    p.set_defaults(func=cmd_datasets)
    return parser


def add_experiment_flags(p: argparse.ArgumentParser) -> None:
    """What ``train`` and ``tune`` take to say the experiment: a config, overrides, data and model."""
    p.add_argument("--config", help="experiment YAML (see configs/)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE",
                   help="override any config key, e.g. train.lr=0.01 (KEY=null removes a model option)")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="a built-in dataset (ctrkit datasets: what each takes)")
    p.add_argument("--path", help="file or folder of a built-in dataset that is not bundled")
    p.add_argument("--data", help="a folder written by `ctrkit prepare` (its processor and encoded splits)")
    p.add_argument("--model", help="model name (ctrkit models)")
    add_data_flags(p)
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--embedding-dim", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--device", help="where to train: model (default: where the model's parameters are, the CPU), "
                                    "cpu, cuda, cuda:N or auto (CUDA when available)")
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=None,
                   help="bfloat16 autocast on or off (default: on where the device computes bfloat16 natively and "
                        "the model gains from it: FNN, DeepFM, AutoInt, AutoInt+)")
    p.add_argument("--seed", type=int)
    add_read_flags(p)


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return args.func(args)
    except (CTRKitError, FileNotFoundError, KeyError) as exc:
        print(f"ctrkit: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:   # the reader went away (``ctrkit schema ... | head``): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


if __name__ == "__main__":
    sys.exit(main())
