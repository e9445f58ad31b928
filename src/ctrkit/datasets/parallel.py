"""Preparing on several processes at once (``torchrun ... -m ctrkit prepare``): each process reads
its share of every split, and the result is the folder one process would write, to the byte.

1. Fit: every process counts its share of the training rows (``Source.share``: whole files of a
   glob, runs of a Parquet file's row groups, chunks of a table), keeping its chunks' codes when
   its share fits in memory (as one process does with a small input); the tallies are gathered
   and merged in share order, which gives exactly the one-process processor
   (``ctrkit.features.tally``), and every process builds it.
2. Encode: every process writes its share of each split to a shard of its own (the train share
   from its kept codes, without reading it again); rank 0 makes the split's files at their full
   size, every process copies its shard in at its first row, and rank 0 writes the manifest. The split is one set of arrays, so every reader (the loader, the
   trainer's memory maps, ``ctrkit evaluate``) reads it as before.

A failure on one process (a bad value in its share) is raised on every process, with its
message, instead of leaving the others waiting."""
from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, TypeVar

from ..errors import CTRKitError
from ..features.parse import skipped_counts
from ..features.processor import Processor
from ..features.tally import FitTally
from ..io.store import allocate_split, copy_rows, finish_split, read_manifest
from .base import PreparedDataset, RawDataset, fits_one_read

T = TypeVar("T")
SHARDS = ".shards"


@dataclass(frozen=True)
class Peers:
    """The processes preparing together: this one's ``rank`` of ``world_size``, and ``gather``
    (every process's value, in rank order, on every process; it waits for all of them)."""

    rank: int
    world_size: int
    gather: Callable[[Any], List[Any]]


def together(peers: Peers, work: Callable[[], T]) -> List[T]:
    """``work()`` on every process; every process's result, in rank order. When it fails on any
    process, every process raises: the failed one its own error, the others its message."""
    try:
        result, failure = work(), None
    except Exception as exc:
        result, failure = None, (exc, f"{exc}")
    outcomes = peers.gather((result, None if failure is None else failure[1]))
    if failure is not None:
        raise failure[0]
    failed = [(rank, message) for rank, (_, message) in enumerate(outcomes) if message is not None]
    if failed:
        rank, message = failed[0]
        raise CTRKitError(f"process {rank} failed: {message}")
    return [value for value, _ in outcomes]


def prepare_together(raw: RawDataset, folder: str, peers: Peers, seed: int = 0) -> PreparedDataset:
    """``prepare(raw, folder, seed)`` by ``peers`` together (see the module docstring)."""
    processor = Processor(raw.schema, seed=seed)
    shares = {name: src.share(peers.rank, peers.world_size) for name, src in raw.splits.items()}
    one_read = fits_one_read(raw.splits["train"], peers.world_size)   # each share's codes fit in memory
    kept: List[FitTally] = []         # this process's tally, with its codes: never sent

    def count() -> FitTally:
        kept.append(processor.tally(shares["train"], keep=one_read))
        return kept[0].shareable()
    processor.fit_tallies(together(peers, count))
    mine = kept[0]
    fingerprint = processor.fingerprint()
    for name, share in shares.items():
        shard = os.path.join(folder, SHARDS, name, f"rank{peers.rank}")
        target = os.path.join(folder, name)

        def encode() -> Dict[str, Any]:
            shutil.rmtree(shard, ignore_errors=True)
            if name == "train" and one_read:
                processor.transform_kept_to(mine, shard)
            else:
                processor.transform_to(share, shard, allow_empty=True)
            return read_manifest(shard)
        manifests = together(peers, encode)
        rows = [m["rows"] for m in manifests]
        arrays = manifests[0]["arrays"]
        info = {"source": raw.splits[name].name, "fingerprint": fingerprint, **_skipped(manifests)}

        def allocate() -> None:
            shutil.rmtree(target, ignore_errors=True)
            allocate_split(target, sum(rows), arrays)

        def name_files() -> None:
            finish_split(target, sum(rows), arrays, info)
            shutil.rmtree(os.path.join(folder, SHARDS, name))
        on_first(peers, allocate)
        together(peers, lambda: copy_rows(shard, target, sum(rows[:peers.rank])))
        on_first(peers, name_files)

    def finish() -> None:
        shutil.rmtree(os.path.join(folder, SHARDS), ignore_errors=True)
        processor.save(os.path.join(folder, "processor.json"))
        with open(os.path.join(folder, "dataset.json"), "w") as fh:
            json.dump({"name": raw.name, **raw.info}, fh, indent=1)
    on_first(peers, finish)
    return PreparedDataset.load(folder)


def on_first(peers: Peers, work: Callable[[], T]) -> T:
    """``work()`` on rank 0 while the others wait; its result on every process (its failure
    raised on all, as ``together``)."""
    return together(peers, lambda: work() if peers.rank == 0 else None)[0]


def _skipped(manifests: List[Dict[str, Any]]) -> Dict[str, Any]:
    """The rows the shards skipped, added up (the keys ``skip_info`` writes)."""
    by: Counter = Counter()
    for m in manifests:
        by.update(m.get("skipped_by") or {})
    return skipped_counts(by)
