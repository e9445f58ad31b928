"""Built-in datasets: each module turns the original files into a schema plus raw splits.

``load_dataset(name, path=..., train=..., **options)`` returns a ``RawDataset``: every dataset
takes its files the same way (``path``: a file or a folder; ``train``/``valid``/``test``: files),
and the rest are the loader's own options (``dataset_help`` lists them). ``prepare`` fits a
processor on the train split and encodes every split.
"""
from __future__ import annotations

import dataclasses
import inspect
import os
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from ..errors import CTRKitError
from ..io.readers import Source
from . import adult, avazu, criteo, frappe, movielens, synthetic
from .base import PreparedDataset, RawDataset, find_split_files, prepare

FILE_KEYS = ("path", "train", "valid", "test")


@dataclass(frozen=True)
class DatasetEntry:
    """A built-in dataset.

    Args:
        load: the loader (a ``RawDataset`` from the files and options).
        description: one line for ``ctrkit datasets``.
        files: how it takes the user's files: ``""`` (none: generated), ``"bundled"`` (optional
            ``path``: a folder with another copy), ``"folder"`` (``path``: the folder of the original
            files) or ``"files"`` (``train`` and optionally
            ``valid``/``test`` files, or ``path``: one file or a folder holding them).
        open_file: a ``Source`` over one file of the dataset's own layout, so that a run trained on
            it evaluates and predicts on such files with no format flags (None: plain CSV/Parquet).
    """

    load: Callable[..., RawDataset]
    description: str
    files: str
    open_file: Optional[Callable[..., Source]] = None   # (path, on_bad_rows='error') -> Source
    more_options: Optional[type] = None   # a dataclass whose fields the loader also takes (``**options``)

    def options(self) -> Dict[str, Any]:
        """The loader's own options (not its files) with their defaults."""
        options = {name: p.default for name, p in inspect.signature(self.load).parameters.items()
                   if name not in FILE_KEYS and p.default is not inspect.Parameter.empty}
        if self.more_options is not None:
            for f in dataclasses.fields(self.more_options):
                options.setdefault(f.name, f.default)
        return options

    def usage(self) -> str:
        files = {"": "no files (generated)", "bundled": "no files (bundled; --path FOLDER for another copy)",
                 "folder": "--path FOLDER",
                 "files": "--train FILE [--valid FILE --test FILE] or --path FILE|FOLDER"}[self.files]
        return files + "; options: " + ", ".join(f"{k}={v!r}" for k, v in self.options().items())


DATASETS: Dict[str, DatasetEntry] = {
    "adult": DatasetEntry(adult.load, "UCI Adult census income, bundled (CC BY 4.0): 8 categorical, 6 numeric",
                          "bundled",
                          adult.open_file),
    "synthetic": DatasetEntry(synthetic.load, "Criteo-shaped generator with planted pair/triple interactions", "",
                              more_options=synthetic.SyntheticConfig),
    "movielens": DatasetEntry(movielens.load, "MovieLens ml-100k / ml-1m folder, rating > 3 as click, genres sequence",
                              "folder"),
    "criteo": DatasetEntry(criteo.load, "Criteo Kaggle display-ads TSV/CSV (label, I1-I13, C1-C26)", "files",
                           criteo.open_file),
    "avazu": DatasetEntry(avazu.load, "Avazu Kaggle CSV, hour -> hour_of_day + weekday", "files", avazu.open_file),
    "frappe": DatasetEntry(frappe.load, "Frappe libFM files of the NFM/AFM papers (labels 1/-1)", "folder",
                           frappe.open_file),
}


def load_dataset(name: str, path: Optional[str] = None, train: Optional[str] = None, valid: Optional[str] = None,
                 test: Optional[str] = None, **options: Any) -> RawDataset:
    """The built-in dataset ``name`` from the user's files (if it takes any) with its ``options``;
    every mistake (a missing file, an option it does not take) is a ``CTRKitError`` that says
    what the dataset takes."""
    if name not in DATASETS:
        raise CTRKitError(f"unknown dataset {name!r}; built-in datasets: {', '.join(DATASETS)}")
    entry = DATASETS[name]
    unknown = sorted(set(options) - set(entry.options()))
    if unknown:
        raise CTRKitError(f"dataset {name!r} takes no option {', '.join(unknown)}; it takes {entry.usage()}")
    files = _file_options(name, entry, path, train, valid, test)
    return entry.load(**files, **options)


def _file_options(name: str, entry: DatasetEntry, path: Optional[str], train: Optional[str], valid: Optional[str],
                  test: Optional[str]) -> Dict[str, Any]:
    given = [p for p in (path, train, valid, test) if p]
    for p in given:
        if not os.path.exists(p):
            raise CTRKitError(f"dataset {name!r}: {p} does not exist")
    if entry.files == "bundled" and not (train or valid or test):
        return {"path": path} if path else {}
    if entry.files in ("", "bundled"):
        if given:
            raise CTRKitError(f"dataset {name!r} takes no files ({entry.usage()}); to train on your own files, "
                              "leave out --dataset and give --train and --label")
        return {}
    if entry.files == "folder":
        folder = path or train
        if not folder or valid or test:
            raise CTRKitError(f"dataset {name!r} needs --path FOLDER (the folder of its original files)")
        return {"path": folder}
    if path and train:
        raise CTRKitError(f"dataset {name!r}: give --path or --train, not both")
    if path and os.path.isdir(path):
        found = find_split_files(path)
        if "train" not in found:
            raise CTRKitError(f"dataset {name!r}: {path} holds no train file (expected train.* or one data file)")
        return found
    train = path or train
    if not train:
        raise CTRKitError(f"dataset {name!r} needs your copy of its files: {entry.usage()}")
    return {"train": train, "valid": valid, "test": test}


def dataset_help() -> List[str]:
    """A line per dataset: name, description and what it takes (``ctrkit datasets``)."""
    width = max(map(len, DATASETS))
    return [f"{name:<{width}}  {entry.description}\n{'':<{width}}  takes {entry.usage()}"
            for name, entry in DATASETS.items()]


__all__ = ["DATASETS", "DatasetEntry", "PreparedDataset", "RawDataset", "dataset_help", "load_dataset", "prepare"]
