"""Shared helpers: small files written by the tests, the real datasets in ../shared/data, and small
processors and models over a few synthetic fields."""
from __future__ import annotations

import gzip
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


# -------------------------------------------------------- built-in datasets' layouts, tiny
def write_ml100k(folder: Path) -> Path:
    """An ml-100k folder: u.data, u.user, u.genre, u.item (20 ratings of 3 users on 3 movies)."""
    ratings = [(1, 10, 5), (1, 20, 2), (2, 10, 4), (2, 30, 3), (3, 20, 1)] * 4
    write_text(folder / "u.data", "".join(f"{u}\t{i}\t{r}\t{881250949 + k}\n" for k, (u, i, r) in enumerate(ratings)))
    write_text(folder / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n")
    write_text(folder / "u.genre", "unknown|0\nAction|1\nComedy|2\n\n")
    write_text(folder / "u.item", "10|A (1995)|01-Jan-1995||http://x|0|1|1\n20|B (1995)|01-Jan-1995||http://y|0|0|1\n"
                                  "30|C (1995)|01-Jan-1995||http://z|1|0|0\n")
    return folder


def criteo_line(label: int, i: int) -> str:
    """A line of Criteo's TSV: label, 13 counts (one empty), 26 hashed categories (one empty)."""
    nums = [str(i), "", "-1"] + [str(k) for k in range(10)]
    cats = ["68fd1e64" if i % 2 else "05db9164", ""] + [f"{k:08x}" for k in range(24)]
    return "\t".join([str(label)] + nums + cats) + "\n"


AVAZU_HEADER = "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,app_category," \
               "device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,C18,C19,C20,C21\n"


def avazu_line(i: int, hour: str = "14102100") -> str:
    return f"{10**19 + i},{i % 2},{hour},1005,0,1fbe01fe,f3845767,28905ebd,ecad2386,7801e8d9,07d7df22," \
           f"a99f214a,ddd2926e,44956a24,1,2,15706,320,50,1722,0,35,-1,79\n"


def write_frappe(folder: Path, parts=("train", "validation", "test"), rows: int = 30) -> Path:
    """Frappe libFM files (gzipped), labels 1/-1, 10 one-hot fields."""
    lines = ["{} {}:1 {}:1 5039:1 5046:1 5053:1 5055:1 5058:1 5060:1 5069:1 5149:1\r\n".format(
        1 if i % 3 == 0 else -1, i % 5, 957 + i % 7) for i in range(rows)]
    folder.mkdir(parents=True, exist_ok=True)
    for part in parts:
        (folder / f"frappe.{part}.libfm.gz").write_bytes(gzip.compress("".join(lines).encode()))
    return folder


SMALL = {"dnn_units": (16, 8)}
OPTIONS = {"deepfm": SMALL, "fnn": SMALL, "autoint+": SMALL, "autoint": {"attention_dim": 4},
           "fignn": {"gnn_layers": 2}, "afm": {"attention_dim": 4}, "widedeep": SMALL, "pnn": {**SMALL, "product": "both"},
           "nfm": SMALL, "dcn": {**SMALL, "cross_layers": 2}, "dcnv2": {**SMALL, "cross_layers": 2},
           "xdeepfm": {**SMALL, "cin_layer_sizes": (6, 4)}, "fibinet": {**SMALL, "reduction_ratio": 1},
           "dlrm": {"bottom_units": (8,), "top_units": (16, 8)},
           "finalmlp": {"mlp1_units": (16, 8), "mlp2_units": (8,), "fs_hidden_units": (8,), "fusion_heads": 2},
           "finalnet": {"block1_units": (16, 8), "block2_units": (8,)},
           "din": {"attention_units": (8,), "dnn_units": (16, 8)}}


def processor(mix: str, history: bool = False):
    """(fitted processor, encoded rows) of 64 random rows with the fields of ``mix``; ``history``
    adds a sequence ``h`` sharing ``c1``'s embedding (DIN's behaviour sequence)."""
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
    if history:
        cols["h"] = ["|".join(rng.choice(list("abcde"), rng.integers(0, 5))) for _ in range(n)]
        fields.append(FeatureSpec("h", "sequence", max_len=4, share_embedding="c1"))
    proc = Processor(Schema(fields=fields, label="y")).fit(pa.table(cols))
    return proc, proc.transform(pa.table(cols))


def small_model(name: str, mix: str):
    """(model with seed 0 and the small test sizes, encoded data) for a field mix of ``processor``."""
    proc, data = processor(mix, history=name == "din")
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
