"""Encoded splits: arrays in memory, and folders of ``.npy`` files read back memory-mapped.

A split folder holds ``cat.npy`` int32 [N, n_cat], ``num.npy`` float32 [N, n_num],
``seq.npy`` int32 [N, n_seq, L], ``label.npy`` float32 [N] (absent for unlabelled data) and
``manifest.json`` (row count, shapes, the processor's fingerprint, rows skipped).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, Optional, Tuple, Union

import numpy as np

from ..errors import DataError, reading

ARRAYS = ("cat", "num", "seq", "label")
_HEADER_BYTES = 128  # fixed .npy header size, so the row count can be written after streaming


@dataclass
class EncodedArrays:
    """Model-ready arrays of one split (see the module docstring for shapes)."""

    cat: np.ndarray
    num: np.ndarray
    seq: np.ndarray
    label: Optional[np.ndarray]
    info: Dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return int(self.cat.shape[0])

    def arrays(self) -> Dict[str, np.ndarray]:
        out = {"cat": self.cat, "num": self.num, "seq": self.seq}
        if self.label is not None:
            out["label"] = self.label
        return out

    def save(self, folder: str) -> None:
        write_split(folder, [self.arrays()], self.info)


def npy_header(dtype: np.dtype, shape: Tuple[int, ...]) -> bytes:
    """A ``.npy`` header of ``_HEADER_BYTES`` bytes (fixed, so it can be rewritten in place)."""
    meta = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": tuple(shape)}
    text = repr(meta).encode("latin1")
    pad = _HEADER_BYTES - 10 - len(text) - 1
    if pad < 0:
        raise ValueError(f"shape {meta['shape']} does not fit a {_HEADER_BYTES}-byte .npy header")
    body = text + b" " * pad + b"\n"
    return b"\x93NUMPY\x01\x00" + len(body).to_bytes(2, "little") + body


class NpyAppender:
    """Writes a ``.npy`` file row block by row block without knowing the row count up front."""

    def __init__(self, path: str, dtype: np.dtype, row_shape: Tuple[int, ...]) -> None:
        self.path, self.dtype, self.row_shape = path, np.dtype(dtype), tuple(row_shape)
        self.rows = 0
        self._file = open(path + ".tmp", "wb")
        self._file.write(self._header(0))

    def _header(self, rows: int) -> bytes:
        return npy_header(self.dtype, (rows,) + self.row_shape)

    def append(self, block: np.ndarray) -> None:
        if block.shape[1:] != self.row_shape:
            raise ValueError(f"{self.path}: block of shape {block.shape} does not match rows {self.row_shape}")
        self._file.write(np.ascontiguousarray(block, dtype=self.dtype).data)   # no copy of a contiguous block
        self.rows += block.shape[0]

    def close(self) -> None:
        self._file.seek(0)
        self._file.write(self._header(self.rows))
        self._file.close()
        os.replace(self.path + ".tmp", self.path)


def write_split(folder: str, blocks: Iterable[Dict[str, np.ndarray]],
                info: Union[None, Dict[str, Any], Callable[[], Dict[str, Any]]] = None) -> int:
    """Stream encoded blocks (dicts of cat/num/seq[/label] arrays) into ``folder``; returns rows.
    ``info`` (or what it returns, called once the blocks are written) goes into the manifest."""
    os.makedirs(folder, exist_ok=True)
    writers: Dict[str, NpyAppender] = {}
    for block in blocks:
        if not writers:
            writers = {name: NpyAppender(os.path.join(folder, f"{name}.npy"), arr.dtype, arr.shape[1:])
                       for name, arr in block.items()}
        for name, arr in block.items():
            writers[name].append(arr)
        del block, arr   # hold no block while the next one is made
    if not writers:
        raise ValueError(f"{folder}: nothing to write (no rows)")
    rows = next(iter(writers.values())).rows
    for w in writers.values():
        w.close()
    arrays = {n: {"dtype": str(w.dtype), "shape": [rows, *w.row_shape]} for n, w in writers.items()}
    write_manifest(folder, rows, arrays, (info() if callable(info) else info) or {})
    return rows


def write_manifest(folder: str, rows: int, arrays: Dict[str, Dict[str, Any]], info: Dict[str, Any]) -> None:
    """The split's ``manifest.json``, written last (a split without one is not finished)."""
    tmp = os.path.join(folder, "manifest.json.tmp")
    with open(tmp, "w") as fh:
        json.dump({"format": "ctrkit.split/1", "rows": rows, "arrays": arrays, **info}, fh, indent=1)
    os.replace(tmp, os.path.join(folder, "manifest.json"))


def read_manifest(folder: str) -> Dict[str, Any]:
    path = os.path.join(folder, "manifest.json")
    if not os.path.exists(path):
        raise FileNotFoundError(f"{folder}: not an encoded split (no manifest.json)")
    with reading(path, "split's manifest"), open(path) as fh:
        return json.load(fh)


def allocate_split(folder: str, rows: int, arrays: Dict[str, Dict[str, Any]]) -> None:
    """Empty ``.npy`` files (``name.npy.tmp``) of ``rows`` rows of each array's dtype and row shape,
    for several writers to fill at their rows (``copy_rows``); ``finish_split`` names them."""
    os.makedirs(folder, exist_ok=True)
    for name, meta in arrays.items():
        shape = (rows, *meta["shape"][1:])
        with open(os.path.join(folder, f"{name}.npy.tmp"), "wb") as fh:
            fh.write(npy_header(np.dtype(meta["dtype"]), shape))
            fh.truncate(_HEADER_BYTES + int(np.prod(shape, dtype=np.int64)) * np.dtype(meta["dtype"]).itemsize)


def copy_rows(source: str, folder: str, row: int, block_bytes: int = 64 << 20) -> None:
    """Copy the arrays of split ``source`` (written by ``write_split``) into the files that
    ``allocate_split`` made in ``folder``, from row ``row`` on, in blocks (never all in memory)."""
    manifest = read_manifest(source)
    for name, meta in manifest["arrays"].items():
        row_bytes = int(np.prod(meta["shape"][1:], dtype=np.int64)) * np.dtype(meta["dtype"]).itemsize
        with open(os.path.join(source, f"{name}.npy"), "rb") as src, \
                open(os.path.join(folder, f"{name}.npy.tmp"), "r+b") as dst:
            src.seek(_HEADER_BYTES)
            dst.seek(_HEADER_BYTES + row * row_bytes)
            left = manifest["rows"] * row_bytes
            while left:
                block = src.read(min(block_bytes, left))
                if not block:
                    raise DataError(f"ends {left:,} bytes early: the shard is damaged; prepare the data again",
                                    source=src.name)
                dst.write(block)
                left -= len(block)


def finish_split(folder: str, rows: int, arrays: Dict[str, Dict[str, Any]], info: Dict[str, Any]) -> None:
    """Name the files ``allocate_split`` made and filled, then write the manifest."""
    for name in arrays:
        os.replace(os.path.join(folder, f"{name}.npy.tmp"), os.path.join(folder, f"{name}.npy"))
    write_manifest(folder, rows, {n: {**m, "shape": [rows, *m["shape"][1:]]} for n, m in arrays.items()}, info)


def read_split(folder: str, mmap: bool = True) -> EncodedArrays:
    """Load a split written by ``write_split``; arrays are memory-mapped (copy-on-write, so torch
    can wrap slices without copying) unless ``mmap=False``."""
    manifest = read_manifest(folder)
    arrays = {}
    for name in manifest["arrays"]:
        path = os.path.join(folder, f"{name}.npy")
        with reading(path, "encoded array"):
            arr = np.load(path, mmap_mode="c" if mmap else None)
        expected = tuple(manifest["arrays"][name]["shape"])
        if arr.shape != expected:
            raise DataError(f"shape {arr.shape}, the manifest says {expected}: the file is truncated or damaged; "
                            "prepare the data again", source=path)
        arrays[name] = arr
    info = {k: v for k, v in manifest.items() if k not in ("format", "rows", "arrays")}
    return EncodedArrays(arrays["cat"], arrays["num"], arrays["seq"], arrays.get("label"), info)

