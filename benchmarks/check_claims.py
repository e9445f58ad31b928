"""Check that every speed figure "N×" (or a range "N-M×") in README.md is one the current
benchmarks/RESULTS.md tables show: each must be followed by a comment naming the rows it comes from,

    ... 1.62-1.76× <!-- RESULTS: adult fnn ctrkit+bf16/ctrkit train; synthetic deepfm ctrkit+bf16/ctrkit train -->

and the ratios of those rows in benchmarks/results.json (what compare.py writes RESULTS.md's tables
from) must give the figure: a single figure equals each named ratio, a range is their minimum and
maximum, rounded to the figure's decimals. A spec is ``DATASET MODEL LIBRARY[/LIBRARY2] COLUMN[/COLUMN2]``:
``ctrkit+bf16/ctrkit train`` divides two rows' training rates, ``ctrkit/peer predict`` divides by the
fastest peer's (RESULTS' "× best peer"), ``ctrkit int8/onnx`` divides two columns of one row (the int8
table's "× float32"). Columns: train, predict, onnx (float32 ONNX Runtime), int8.

    python benchmarks/check_claims.py [README.md] [benchmarks/results.json]

Prints each claim with the ratios it names; exits 1 when one is missing a source or differs.
"""
from __future__ import annotations

import json
import os
import re
import sys
from typing import Dict, List, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = {"train": "train_samples_per_second", "predict": "predict_samples_per_second",
           "onnx": "predict_onnx_samples_per_second", "int8": "predict_onnx-int8_samples_per_second"}
PEERS = ("deepctr-torch", "pytorch-fm")
CLAIM = re.compile(r"(?<![\w.])(\d+(?:\.\d+)?)(?:-(\d+(?:\.\d+)?))?×")
SOURCE = re.compile(r"\s*<!--\s*RESULTS:\s*(.*?)-->", re.S)


def ratio(spec: str, rows: List[dict]) -> float:
    """The ratio one spec names (module docstring)."""
    parts = spec.split()
    if len(parts) != 4:
        raise ValueError(f"{spec!r}: expected DATASET MODEL LIBRARY[/LIBRARY2] COLUMN[/COLUMN2]")
    dataset, model, libraries, columns = parts
    top, _, bottom_library = libraries.partition("/")
    column, _, bottom_column = columns.partition("/")
    for name in (column, bottom_column or column):
        if name not in COLUMNS:
            raise ValueError(f"{spec!r}: unknown column {name!r}; columns: {', '.join(COLUMNS)}")

    def value(library: str, name: str) -> float:
        key = COLUMNS[name]
        if library == "peer":
            found = [r[key] for r in rows if r["dataset"] == dataset and r["model"] == model
                     and r["library"] in PEERS and r.get(key)]
        else:
            found = [r[key] for r in rows if r["dataset"] == dataset and r["model"] == model
                     and r["library"] == library and r.get(key)]
        if not found:
            raise ValueError(f"{spec!r}: results.json has no {key} for {dataset} {model} {library}")
        return max(found)

    return value(top, column) / value(bottom_library or top, bottom_column or column)


def check(readme: str, rows: List[dict]) -> Tuple[List[str], List[str]]:
    """(lines describing each claim, problems)."""
    report, problems = [], []
    for match in CLAIM.finditer(readme):
        low, high = match.group(1), match.group(2) or match.group(1)
        line = readme.count("\n", 0, match.start()) + 1
        source = SOURCE.match(readme, match.end())
        if source is None:
            problems.append(f"README.md:{line}: {match.group(0)} names no RESULTS rows (<!-- RESULTS: ... -->)")
            continue
        try:
            values = [ratio(spec.strip(), rows) for spec in source.group(1).split(";") if spec.strip()]
        except ValueError as exc:
            problems.append(f"README.md:{line}: {exc}")
            continue
        decimals = max(len(low.partition(".")[2]), len(high.partition(".")[2]))
        shown = (round(min(values), decimals), round(max(values), decimals))
        ok = shown == (float(low), float(high))
        report.append(f"README.md:{line}: {match.group(0):<12} {'ok' if ok else 'DIFFERS'}: "
                      + ", ".join(f"{v:.3f}" for v in values))
        if not ok:
            problems.append(f"README.md:{line}: {match.group(0)} but the rows it names give "
                            f"{shown[0]:.{decimals}f}-{shown[1]:.{decimals}f}×")
    return report, problems


def main(argv: List[str]) -> int:
    readme_path = argv[0] if argv else os.path.join(ROOT, "README.md")
    results_path = argv[1] if len(argv) > 1 else os.path.join(ROOT, "benchmarks", "results.json")
    with open(readme_path, encoding="utf-8") as fh:
        readme = fh.read()
    with open(results_path) as fh:
        rows: List[Dict] = json.load(fh)["results"]
    report, problems = check(readme, rows)
    print("\n".join(report))
    if problems:
        print("\n".join(["", "claims without a RESULTS source or with other figures:", *problems]), file=sys.stderr)
        return 1
    print(f"{len(report)} claims, each one the RESULTS tables show")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
