"""Interaction models find planted interactions that LR cannot (synthetic data, fixed seeds)."""
import numpy as np
import pyarrow as pa
import pytest
import torch

from ctrkit import FeatureSpec, Processor, Schema

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
    **{name: (options, dict(epochs=4, batch_size=512, lr=3e-3)) for name, options in {
        "widedeep": {"dnn_units": (64, 64)}, "pnn": {"dnn_units": (64, 64)}, "nfm": {"dnn_units": (64, 64)},
        "dcn": {"dnn_units": (64, 64)}, "dcnv2": {"dnn_units": (64, 64)},
        "xdeepfm": {"dnn_units": (64, 64), "cin_layer_sizes": (32, 32)}, "fibinet": {"dnn_units": (64, 64)},
        "dlrm": {"top_units": (64, 64)},
        "finalmlp": {"mlp1_units": (64, 64), "mlp2_units": (64,), "fs_hidden_units": (64,)},
        "finalnet": {"block1_units": (64, 64), "block2_units": (64,)}}.items()},
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


@pytest.mark.parametrize("name", ["fm", "deepfm", "afm", "autoint+", "fignn", "widedeep", "pnn", "nfm", "dcn", "dcnv2",
                                  "xdeepfm", "fibinet", "dlrm", "finalmlp", "finalnet"])
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


def test_dcnv2_cross_weights_single_out_the_planted_pairs(data):
    _, info = data
    model, _, _ = train(data, "dcnv2")
    weights = model.cross.field_weights(model.embedding.num_fields)
    weights = weights + weights.t()                                       # both directions of a pair
    names = model.embedding.names
    rows, cols = torch.triu_indices(len(names), len(names), offset=1)
    ranked = [{names[rows[k]], names[cols[k]]} for k in weights[rows, cols].argsort(descending=True)]
    planted = [set(p) for p in info["pairs"]]
    assert all(p in ranked[:len(planted)] for p in planted), f"planted {planted}, DCN-V2's top pairs {ranked[:5]}"


def behaviour_data(n: int, seed: int, categories: int = 100, max_len: int = 12) -> pa.Table:
    """A target category, a history of categories and a user; the click depends on whether the
    history holds the target's category (planted in half of the rows), which a sum of the history's
    embeddings blurs."""
    rng = np.random.default_rng(seed)
    target = rng.integers(0, categories, n)
    histories, match = [], np.zeros(n, dtype=bool)
    for r in range(n):
        history = rng.integers(0, categories, rng.integers(2, max_len + 1))
        if rng.random() < 0.5:
            history[rng.integers(0, len(history))] = target[r]
        match[r] = (history == target[r]).any()
        histories.append("|".join(map(str, history)))
    user = rng.integers(0, 50, n)
    logit = -0.5 + 3.0 * match + rng.normal(0, 0.3, 50)[user]
    clicks = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pa.table({"item": target.astype(str), "user": user.astype(str), "history": histories, "y": clicks})


def test_din_beats_sum_pooled_deepfm_and_attends_to_the_matching_history():
    train_rows, valid_rows = behaviour_data(40_000, seed=0), behaviour_data(8_000, seed=1)
    schema = Schema(fields=[FeatureSpec("item", "categorical"), FeatureSpec("user", "categorical"),
                            FeatureSpec("history", "sequence", max_len=12, share_embedding="item", pooling="sum")],
                    label="y")
    proc = Processor(schema).fit(train_rows)
    train_data, valid_data = proc.transform(train_rows), proc.transform(valid_rows)
    aucs = {}
    for name, options in {"deepfm": {"dnn_units": (64, 64)}, "din": {"dnn_units": (64, 32)}}.items():
        torch.manual_seed(0)
        model = build_model(name, proc.feature_map(), embedding_dim=16, **options)
        trainer = Trainer(model, patience=1, epochs=6, batch_size=512, lr=3e-3)
        trainer.fit(train_data, valid_data)
        aucs[name] = trainer.evaluate(valid_data)["auc"]
    assert aucs["din"] > aucs["deepfm"] + 0.03, aucs
    model.eval()
    batch = next(iter(BatchLoader(valid_data, 4096, shuffle="none")))
    with torch.no_grad():
        weights = model.explain(batch)["sequence_weights"]["history"]
    ids = batch.seq[:, 0]
    matching = (ids == batch.cat[:, 0:1]) & (ids > 0)
    assert (weights[ids == 0] == 0).all()
    assert weights[matching].mean() > weights[~matching & (ids > 0)].mean() + 0.5, \
        (weights[matching].mean(), weights[~matching & (ids > 0)].mean())
