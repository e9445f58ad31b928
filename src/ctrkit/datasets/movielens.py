"""MovieLens ratings as CTR data, from the ml-100k or ml-1m folder formats (detected).

One row per rating, joined with the user's gender, age, occupation and zip prefix (first 3
characters) and the movie's genres (a ``|``-separated sequence field). Label: rating > 3 → 1
(``threshold``). Rows are split 80/10/10 at random from the seed. With ``history=N``, a sequence
field ``history`` holds the last N movies the user liked (rated above the threshold) at earlier
timestamps, sharing ``item_id``'s embedding (DIN's behaviour sequence). Not redistributable: point
``path`` at your copy.
"""
from __future__ import annotations

import io
import os
from collections import deque
from typing import List

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from ..features.spec import FeatureSpec, Schema
from .base import RawDataset, split_table


def schema(history: int = 0) -> Schema:
    fields = [FeatureSpec(name=c, type="categorical") for c in
              ("user_id", "item_id", "gender", "age", "occupation", "zip_prefix")]
    fields.append(FeatureSpec(name="genres", type="sequence", separator="|", pooling="mean"))
    if history:
        fields.append(FeatureSpec(name="history", type="sequence", separator="|", max_len=history,
                                  share_embedding="item_id", pooling="mean"))
    return Schema(fields=fields, label="label")


def liked_before(users: np.ndarray, times: np.ndarray, items: np.ndarray, liked: np.ndarray, n: int) -> List[str]:
    """For rows sorted by user and time: the last ``n`` liked items of the same user at strictly
    earlier times, ``|``-joined, oldest first (rows at one timestamp do not see each other)."""
    out: List[str] = [""] * len(users)
    start = 0
    while start < len(users):
        end = start
        while end < len(users) and users[end] == users[start]:
            end += 1
        recent: deque = deque(maxlen=n)
        row = start
        while row < end:
            same = row
            while same < end and times[same] == times[row]:
                same += 1
            joined = "|".join(recent)
            for r in range(row, same):
                out[r] = joined
            recent.extend(items[r] for r in range(row, same) if liked[r])
            row = same
        start = end
    return out


def _read(path: str, sep: str, names: List[str], encoding: str = "latin-1") -> pa.Table:
    """A small separated file (any separator, ``::`` included) with all columns as strings."""
    with pa.input_stream(path, compression="detect") as stream:
        text = stream.read().decode(encoding)
    if len(sep) > 1:
        text = text.replace(sep, "\t")
        sep = "\t"
    return pa_csv.read_csv(
        io.BytesIO(text.encode("utf-8")),
        read_options=pa_csv.ReadOptions(column_names=names),
        parse_options=pa_csv.ParseOptions(delimiter=sep, quote_char=False),
        convert_options=pa_csv.ConvertOptions(column_types={n: pa.string() for n in names}),
    )


def _find(folder: str, *names: str) -> str:
    for name in names:
        for candidate in (name, name + ".gz"):
            if os.path.exists(os.path.join(folder, candidate)):
                return os.path.join(folder, candidate)
    raise FileNotFoundError(f"{folder}: none of {', '.join(names)} (.gz allowed); expected an ml-100k or ml-1m folder")


def _ml100k(folder: str) -> pa.Table:
    ratings = _read(_find(folder, "u.data"), "\t", ["user_id", "item_id", "rating", "timestamp"])
    users = _read(_find(folder, "u.user"), "|", ["user_id", "age", "gender", "occupation", "zip"])
    genre_names = _genre_names(_find(folder, "u.genre"))
    item_cols = ["item_id", "title", "release", "video", "url"] + [f"g{i}" for i in range(len(genre_names))]
    items = _read(_find(folder, "u.item"), "|", item_cols)
    flags = [pc.if_else(pc.equal(items.column(f"g{i}"), "1"), g, None) for i, g in enumerate(genre_names)]
    genres = pc.binary_join_element_wise(*flags, "|", null_handling="skip")
    items = pa.table({"item_id": items.column("item_id"), "genres": genres})
    return _join(ratings, users, items)


def _genre_names(path: str) -> List[str]:
    table = _read(path, "|", ["genre", "code"])
    return [g for g in table.column("genre").to_pylist() if g]


def _ml1m(folder: str) -> pa.Table:
    ratings = _read(_find(folder, "ratings.dat"), "::", ["user_id", "item_id", "rating", "timestamp"])
    users = _read(_find(folder, "users.dat"), "::", ["user_id", "gender", "age", "occupation", "zip"])
    movies = _read(_find(folder, "movies.dat"), "::", ["item_id", "title", "genres"])
    return _join(ratings, users, movies.select(["item_id", "genres"]))


def _join(ratings: pa.Table, users: pa.Table, items: pa.Table) -> pa.Table:
    users = users.append_column("zip_prefix", pc.utf8_slice_codeunits(users.column("zip"), 0, 3))
    table = ratings.join(users.select(["user_id", "gender", "age", "occupation", "zip_prefix"]), "user_id",
                         join_type="left outer")
    table = table.join(items, "item_id", join_type="left outer")
    return table


def _histories(table: pa.Table, n: int) -> List[str]:
    """``liked_before`` for every row of ``table``, in its row order (time compared as numbers: the
    table's own order compares the timestamp strings)."""
    users = table.column("user_id").to_numpy(zero_copy_only=False)
    times = pc.cast(table.column("timestamp"), pa.int64()).to_numpy()
    items = table.column("item_id").to_numpy(zero_copy_only=False)
    liked = table.column("label").to_numpy(zero_copy_only=False) > 0
    order = np.lexsort((times, users))
    histories = liked_before(users[order], times[order], items[order], liked[order], n)
    out: List[str] = [""] * len(order)
    for position, row in enumerate(order):
        out[row] = histories[position]
    return out


def load(path: str, threshold: float = 3.0, seed: int = 0, history: int = 0) -> RawDataset:
    """Splits from an ml-100k (``u.data``) or ml-1m (``ratings.dat``) folder; ``history``: the
    length of the liked-movies sequence (0: none)."""
    is_100k = os.path.exists(os.path.join(path, "u.data"))
    table = _ml100k(path) if is_100k else _ml1m(path)
    table = table.sort_by([("user_id", "ascending"), ("timestamp", "ascending"), ("item_id", "ascending")])
    rating = pc.cast(table.column("rating"), pa.float64())
    table = table.append_column("label", pc.cast(pc.greater(rating, threshold), pa.int8()))
    if history:
        table = table.append_column("history", pa.array(_histories(table, history), pa.string()))
    parts = split_table(table, {"train": 0.8, "valid": 0.1, "test": 0.1}, seed,
                        name=os.path.basename(os.path.normpath(path)))
    return RawDataset(name="movielens", schema=schema(history), splits=parts,
                      info={"label": f"rating > {threshold:g}", "format": "ml-100k" if is_100k else "ml-1m",
                            "rows": table.num_rows})
