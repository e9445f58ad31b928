"""Built-in datasets: each module turns the original files into a schema plus raw splits.

``load_dataset(name, **options)`` returns a ``RawDataset``; ``prepare`` fits a processor on its
train split and encodes every split.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict

from . import adult, avazu, criteo, frappe, movielens, synthetic
from .base import PreparedDataset, RawDataset, prepare


@dataclass(frozen=True)
class DatasetEntry:
    load: Callable[..., RawDataset]
    description: str
    path_option: str  # the option naming the user's files ("" when none is needed)


DATASETS: Dict[str, DatasetEntry] = {
    "adult": DatasetEntry(adult.load, "UCI Adult census income, bundled (CC BY 4.0): 8 categorical, 6 numeric", ""),
    "synthetic": DatasetEntry(synthetic.load, "Criteo-shaped generator with planted pair/triple interactions", ""),
    "movielens": DatasetEntry(movielens.load, "MovieLens ml-100k / ml-1m folder, rating > 3 as click, genres sequence", "path"),
    "criteo": DatasetEntry(criteo.load, "Criteo Kaggle display-ads TSV (label, I1-I13, C1-C26)", "train"),
    "avazu": DatasetEntry(avazu.load, "Avazu Kaggle CSV, hour -> hour_of_day + weekday", "train"),
    "frappe": DatasetEntry(frappe.load, "Frappe libFM files of the NFM/AFM papers (labels 1/-1)", "path"),
}


def load_dataset(name: str, **options: Any) -> RawDataset:
    if name not in DATASETS:
        raise KeyError(f"unknown dataset {name!r}; built-in datasets: {', '.join(DATASETS)}")
    return DATASETS[name].load(**options)


__all__ = ["DATASETS", "DatasetEntry", "PreparedDataset", "RawDataset", "load_dataset", "prepare"]
