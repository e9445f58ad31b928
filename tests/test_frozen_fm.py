"""FrozenFM, the prediction scorer of LR and FM: equal to their forward, frozen, used where it applies."""
import numpy as np
import pytest
import torch

from ctrkit.inference import Predictor, default_engine, predict
from ctrkit.models import build_model
from ctrkit.nn import FrozenFM
from conftest import own_table_feature_map, randomized, small_model, whole


@pytest.mark.parametrize("mix", ["categorical", "numeric"])
@pytest.mark.parametrize("name", ["lr", "fm"])
def test_frozen_scorer_equals_the_forward_and_keeps_its_weights(name, mix):
    model, data = small_model(name, mix)
    batch = whole(data)
    scorer = randomized(model).scorer()
    assert isinstance(scorer, FrozenFM)
    with torch.no_grad():
        expected, got = model(batch), scorer(batch)
        assert expected.std() > 0.1                                    # the rows differ
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)
        with torch.autocast("cpu", dtype=torch.bfloat16):              # float32 sums under bf16 autocast
            in_bf16 = scorer(batch)
        assert in_bf16.dtype == torch.float32
        torch.testing.assert_close(in_bf16, expected, rtol=1e-5, atol=1e-5)
        for p in model.parameters():
            p.add_(1.0)
        assert torch.equal(scorer(batch), got)                         # built once: later weights unseen
        torch.testing.assert_close(model.scorer()(batch), model(batch), rtol=1e-5, atol=1e-5)


def test_fields_that_are_not_sums_of_table_rows_keep_the_forward():
    for name in ("lr", "fm"):
        model, _ = small_model(name, "sequence")                       # a pooled sequence's row is no table row
        assert model.scorer() is model
    own = build_model("fm", own_table_feature_map(), embedding_dim=8)
    assert own.scorer() is own                                         # a table of its own, projected to 8
    assert isinstance(build_model("lr", own.feature_map).scorer(), FrozenFM)   # LR has no such table


def test_scorer_is_built_when_the_rows_pay_for_its_table():
    model, data = small_model("fm", "categorical")
    table_rows = model.linear.weights.table.num_embeddings
    fields = model.linear.weights.num_fields
    assert model.scorer(rows=table_rows // fields - 1) is model
    assert isinstance(model.scorer(rows=-(-table_rows // fields)), FrozenFM)
    assert isinstance(model.scorer(), FrozenFM)


def test_prediction_runs_the_frozen_scorer_in_torch_by_default():
    pytest.importorskip("onnxruntime", reason="compares with the onnx engine (the onnx extra)")
    model, data = small_model("fm", "numeric")
    randomized(model)
    assert default_engine(model) == "torch" and default_engine(small_model("afm", "numeric")[0]) == "onnx"
    run = Predictor(model)
    assert run.engine == "torch" and isinstance(run.scorer, FrozenFM)
    before = run(data)
    logits = model(whole(data)).detach().double()
    np.testing.assert_allclose(before, torch.sigmoid(logits).numpy(), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        model.linear.bias.add_(2.0)
    np.testing.assert_array_equal(run(data), before)                   # the function keeps its weights
    assert (predict(model, data) > before).all()                        # predict() scores the weights of now


def test_predict_runs_in_eval_mode_and_leaves_the_mode_as_it_was():
    """Dropout is off while predicting (same scores twice), and a training model stays in training."""
    model, data = small_model("deepfm", "numeric")
    model.dnn.net.append(torch.nn.Dropout(0.5))
    model.train()
    first = predict(model, data)
    np.testing.assert_array_equal(predict(model, data), first)
    assert model.training and all(m.training for m in model.modules())
    model.eval()
    predict(model, data)
    assert not any(m.training for m in model.modules())
    fm = small_model("fm", "numeric")[0]
    assert not FrozenFM(fm.linear, fm.embedding).training              # built for prediction only
