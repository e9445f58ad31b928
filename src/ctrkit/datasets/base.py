"""What a dataset module returns, and how it becomes encoded splits on disk."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

import numpy as np
import pyarrow as pa

from ..errors import CTRKitError
from ..features.processor import Processor
from ..features.spec import Schema
from ..io.readers import MappedSource, Source, TableSource
from ..io.store import EncodedArrays, read_split

SPLITS = ("train", "valid", "test")


@dataclass
class RawDataset:
    """A schema plus raw splits (``train`` always; ``valid`` and ``test`` when the data has them)
    and ``info`` about the data (sizes, label meaning, planted effects for synthetic data)."""

    name: str
    schema: Schema
    splits: Dict[str, Source]
    info: Dict[str, Any] = field(default_factory=dict)


@dataclass
class PreparedDataset:
    """A fitted processor and its encoded splits (memory-mapped when read from a folder)."""

    processor: Processor
    splits: Dict[str, EncodedArrays]
    info: Dict[str, Any] = field(default_factory=dict)

    @classmethod
    def load(cls, folder: str) -> "PreparedDataset":
        """The prepared data in ``folder`` (written by ``prepare`` or ``ctrkit prepare``)."""
        if not os.path.isdir(folder) or not os.path.exists(os.path.join(folder, "processor.json")):
            raise CTRKitError(f"{folder}: not a prepared data folder (expected processor.json and train/, as "
                              "`ctrkit prepare --out` writes)")
        processor = Processor.load(os.path.join(folder, "processor.json"))
        with open(os.path.join(folder, "dataset.json")) as fh:
            info = json.load(fh)
        splits = {s: read_split(os.path.join(folder, s)) for s in SPLITS if os.path.isdir(os.path.join(folder, s))}
        return cls(processor, splits, info)


def skipped_rows(splits: Dict[str, EncodedArrays]) -> List[str]:
    """A line per split that skipped rows (``on_bad_rows='skip'``): how many, of each kind."""
    lines = []
    for name, split in splits.items():
        by = {k: v for k, v in (split.info.get("skipped_by") or {}).items() if v}
        if by:
            kinds = ", ".join(f"{n:,} {kind}" for kind, n in sorted(by.items(), key=lambda kv: -kv[1]))
            lines.append(f"{name}: skipped {sum(by.values()):,} rows ({kinds})")
    return lines


ONE_READ_BYTES = 2**30
COMPRESSED = (".gz", ".bz2", ".zst", ".lz4", ".xz")


def prepare(raw: RawDataset, folder: Optional[str] = None, seed: int = 0) -> PreparedDataset:
    """Fit a processor on the train split and encode every split: into ``folder`` (then
    memory-mapped) or, without a folder, in memory. Into a folder, a train split that fits in
    memory (``fits_one_read``) is fitted and encoded in one read, a larger one is read twice (fit,
    then encode); either way the encoded rows are written chunk by chunk, never held all at once.
    Several processes prepare together with ``ctrkit.datasets.parallel``."""
    processor = Processor(raw.schema, seed=seed)
    info = {"name": raw.name, **raw.info}
    if folder is None:
        splits = {"train": processor.fit_transform(raw.splits["train"])}
        splits.update({name: processor.transform(src) for name, src in raw.splits.items() if name != "train"})
        return PreparedDataset(processor, splits, info)
    os.makedirs(folder, exist_ok=True)
    streamed = dict(raw.splits)
    train = streamed.pop("train")
    if fits_one_read(train):
        processor.fit_transform_to(train, os.path.join(folder, "train"))
    else:
        processor.fit(train)
        streamed = raw.splits
    for name, src in streamed.items():
        processor.transform_to(src, os.path.join(folder, name))
    processor.save(os.path.join(folder, "processor.json"))
    with open(os.path.join(folder, "dataset.json"), "w") as fh:
        json.dump(info, fh, indent=1)
    return PreparedDataset.load(folder)


def fits_one_read(source: Source, shares: int = 1) -> bool:
    """Whether ``source`` (or each of ``shares`` equal shares of it) is small enough to keep its
    codes in memory at once: tables already in memory, and files up to ``ONE_READ_BYTES``
    (compressed ones counted at 8× their size)."""
    while isinstance(source, MappedSource):
        source = source.source
    paths = getattr(source, "paths", None) or ([source.path] if hasattr(source, "path") else None)
    if paths is None:
        return isinstance(source, TableSource)
    return sum(os.path.getsize(p) * (8 if str(p).endswith(COMPRESSED) else 1) for p in paths) <= ONE_READ_BYTES * shares


def split_table(table: pa.Table, fractions: Dict[str, float], seed: int, name: str,
                stratify: Optional[str] = None, on_bad_rows: str = "error",
                lines: Optional[np.ndarray] = None) -> Dict[str, Source]:
    """Split rows at random into named parts of the given fractions (the last takes the rest),
    within each value of ``stratify`` if given, so each part keeps the label rate; the parts keep
    the bad-row policy ``on_bad_rows`` of the source the table was read from and, given the
    ``lines`` of the rows in file ``name``, errors name the file's line (else the part's row)."""
    rng = np.random.default_rng(seed)
    groups = [np.arange(table.num_rows)]
    if stratify is not None:
        keys = np.asarray(table.column(stratify).to_pylist(), dtype=object)
        groups = [np.flatnonzero(keys == k) for k in sorted(set(keys.tolist()), key=str)]
    parts: Dict[str, list] = {k: [] for k in fractions}
    for rows in groups:
        rows = rng.permutation(rows)
        start = 0
        for i, (part, frac) in enumerate(fractions.items()):
            stop = len(rows) if i == len(fractions) - 1 else start + int(round(frac * len(rows)))
            parts[part].append(rows[start:stop])
            start = stop
    taken = {part: np.sort(np.concatenate(idx)) for part, idx in parts.items()}
    return {part: TableSource(table.take(idx), name=name if lines is not None else f"{name} ({part} part)",
                              on_bad_rows=on_bad_rows, lines=None if lines is None else lines[idx])
            for part, idx in taken.items()}


SPLIT_NAMES = {"train": ("train",), "valid": ("valid", "validation", "dev"), "test": ("test",)}


def find_split_files(folder: str) -> Dict[str, str]:
    """The split files in ``folder``: ``train.*``, ``valid.*`` (or ``validation.*``, ``dev.*``) and
    ``test.*``; a folder with one data file gives it as ``train``."""
    names = sorted(n for n in os.listdir(folder) if not n.startswith(".") and os.path.isfile(os.path.join(folder, n))
                   and not n.lower().startswith("readme") and n != "READY")
    found: Dict[str, str] = {}
    for split, stems in SPLIT_NAMES.items():
        for name in names:
            if name.split(".")[0].lower() in stems:
                found.setdefault(split, os.path.join(folder, name))
    if not found and len(names) == 1:
        found["train"] = os.path.join(folder, names[0])
    return found


def file_splits(open_file: Callable[[str], Source], train: str, valid: Optional[str] = None,
                test: Optional[str] = None, seed: int = 0) -> Dict[str, Source]:
    """Splits read by ``open_file`` from the given files; with only ``train``, it is split 80/10/10
    at random."""
    splits = {name: open_file(path) for name, path in (("train", train), ("valid", valid), ("test", test)) if path}
    if valid or test:
        return splits
    table, lines = splits["train"].read_all_with_lines()
    return split_table(table, {"train": 0.8, "valid": 0.1, "test": 0.1}, seed, name=train,
                       on_bad_rows=splits["train"].on_bad_rows, lines=lines)
