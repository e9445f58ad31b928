"""Shared helpers: small files written by the tests, the real datasets in ../shared/data, and small
processors and models over a few synthetic fields."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
import torch

from ctrkit import FeatureSpec, Processor, Schema
from ctrkit.data.batch import Batch
from ctrkit.models import build_model

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("CTRKIT_SHARED_DATA", REPO.parent / "shared" / "data"))


def shared_data(*parts: str) -> Path:
    """A path under ../shared/data, or skip the test with the reason when it is not there."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real data not available: {path} is missing (set CTRKIT_SHARED_DATA to its folder)")
    return path


def write_text(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


SMALL = {"dnn_units": (16, 8)}
OPTIONS = {"deepfm": SMALL, "fnn": SMALL, "autoint+": SMALL, "autoint": {"attention_dim": 4},
           "fignn": {"gnn_layers": 2}, "afm": {"attention_dim": 4}}


def processor(mix: str):
    rng = np.random.default_rng(0)
    n = 64
    # three fields at least: with two, AFM's and FiGNN's softmax over one pair/neighbour is constant
    cols = {"c1": rng.choice(list("abcde"), n).tolist(), "c2": rng.choice(list("vwxyz"), n).tolist(),
            "y": rng.integers(0, 2, n)}
    fields = [FeatureSpec("c1", "categorical"), FeatureSpec("c2", "categorical")]
    if mix == "categorical":
        cols["c3"] = rng.choice(list("klmn"), n).tolist()
        fields.append(FeatureSpec("c3", "categorical"))
    if mix in ("numeric", "sequence"):
        cols["x"] = rng.normal(size=n)
        fields.append(FeatureSpec("x", "numeric"))
    if mix == "sequence":
        cols["s"] = ["|".join(rng.choice(list("pqrs"), rng.integers(0, 4))) for _ in range(n)]
        fields.append(FeatureSpec("s", "sequence", max_len=3))
    proc = Processor(Schema(fields=fields, label="y")).fit(pa.table(cols))
    return proc, proc.transform(pa.table(cols))


def small_model(name: str, mix: str):
    """(model with seed 0 and the small test sizes, encoded data) for a field mix of ``processor``."""
    proc, data = processor(mix)
    torch.manual_seed(0)
    return build_model(name, proc.feature_map(), embedding_dim=8, **OPTIONS.get(name, {})), data


def whole(data) -> Batch:
    return Batch(torch.from_numpy(data.cat), torch.from_numpy(data.num), torch.from_numpy(data.seq))


def randomized(model):
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.eval()


def own_table_feature_map():
    """Two categorical fields, ``a`` with a table of its own (width 4) and ``b`` in the shared one."""
    cols = {"a": list("abcabcab"), "b": list("xyzzyxyz"), "y": [0, 1] * 4}
    schema = Schema(fields=[FeatureSpec("a", "categorical", embedding_dim=4), FeatureSpec("b", "categorical")],
                    label="y")
    return Processor(schema).fit(pa.table(cols)).feature_map()
