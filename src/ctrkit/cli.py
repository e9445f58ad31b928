"""The ``ctrkit`` command line."""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any, Dict, List, Optional, Sequence

import yaml

from .data.datasets import DATASETS, RawDataset, load_dataset, prepare
from .data.readers import open_source
from .errors import CTRKitError
from .export import ENGINES
from .features.infer import infer_schema


def _split_names(text: Optional[str]) -> List[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def _parse_label_map(text: Optional[str]) -> Optional[Dict[str, float]]:
    """``'>50K=1,<=50K=0'`` → {'>50K': 1.0, '<=50K': 0.0} (split at the last '=')."""
    if not text:
        return None
    out = {}
    for item in text.split(","):
        key, sep, value = item.rpartition("=")
        if not sep:
            raise CTRKitError(f"--label-map: expected VALUE=TARGET pairs, got {item!r}")
        out[key] = float(value)
    return out


def _read_options(args: argparse.Namespace) -> Dict[str, Any]:
    opts: Dict[str, Any] = {}
    if args.sep:
        opts["sep"] = args.sep.encode().decode("unicode_escape")
    if args.no_header:
        opts["header"] = False
        if not args.columns:
            raise CTRKitError("--no-header needs --columns A,B,C naming every column")
    if args.columns:
        opts["column_names"] = _split_names(args.columns)
    if args.skip_bad_rows:
        opts["on_bad_rows"] = "skip"
    return opts


def _user_dataset(args: argparse.Namespace) -> RawDataset:
    from .experiment import build_schema

    read = _read_options(args)
    splits = {name: open_source(path, **read) for name, path in
              (("train", args.train), ("valid", args.valid), ("test", args.test)) if path}
    data = {"schema": args.schema, "label": args.label, "label_map": _parse_label_map(args.label_map),
            "categorical": _split_names(args.categorical), "numeric": _split_names(args.numeric),
            "sequence": _split_names(args.sequence)}
    return RawDataset(name="custom", schema=build_schema(data, splits["train"]), splits=splits,
                      info={"files": [args.train, args.valid, args.test]})


def cmd_prepare(args: argparse.Namespace) -> int:
    start = time.perf_counter()
    if args.dataset:
        entry = DATASETS[args.dataset]
        options: Dict[str, Any] = {"seed": args.seed}
        if args.dataset == "synthetic":
            options["n_rows"] = args.rows
        if entry.path_option:
            path = args.path or args.train
            if not path:
                raise CTRKitError(f"dataset {args.dataset!r} needs --path pointing at your copy of its files")
            options[entry.path_option] = path
            if entry.path_option == "train":
                options.update(valid=args.valid, test=args.test)
        raw = load_dataset(args.dataset, **options)
    else:
        if not args.train:
            raise CTRKitError("give --dataset NAME or --train PATH")
        raw = _user_dataset(args)
    print(raw.schema.describe())
    prepared = prepare(raw, args.out, seed=args.seed)
    proc = prepared.processor
    print(f"\nembedding table rows: {proc.vocab_size:,} (padding row included)")
    print(f"{'split':<6} {'rows':>9} {'positive':>9} {'cat':>5} {'num':>5} {'seq':>9} {'skipped':>8}")
    for name, split in prepared.splits.items():
        rate = f"{float(split.label.mean()):.4f}" if split.label is not None else "-"
        seq = "x".join(map(str, split.seq.shape[1:]))
        print(f"{name:<6} {len(split):>9,} {rate:>9} {split.cat.shape[1]:>5} {split.num.shape[1]:>5} "
              f"{seq:>9} {split.info.get('skipped', 0):>8}")
    print(f"\nwritten to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    schema = infer_schema(args.data, args.label, label_map=_parse_label_map(args.label_map), **_read_options(args))
    yaml.safe_dump(schema.to_dict(), sys.stdout, sort_keys=False)
    return 0


def _train_flags(args: argparse.Namespace) -> Dict[str, Any]:
    """Flags of ``ctrkit train`` as dotted config keys (None = not given)."""
    flags: Dict[str, Any] = {
        "train.epochs": args.epochs, "train.batch_size": args.batch_size, "model.embedding_dim": args.embedding_dim,
        "train.lr": args.lr, "seed": args.seed, "out": args.out, "model.name": args.model,
        "data.dataset": args.dataset, "data.train": args.train, "data.valid": args.valid, "data.test": args.test,
        "data.label": args.label, "train.device": args.device,
    }
    if args.categorical:
        flags["data.categorical"] = _split_names(args.categorical)
    if args.numeric:
        flags["data.numeric"] = _split_names(args.numeric)
    if args.sequence:
        flags["data.sequence"] = _split_names(args.sequence)
    if args.label_map:
        flags["data.label_map"] = _parse_label_map(args.label_map)
    if args.path:
        flags["data.options"] = {"path": args.path}
    read = {}
    if args.sep:
        read["sep"] = args.sep.encode().decode("unicode_escape")
    if args.skip_bad_rows:
        read["on_bad_rows"] = "skip"
    if read:
        flags["data.read"] = read
    return flags


def cmd_train(args: argparse.Namespace) -> int:
    from .config import load_config
    from .experiment import run_dir, run_experiment

    config = load_config(args.config, args.set or (), **_train_flags(args))
    metrics = run_experiment(config, resume=args.resume)
    print(f"\nrun: {run_dir(config)}")
    print(metrics_table(metrics))
    return 0


def metrics_table(metrics: Dict[str, Any]) -> str:
    keys = ("auc", "logloss", "accuracy", "precision", "recall", "f1", "ece")
    splits = [s for s in ("valid", "test") if s in metrics]
    lines = [f"{'model: ' + metrics['model']:<22}" + "".join(f"{s:>10}" for s in splits)]
    for k in keys:
        if any(k in metrics[s] for s in splits):
            lines.append(f"{k:<22}" + "".join(f"{metrics[s].get(k, float('nan')):>10.4f}" for s in splits))
    t = metrics.get("train", {})
    lines.append(f"trained {t.get('epochs')} epochs (best {t.get('best_epoch')}) in {t.get('seconds', 0):.1f} s, "
                 f"{t.get('samples_per_second', 0):,.0f} samples/s")
    return "\n".join(lines)


def cmd_evaluate(args: argparse.Namespace) -> int:
    from .experiment import load_run

    run = load_run(args.run)
    metrics = run.evaluate(args.data, label_map=_parse_label_map(args.label_map), **_read_options(args))
    text = json.dumps(metrics, indent=1)
    if args.out:
        with open(args.out, "w") as fh:
            fh.write(text)
    print(text)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from .predict import predict_file

    rows = predict_file(args.run, args.input, args.output, args.engine, **_read_options(args))
    print(f"wrote {rows:,} predictions to {args.output}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from .experiment import load_run
    from .export import export_onnx

    out = args.out or os.path.join(args.run, "model-int8.onnx" if args.int8 else "model.onnx")
    export_onnx(load_run(args.run).model, out, args.int8)
    print(f"wrote {out}")
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from .report import write_report

    print(f"wrote {write_report(args.run)}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from .models import MODELS

    for name, cls in MODELS.items():
        print(f"{name:<9} {cls.paper}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    width = max(map(len, DATASETS))
    for name, entry in DATASETS.items():
        where = "  (--path / --train: your files)" if entry.path_option else ""
        print(f"{name:<{width}}  {entry.description}{where}")
    return 0


def _add_read_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sep", help="field separator of text files (default ',' ; '\\t' for .tsv)")
    p.add_argument("--no-header", action="store_true", help="text files have no header line")
    p.add_argument("--columns", help="column names, comma-separated (with --no-header)")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip (and count) rows that cannot be read")
    p.add_argument("--label-map", help="raw label values to targets, e.g. '>50K=1,<=50K=0'")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ctrkit", description="CTR prediction with feature-interaction models")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("prepare", help="fit the processor on train and encode every split to .npy")
    p.add_argument("--dataset", choices=sorted(DATASETS), help="a built-in dataset")
    p.add_argument("--path", help="folder or file of a built-in dataset that is not bundled")
    p.add_argument("--rows", type=int, default=100_000, help="rows for --dataset synthetic")
    p.add_argument("--train", help="training file (CSV/TSV/Parquet/libsvm)")
    p.add_argument("--valid", help="validation file")
    p.add_argument("--test", help="test file")
    p.add_argument("--label", help="label column")
    p.add_argument("--categorical", help="categorical columns, comma-separated")
    p.add_argument("--numeric", help="numeric columns, comma-separated")
    p.add_argument("--sequence", help="sequence columns NAME[:SEP], comma-separated")
    p.add_argument("--schema", help="a YAML schema file (instead of the column flags)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="output folder")
    _add_read_flags(p)
    p.set_defaults(func=cmd_prepare)

    p = sub.add_parser("schema", help="infer a schema from a data file and print it as YAML")
    p.add_argument("--data", required=True)
    p.add_argument("--label", required=True)
    _add_read_flags(p)
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("train", help="train a model (from a config, a built-in dataset or your files)")
    p.add_argument("--config", help="experiment YAML (see configs/)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override any config key, e.g. train.lr=0.01")
    p.add_argument("--dataset", choices=sorted(DATASETS))
    p.add_argument("--path", help="files of a built-in dataset that is not bundled")
    p.add_argument("--model", help="model name (ctrkit models)")
    p.add_argument("--train")
    p.add_argument("--valid")
    p.add_argument("--test")
    p.add_argument("--label")
    p.add_argument("--categorical")
    p.add_argument("--numeric")
    p.add_argument("--sequence", help="NAME[:SEP], comma-separated")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--embedding-dim", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--device", help="where to train: cpu (default), cuda, cuda:N or auto (CUDA when available)")
    p.add_argument("--seed", type=int)
    p.add_argument("--out", help="run folder (default runs/DATASET_MODEL)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's last checkpoint")
    p.add_argument("--sep")
    p.add_argument("--skip-bad-rows", action="store_true")
    p.add_argument("--label-map")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="metrics of a finished run on labelled data")
    p.add_argument("--run", required=True)
    p.add_argument("--data", required=True)
    p.add_argument("--out", help="also write the metrics to this JSON file")
    _add_read_flags(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="add a probability column to a CSV or Parquet file")
    p.add_argument("--run", required=True)
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.add_argument("--engine", choices=ENGINES, default="auto",
                   help="onnx: ONNX Runtime; onnx-int8: ONNX Runtime with int8 weights (2-2.7x faster for MLP "
                        "models, probabilities move by up to ~0.015); torch: PyTorch (LR, FM, FNN and DeepFM through "
                        "frozen tables); auto (default): torch for LR, FM, FNN, DeepFM and bfloat16 runs, else onnx "
                        "when installed")
    _add_read_flags(p)
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="write a run's model as an ONNX graph (encoded arrays in, probability out)")
    p.add_argument("--run", required=True)
    p.add_argument("--out", help="the .onnx file (default RUN/model.onnx, RUN/model-int8.onnx with --int8)")
    p.add_argument("--int8", action="store_true", help="int8 weights for the matrix products (dynamic quantization)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("report", help="write RUN/report.html with PNG plots")
    p.add_argument("--run", required=True)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("models", help="the model table with paper references")
    p.set_defaults(func=cmd_models)

    p = sub.add_parser("datasets", help="list the built-in datasets")
    p.set_defaults(func=cmd_datasets)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CTRKitError, FileNotFoundError, KeyError) as exc:
        print(f"ctrkit: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
