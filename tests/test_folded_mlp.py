"""FoldedMLP, the prediction scorer of FNN and DeepFM: equal to their forward in eval mode, frozen,
within its memory budget, used where it applies."""
import numpy as np
import pyarrow as pa
import pytest
import torch

from ctrkit import FeatureSpec, Processor, Schema
from ctrkit.io.store import EncodedArrays
from ctrkit.inference import Predictor, default_engine, predict
from ctrkit.models import build_model
from ctrkit.nn import FoldedMLP, FrozenFM, LogitSum
from ctrkit.nn import folded_mlp
from conftest import own_table_feature_map, randomized, small_model, whole


def with_batch_norm_statistics(model):
    """Random running means and variances (and scales), so that folding them into the Linear layers
    is tested."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm1d):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
                if m.affine:
                    m.weight.uniform_(0.5, 1.5)
    return model


def folded_of(scorer) -> FoldedMLP:
    assert isinstance(scorer, LogitSum)
    return next(t for t in scorer.terms if isinstance(t, FoldedMLP))


def wide_data(n: int = 400):
    """Three categorical fields of 3, 30 and 300 values, a numeric one and a field sharing c2's block."""
    rng = np.random.default_rng(1)
    cols = {"c1": rng.choice(list("abc"), n).tolist(), "c2": [f"v{i}" for i in rng.integers(0, 30, n)],
            "c3": [f"w{i}" for i in rng.integers(0, 300, n)], "c4": [f"v{i}" for i in rng.integers(0, 30, n)],
            "x": rng.normal(size=n), "y": rng.integers(0, 2, n)}
    fields = [FeatureSpec("c1", "categorical"), FeatureSpec("c2", "categorical"), FeatureSpec("c3", "categorical"),
              FeatureSpec("c4", "categorical", share_embedding="c2"), FeatureSpec("x", "numeric")]
    proc = Processor(Schema(fields=fields, label="y")).fit(pa.table(cols))
    return proc.feature_map(), proc.transform(pa.table(cols))


MLP_OPTIONS = [{}, {"batch_norm": True}, {"dnn_activation": "dice", "dnn_dropout": 0.5}]
CASES = ([("fnn", o) for o in MLP_OPTIONS + [{"batch_norm": True, "use_first_order": False}]]
         + [("deepfm", o) for o in MLP_OPTIONS])


@pytest.mark.parametrize("mix", ["categorical", "numeric"])
@pytest.mark.parametrize("name,options", CASES)
def test_folded_scorer_equals_the_forward_and_keeps_its_weights(name, options, mix):
    model, data = small_model(name, mix)
    model = build_model(name, model.feature_map, embedding_dim=8, dnn_units=(16, 8), **options)
    with_batch_norm_statistics(randomized(model))
    batch = whole(data)
    scorer = model.scorer()
    folded = folded_of(scorer)
    assert not any(isinstance(m, torch.nn.BatchNorm1d) for m in folded.rest)   # folded into the Linears
    if name == "deepfm":
        assert any(isinstance(t, FrozenFM) for t in scorer.terms)
    with torch.no_grad():
        expected, got = model(batch), scorer(batch)
        assert expected.std() > 0.05                                   # the rows differ
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):              # the layers after the first in bf16
            in_bf16 = scorer(batch)
        torch.testing.assert_close(in_bf16.float(), expected, rtol=0.05, atol=0.05)
        for p in model.parameters():
            p.add_(1.0)
        assert torch.equal(scorer(batch), got)                         # built once: later weights unseen
        torch.testing.assert_close(model.scorer()(batch), model(batch), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["fnn", "deepfm"])
def test_fields_beyond_the_budget_keep_their_product_and_shared_blocks_are_folded_per_field(name):
    fmap, data = wide_data()
    options = {"use_first_order": False} if name == "fnn" else {}
    model = randomized(build_model(name, fmap, embedding_dim=4, dnn_units=(8,), **options))
    slots = model.embedding.slots
    sizes = {s.name: s.size for s in slots}
    assert sizes["c4"] == sizes["c2"] and [s.offset for s in slots if s.name == "c4"] == [s.offset for s in slots
                                                                                         if s.name == "c2"]
    hidden_bytes = 8 * 4
    budget = (sizes["c1"] + sizes["c2"] + sizes["c4"]) * hidden_bytes       # all but c3, the largest
    assert [slots[f].name for f in FoldedMLP.plan(slots, 8, budget)] == ["c1", "c2", "c4"]
    assert FoldedMLP.plan(slots, 8, budget - 1) == [0, 1]                  # c1 and then c2, fewest ids first
    batch = whole(data)
    with torch.no_grad():
        expected = model.dnn(model.embedding(batch).flatten(1))
        for b in (budget, sizes["c1"] * hidden_bytes, 10**9):
            folded = FoldedMLP([model.embedding], model.dnn, budget=b)
            assert folded.table.numel() * 4 <= b
            torch.testing.assert_close(folded(batch), expected, rtol=1e-5, atol=1e-5)
        assert FoldedMLP([model.embedding], model.dnn, budget=budget).cold_cols.tolist() == [slots[2].index]
    with pytest.raises(ValueError, match="no categorical field fits"):
        FoldedMLP([model.embedding], model.dnn, budget=sizes["c1"] * hidden_bytes - 1)


def test_building_leaves_the_model_as_it_was():
    model, data = small_model("fnn", "numeric")
    model = build_model("fnn", model.feature_map, embedding_dim=8, dnn_units=(16, 8), batch_norm=True)
    with_batch_norm_statistics(model).train()
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.scorer()
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())


def test_the_forward_is_kept_where_folding_does_not_apply_or_pay(monkeypatch):
    for name in ("fnn", "deepfm"):
        model, _ = small_model(name, "sequence")                       # a pooled sequence's row is no table row
        assert model.scorer() is model
    own = build_model("fnn", own_table_feature_map(), embedding_dim=8)
    assert own.scorer() is own                                         # a table of its own, projected to 8
    model, _ = small_model("fnn", "categorical")
    folded = FoldedMLP.plan(model.embedding.slots, 16)
    lookups = folded_mlp.LOOKUPS_PER_ID * sum(model.embedding.slots[f].size for f in folded)
    assert model.scorer(rows=lookups // len(folded) - 1) is model      # too few rows to pay for the table
    assert isinstance(model.scorer(rows=-(-lookups // len(folded))), LogitSum)
    monkeypatch.setattr(folded_mlp, "FOLD_BYTES", 0)                     # the switch README gives
    assert model.scorer() is model


@pytest.mark.parametrize("name", ["fnn", "deepfm"])
def test_prediction_runs_the_folded_scorer_in_torch_by_default(name):
    pytest.importorskip("onnxruntime", reason="compares with the onnx engine (the onnx extra)")
    model, data = small_model(name, "numeric")
    randomized(model)
    assert default_engine(model) == "torch"
    run = Predictor(model)
    assert run.engine == "torch" and isinstance(folded_of(run.scorer), FoldedMLP)
    expected = torch.sigmoid(model(whole(data)).detach().double()).numpy()
    np.testing.assert_allclose(run(data), expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(Predictor(model, "onnx")(data), expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["fnn", "deepfm"])
def test_predict_builds_the_folded_scorer_when_the_rows_pay(name):
    """``predict(model, data)`` (as the trainer's evaluation calls it) builds the scorer inside
    inference mode for enough rows, and its probabilities equal the forward's."""
    model, data = small_model(name, "numeric")
    randomized(model).train()
    many = EncodedArrays(*(np.tile(a, (20,) + (1,) * (a.ndim - 1)) for a in (data.cat, data.num, data.seq, data.label)),
                         {})
    assert isinstance(model.scorer(len(many)), LogitSum) and model.scorer(len(data)) is model
    got = predict(model, many)
    assert model.training                                              # left as it was
    with torch.no_grad():
        expected = torch.sigmoid(model.eval()(whole(many)).double()).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
