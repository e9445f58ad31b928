"""Commands that prepare data, without torch (but under torchrun, to join its group): ``prepare``,
``schema`` and ``datasets``."""
from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from typing import Any, Dict, Optional

import pyarrow as pa
import yaml

from ..datasets import RawDataset, dataset_help, load_dataset, prepare
from ..datasets.base import skipped_rows
from ..datasets.files import files_dataset
from ..datasets.parallel import Peers, prepare_together
from ..errors import CTRKitError
from ..io.threads import own_cores
from ..features.infer import infer_schema
from .options import parse_label_map, read_options, split_names


def _user_dataset(args: argparse.Namespace) -> RawDataset:
    return files_dataset({"train": args.train, "valid": args.valid, "test": args.test, "read": read_options(args),
                          "schema": args.schema, "label": args.label, "label_map": parse_label_map(args.label_map),
                          "categorical": split_names(args.categorical), "numeric": split_names(args.numeric),
                          "sequence": split_names(args.sequence)})


def cmd_prepare(args: argparse.Namespace) -> int:
    if args.nproc is not None:
        from .runs import launch_torchrun

        return launch_torchrun(args)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:   # under torchrun: prepare together, rank 0 prints
        from ..train import distributed

        group = distributed.join({"backend": "gloo"}, "cpu")
        pa.set_cpu_count(own_cores())   # Arrow's threads too: this process's share of the cores
        try:
            with contextlib.redirect_stdout(sys.stdout if group.main else io.StringIO()):
                _prepare(args, distributed.peers())
        except BaseException:
            distributed.leave(finished=False)
            raise
        distributed.leave()
        return 0
    _prepare(args, None)
    return 0


def _prepare(args: argparse.Namespace, peers: Optional[Peers]) -> None:
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
    if peers is not None:
        prepared = prepare_together(raw, args.out, peers, seed=args.seed)
    else:
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
    by = f" by {peers.world_size} processes" if peers is not None else ""
    print(f"\nwritten to {args.out}{by} in {time.perf_counter() - start:.1f} s")


def cmd_schema(args: argparse.Namespace) -> int:
    schema = infer_schema(args.data, args.label, label_map=parse_label_map(args.label_map), **read_options(args))
    yaml.safe_dump(schema.to_dict(), sys.stdout, sort_keys=False)
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    print("\n".join(dataset_help()))
    print("\nFiles: ctrkit prepare|train --dataset NAME --path/--train ...; options: --set data.options.NAME=VALUE "
          "(train) or data.options in a config.")
    return 0
