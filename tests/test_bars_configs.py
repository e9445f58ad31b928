"""configs/bars_*.yaml, BARS's protocol with its FinalMLP settings, train end to end on files in
BARS's layout: a few hundred made-up rows with each config's columns (BARS's files are not here)."""
import csv
import glob
import json
import os
import random

import pytest
import yaml

from ctrkit.cli import main
from ctrkit.config import load_config

CONFIGS = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "configs", "bars_*.yaml")))


def write_split(path, fields, rows, rng):
    """label = 1 when the first categorical field's id is even: something to learn."""
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["label", *(f["name"] for f in fields)])
        for _ in range(rows):
            values = [round(rng.random(), 4) if f["type"] == "numeric" else rng.randint(1, 20) for f in fields]
            first = next(v for v, f in zip(values, fields) if f["type"] == "categorical")
            writer.writerow([int(first % 2 == 0), *values])


def test_there_is_one_for_each_of_bars_x1_datasets():
    assert [os.path.basename(p) for p in CONFIGS] == [
        "bars_avazu_x1.yaml", "bars_criteo_x1.yaml", "bars_frappe_x1.yaml", "bars_movielenslatest_x1.yaml"]


@pytest.mark.parametrize("path", CONFIGS, ids=os.path.basename)
def test_a_bars_config_trains_on_files_in_bars_layout(tmp_path, path):
    config = load_config(path)
    fields = config["data"]["schema"]["fields"]
    rng = random.Random(0)
    files = {}
    for split, rows in (("train", 1200), ("valid", 300), ("test", 300)):
        files[split] = str(tmp_path / f"{split}.csv")
        write_split(files[split], fields, rows, rng)
    out = tmp_path / "run"
    assert main(["train", "--config", path, "--train", files["train"], "--valid", files["valid"], "--test",
                 files["test"], "--out", str(out), "--set", "train.epochs=3", "--set", "train.batch_size=256",
                 "--set", "train.progress=false", "--set", "train.threads=1"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["auc"] > 0.6, metrics          # it learned the planted field
    resolved = yaml.safe_load((out / "config.yaml").read_text())
    assert resolved["model"]["name"] == "finalmlp" and resolved["model"]["embedding_dim"] == 10
    assert resolved["model"]["embedding_l2_scope"] == "table" and resolved["train"]["lr_factor"] == 0.1
