"""Flags shared by the commands: names lists, label maps and the readers' options."""
from __future__ import annotations

import argparse
from typing import Any, Dict, List, Optional

from ..errors import CTRKitError


def split_names(text: Optional[str]) -> List[str]:
    return [t.strip() for t in text.split(",") if t.strip()] if text else []


def parse_label_map(text: Optional[str]) -> Optional[Dict[str, float]]:
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


def read_options(args: argparse.Namespace) -> Dict[str, Any]:
    """The reader options the read flags give (``add_read_flags``)."""
    opts: Dict[str, Any] = {}
    if args.sep:
        opts["sep"] = args.sep.encode().decode("unicode_escape")
    if args.encoding:
        opts["encoding"] = args.encoding
    if args.no_header:
        opts["header"] = False
        if not args.columns:
            raise CTRKitError("--no-header needs --columns A,B,C naming every column")
    if args.columns:
        opts["column_names"] = split_names(args.columns)
    if args.skip_bad_rows:
        opts["on_bad_rows"] = "skip"
    return opts


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """The flags that name your own files and their fields (``prepare`` and ``train``)."""
    p.add_argument("--train", help="training file (CSV/TSV/Parquet/libsvm), or a quoted glob ('day_*.parquet') of "
                                   "files with the same columns; with --dataset: that dataset's file")
    p.add_argument("--valid", help="validation file (or glob)")
    p.add_argument("--test", help="test file (or glob)")
    p.add_argument("--label", help="label column")
    p.add_argument("--categorical", help="categorical columns, comma-separated")
    p.add_argument("--numeric", help="numeric columns, comma-separated")
    p.add_argument("--sequence", help="sequence columns NAME[:SEP], comma-separated")
    p.add_argument("--schema", help="a YAML schema file (instead of the column flags)")


def add_read_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sep", help="field separator of text files (default ',' ; '\\t' for .tsv)")
    p.add_argument("--encoding", help="text encoding of text files (default utf-8; e.g. latin-1, cp1252)")
    p.add_argument("--no-header", action="store_true", help="text files have no header line")
    p.add_argument("--columns", help="column names, comma-separated (with --no-header)")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip (and count) rows that cannot be read")
    p.add_argument("--label-map", help="raw label values to targets, e.g. '>50K=1,<=50K=0'")
