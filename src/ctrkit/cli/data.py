"""Commands that prepare data, without torch: ``prepare``, ``schema`` and ``datasets``."""
from __future__ import annotations

import argparse
import os
import sys
import time
from typing import Any, Dict

import yaml

from ..datasets import RawDataset, dataset_help, load_dataset, prepare
from ..datasets.base import skipped_rows
from ..datasets.files import files_dataset
from ..errors import CTRKitError
from ..features.infer import infer_schema
from .options import parse_label_map, read_options, split_names


def _user_dataset(args: argparse.Namespace) -> RawDataset:
    return files_dataset({"train": args.train, "valid": args.valid, "test": args.test, "read": read_options(args),
                          "schema": args.schema, "label": args.label, "label_map": parse_label_map(args.label_map),
                          "categorical": split_names(args.categorical), "numeric": split_names(args.numeric),
                          "sequence": split_names(args.sequence)})


def cmd_prepare(args: argparse.Namespace) -> int:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:   # torchrun: every rank would write the same folder
        raise CTRKitError("ctrkit prepare runs as one process (preparing in parallel under torchrun is not built "
                          "yet): run it without torchrun, then `torchrun ... -m ctrkit train --data FOLDER`")
    start = time.perf_counter()
    if args.dataset:
        options: Dict[str, Any] = {"n_rows": args.rows} if args.dataset == "synthetic" else {}
        raw = load_dataset(args.dataset, path=args.path, train=args.train, valid=args.valid, test=args.test,
                           seed=args.seed, **options)
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
    for line in skipped_rows(prepared.splits):
        print(line)
    print(f"\nwritten to {args.out} in {time.perf_counter() - start:.1f} s")
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    schema = infer_schema(args.data, args.label, label_map=parse_label_map(args.label_map), **read_options(args))
    yaml.safe_dump(schema.to_dict(), sys.stdout, sort_keys=False)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    print("\n".join(dataset_help()))
    print("\nFiles: ctrkit prepare|train --dataset NAME --path/--train ...; options: --set data.options.NAME=VALUE "
          "(train) or data.options in a config.")
    return 0
