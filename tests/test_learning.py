"""Interaction models find planted interactions that LR cannot (synthetic data, fixed seeds)."""
import numpy as np
import pytest
import torch

from ctrkit.data import BatchLoader
from ctrkit.datasets import prepare, synthetic
from ctrkit.models import build_model
from ctrkit.train import Trainer

# 12 categorical fields (vocabularies 10..2000), 3 planted pairs and 1 triple with a strong signal
DATA = dict(n_numeric=3, n_categorical=12, vocab_max=2000, n_first_order=4, n_pairs=3, n_triples=1,
            pair_scale=4.0, first_order_scale=0.5, ctr=0.3)
RECIPES = {   # model options, training options
    "lr": ({}, dict(epochs=4, batch_size=512, lr=3e-3)),
    "fm": ({}, dict(epochs=4, batch_size=512, lr=3e-3)),
    "deepfm": ({"dnn_units": (64, 64)}, dict(epochs=4, batch_size=512, lr=3e-3)),
    "afm": ({"attention_dim": 16}, dict(epochs=5, batch_size=512, lr=1e-2)),
    "autoint+": ({"dnn_units": (64, 64), "attention_dim": 16, "attention_layers": 2},
                 dict(epochs=4, batch_size=512, lr=3e-3)),
    "fignn": ({"gnn_layers": 2}, dict(epochs=6, batch_size=256, lr=3e-3)),
}


@pytest.fixture(scope="module")
def data():
    raw = synthetic.load(40_000, seed=0, **DATA)
    return prepare(raw), raw.info


def train(data, name):
    prepared, _ = data
    torch.manual_seed(0)
    model_opts, train_opts = RECIPES[name]
    model = build_model(name, prepared.processor.feature_map(), embedding_dim=16, **model_opts)
    trainer = Trainer(model, patience=1, **train_opts)
    trainer.fit(prepared.splits["train"], prepared.splits["valid"])
    return model, trainer, trainer.evaluate(prepared.splits["valid"])["auc"]


@pytest.fixture(scope="module")
def lr_auc(data):
    return train(data, "lr")[2]


def test_lr_learns_first_order_effects(lr_auc):
    assert lr_auc > 0.65


@pytest.mark.parametrize("name", ["fm", "deepfm", "afm", "autoint+", "fignn"])
def test_interaction_model_beats_lr(data, lr_auc, name):
    _, _, auc = train(data, name)
    assert auc > lr_auc + 0.05, f"{name}: valid AUC {auc:.4f} vs LR {lr_auc:.4f}"


def test_afm_attends_to_planted_pairs(data):
    prepared, info = data
    model, _, _ = train(data, "afm")
    model.eval()
    with torch.no_grad():
        weights = torch.cat([model.explain(b)["pair_weights"] for b in BatchLoader(prepared.splits["valid"], 4096,
                                                                                    shuffle="none")]).mean(0)
    pairs = model.explain(next(iter(BatchLoader(prepared.splits["valid"], 2, shuffle="none"))))["pairs"]
    ranked = [pairs[i] for i in np.argsort(-weights.numpy())]
    planted = {tuple(sorted(p)) for p in info["pairs"]}
    top = {tuple(sorted(p)) for p in ranked[:10]}
    assert len(planted & top) >= 2, f"planted {planted}, AFM's top pairs {ranked[:10]}"
