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
    opts: Dict[str, Any] = {}
    if args.sep:
        opts["sep"] = args.sep.encode().decode("unicode_escape")
    if args.no_header:
        opts["header"] = False
        if not args.columns:
            raise CTRKitError("--no-header needs --columns A,B,C naming every column")
    if args.columns:
        opts["column_names"] = split_names(args.columns)
    if args.skip_bad_rows:
        opts["on_bad_rows"] = "skip"
    return opts


def add_read_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sep", help="field separator of text files (default ',' ; '\\t' for .tsv)")
    p.add_argument("--no-header", action="store_true", help="text files have no header line")
    p.add_argument("--columns", help="column names, comma-separated (with --no-header)")
    p.add_argument("--skip-bad-rows", action="store_true", help="skip (and count) rows that cannot be read")
    p.add_argument("--label-map", help="raw label values to targets, e.g. '>50K=1,<=50K=0'")
