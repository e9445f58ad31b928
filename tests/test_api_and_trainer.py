import numpy as np
import pytest
import torch

from ctrkit import CTRClassifier
from ctrkit.datasets import prepare, synthetic
from ctrkit.models import build_model
from ctrkit.train import Trainer

DATA = dict(n_numeric=2, n_categorical=6, vocab_max=200, n_pairs=2, n_triples=0, n_first_order=3)


@pytest.fixture(scope="module")
def prepared():
    return prepare(synthetic.load(4000, seed=0, **DATA))


def frame(n=3000, seed=0):
    pytest.importorskip("pandas")
    table = synthetic.generate(n, synthetic.SyntheticConfig(seed=seed, **DATA))
    return table.to_pandas()


def test_classifier_fit_predict_score_save_load(tmp_path):
    df = frame()
    train, test = df.iloc[:2500], df.iloc[2500:]
    clf = CTRClassifier("fm", epochs=3, embedding_dim=8, batch_size=256, lr=3e-3)
    clf.fit(train, label="label", categorical=[f"C{i}" for i in range(1, 7)], numeric=["I1", "I2"])
    proba = clf.predict_proba(test.drop(columns="label"))
    assert proba.shape == (500, 2) and np.allclose(proba.sum(1), 1)
    assert set(np.unique(clf.predict(test))) <= {0, 1}
    auc = clf.score(test)
    assert 0.55 < auc <= 1 and len(clf.history_) == 3
    assert clf.score(test.drop(columns="label"), test["label"]) == pytest.approx(auc)
    clf.save(str(tmp_path / "nb"))
    again = CTRClassifier.load(str(tmp_path / "nb"))
    np.testing.assert_array_equal(again.predict_proba(test), proba)


def test_classifier_with_y_and_inferred_schema_and_eval_set():
    df = frame(2000, seed=3)
    y = df.pop("label").to_numpy()
    clf = CTRClassifier("lr", epochs=2).fit(df.iloc[:1500], y[:1500], eval_set=(df.iloc[1500:], y[1500:]))
    assert 0.5 < clf.score(df.iloc[1500:], y[1500:]) <= 1
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['hidden'\]"):
        CTRClassifier("deepfm", hidden=3).fit(df, y)         # checked by fit, as scikit-learn wants


def test_early_stopping_restores_the_best_weights(prepared):
    torch.manual_seed(0)
    model = build_model("deepfm", prepared.processor.feature_map(), embedding_dim=8, dnn_units=(256, 256))
    trainer = Trainer(model, epochs=30, batch_size=64, lr=1e-2, patience=1, progress=False)
    history = trainer.fit(prepared.splits["train"], prepared.splits["valid"])
    assert len(history) < 30                                  # stopped early (it overfits fast)
    best = max(history, key=lambda r: r["valid_auc"])
    assert trainer.best_epoch == best["epoch"] and len(history) == trainer.best_epoch + 2
    assert trainer.evaluate(prepared.splits["valid"])["auc"] == pytest.approx(best["valid_auc"], abs=1e-12)


def test_lr_on_plateau_and_eval_every_steps(prepared):
    model = build_model("fm", prepared.processor.feature_map(), embedding_dim=8)
    trainer = Trainer(model, epochs=6, batch_size=64, lr=5e-2, patience=100, lr_factor=0.5, lr_patience=1,
                      eval_every_steps=20, progress=False)
    history = trainer.fit(prepared.splits["train"], prepared.splits["valid"])
    steps_per_epoch = -(-len(prepared.splits["train"]) // 64)
    assert len(history) == 6 * (steps_per_epoch // 20 + 1) - 6 * (steps_per_epoch % 20 == 0)
    lrs = [r["lr"] for r in history]
    assert lrs[0] == 5e-2 and min(lrs) < 5e-2 and all(a >= b for a, b in zip(lrs, lrs[1:]))


def test_regression_task_uses_mse(prepared):
    model = build_model("fm", prepared.processor.feature_map(), embedding_dim=8, task="regression")
    trainer = Trainer(model, epochs=1, progress=False)
    trainer.fit(prepared.splits["train"], prepared.splits["valid"])
    metrics = trainer.evaluate(prepared.splits["valid"])
    assert set(metrics) == {"mse", "rmse", "mae"}


def test_unknown_training_option():
    with pytest.raises(TypeError, match="unknown training option 'epochz'"):
        Trainer(torch.nn.Linear(1, 1), epochz=3)


def test_grouped_auc_from_a_field(prepared):
    model = build_model("lr", prepared.processor.feature_map())
    trainer = Trainer(model, epochs=1, group_field="C1", progress=False)
    history = trainer.fit(prepared.splits["train"], prepared.splits["valid"])
    assert 0 < history[-1]["valid_gauc"] <= 1
    with pytest.raises(ValueError, match="not a categorical field"):
        Trainer(model, group_field="I1").evaluate(prepared.splits["valid"])


def test_device_option_places_the_model(prepared):
    """train.device: 'model' keeps the model where it is, 'cpu' and (without CUDA) 'auto' train on the
    CPU, all to the same weights; CUDA on a machine without it is an error that says so."""
    fm = prepared.processor.feature_map()
    devices = ("model", "cpu") + (() if torch.cuda.is_available() else ("auto",))
    weights = []
    for device in devices:
        torch.manual_seed(0)
        model = build_model("lr", fm)
        trainer = Trainer(model, epochs=1, batch_size=256, progress=False, device=device)
        trainer.fit(prepared.splits["train"])
        assert all(p.device.type == "cpu" for p in model.parameters())
        weights.append(model.state_dict())
    for other in weights[1:]:
        assert all(torch.equal(weights[0][k], other[k]) for k in weights[0])
    assert CTRClassifier("lr", device="cpu").train_options == {"device": "cpu"}
    with pytest.raises(ValueError, match=r"train.device 'tpu': expected model, auto, cpu, cuda or cuda:N"):
        Trainer(build_model("lr", fm), device="tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match=r"train.device 'cuda': CUDA is not available here"):
            Trainer(build_model("lr", fm), device="cuda")


def test_classifier_passes_scikit_learns_estimator_checks():
    from sklearn.utils.estimator_checks import check_estimator

    results = check_estimator(CTRClassifier("lr", epochs=2, batch_size=64, threads=1), on_fail=None)
    failed = {r["check_name"]: str(r["exception"])[:200] for r in results if r["status"] == "failed"}
    skipped = {r["check_name"] for r in results if r["status"] == "skipped"}
    assert not failed
    assert skipped <= {"check_array_api_input"}          # needs SCIPY_ARRAY_API set before scipy is imported
    assert len(results) >= 50


def test_classifier_in_clone_grid_search_and_pipeline():
    """String categoricals in a DataFrame, string labels, clone, GridSearchCV over a model option
    and a training option, and a Pipeline step."""
    import pandas as pd
    from sklearn.base import clone
    from sklearn.model_selection import GridSearchCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import FunctionTransformer

    rng = np.random.default_rng(0)
    n = 1200
    df = pd.DataFrame({"site": rng.choice(["a", "b", "c", "d"], n), "device": rng.choice(["phone", "pc"], n),
                       "price": rng.normal(size=n)})
    logit = (df["site"] == "a") * 2.0 - (df["device"] == "pc") * 1.5 + df["price"]
    y = np.where(rng.random(n) < 1 / (1 + np.exp(-logit)), "click", "skip")
    clf = CTRClassifier("fm", epochs=3, batch_size=128, embedding_dim=4, threads=1)
    copy = clone(clf)
    assert copy.get_params() == clf.get_params() and copy.get_params()["embedding_dim"] == 4
    search = GridSearchCV(clf, {"embedding_dim": [2, 4], "lr": [0.01, 0.05]}, cv=2).fit(df, y)
    assert set(search.best_params_) == {"embedding_dim", "lr"} and 0.6 < search.best_score_ <= 1
    best = search.best_estimator_
    assert list(best.classes_) == ["click", "skip"] and set(best.predict(df)) <= {"click", "skip"}
    assert best.field_types_ == {"site": "categorical", "device": "categorical", "price": "numeric"}
    pipe = make_pipeline(FunctionTransformer(lambda d: d.assign(price=d["price"] * 2)), clone(clf)).fit(df, y)
    assert pipe.predict_proba(df).shape == (n, 2)
    on_arrays = clone(clf).fit(df[["price"]].to_numpy(), y)                 # numpy arrays: columns x0, x1, ...
    assert on_arrays.field_types_ == {"x0": "numeric"} and on_arrays.n_features_in_ == 1
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['embeding_dim'\]"):
        clf.set_params(embeding_dim=8).fit(df, y)


def test_epoch_totals_keep_every_steps_logits_in_one_buffer_past_its_capacity():
    from ctrkit.inference.metrics import roc_auc
    from ctrkit.train.trainer import EpochTotals

    rng = np.random.default_rng(0)
    steps = [(torch.tensor(rng.normal(size=n), dtype=torch.float32),
              torch.tensor(rng.integers(0, 2, n), dtype=torch.float32)) for n in (64, 64, 64, 17)]
    totals = EpochTotals(capacity=100)      # made for 100 rows, then doubled: 100 -> 200 -> 400
    for logits, labels in steps:
        totals.add(torch.tensor(0.5), logits, labels)
    logits, labels = (torch.cat([s[i] for s in steps]) for i in (0, 1))
    assert totals.seen == 209 and len(totals.logits) == 400
    assert torch.equal(totals.filled()[0], logits) and torch.equal(totals.filled()[1], labels)
    assert totals.mean_loss() == pytest.approx(0.5)
    assert totals.auc() == pytest.approx(roc_auc(labels.numpy(), logits.numpy()))
    state = totals.state_dict()            # what a checkpoint holds: the filled rows only
    assert state["logits"].shape == (209,)
    again = EpochTotals.from_state(state, torch.device("cpu"))
    again.add(torch.tensor(1.0), logits[:5], labels[:5])      # a resumed epoch goes on filling
    assert again.seen == 214 and torch.equal(again.filled()[0][209:], logits[:5])
    merged = EpochTotals.merged([state, EpochTotals().state_dict(), state], torch.device("cpu"))
    assert merged.seen == 418 and torch.equal(merged.filled()[0], torch.cat([logits, logits]))
