"""ONNX export and ONNX Runtime prediction: every model, every field type, the API, the CLI."""
import io
import pickle
import subprocess
import sys

import numpy as np
import pyarrow.csv as pa_csv
import pytest
import torch

onnx = pytest.importorskip("onnx", reason="ONNX export needs the onnx extra: pip install 'ctrkit[onnx]'")
pytest.importorskip("onnxruntime", reason="ONNX Runtime prediction needs the onnx extra")

from ctrkit import CTRClassifier  # noqa: E402
from ctrkit.datasets import synthetic  # noqa: E402
from ctrkit.inference import OnnxPredictor, Predictor, export_onnx, predict  # noqa: E402
from ctrkit.models import MODELS, build_model  # noqa: E402
from ctrkit.runs import load_run  # noqa: E402
from conftest import OPTIONS, processor, small_model  # noqa: E402


@pytest.mark.parametrize("mix", ["categorical", "numeric", "sequence"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_runtime_predicts_what_torch_predicts(name, mix):
    model, data = small_model(name, mix)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    expected = predict(model, data)
    assert expected.std() > 1e-3                                  # the weights make the rows differ
    got = OnnxPredictor.from_model(model).predict(data, batch_size=17)   # batches of another size than traced
    assert got.dtype == np.float64 and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_int8_graph_quantizes_the_weight_products_and_stays_close(name):
    model, data = small_model(name, "categorical")
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.3)
    expected = predict(model, data)
    int8_graph = io.BytesIO()
    export_onnx(model, int8_graph, int8=True)
    graph = onnx.load_from_string(int8_graph.getvalue()).graph
    float_weights = {t.name for t in graph.initializer if t.data_type == onnx.TensorProto.FLOAT}
    assert not [n.name for n in graph.node if n.op_type in ("MatMul", "Gemm") and n.input[1] in float_weights]
    int8_weights = sum(int(np.prod(t.dims)) for t in graph.initializer
                       if t.data_type == onnx.TensorProto.INT8 and t.name.endswith("_quantized"))
    assert int8_weights >= sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))
    got = Predictor(model, "onnx-int8")(data)
    assert got.dtype == np.float64 and got.shape == expected.shape
    assert np.abs(got - expected).mean() < 0.02 and np.abs(got - expected).max() < 0.1   # random weights of
    assert np.corrcoef(got, expected)[0, 1] > 0.99                                         # std 0.3: a hard case


def test_regression_output_and_file_export(tmp_path):
    proc, data = processor("numeric")
    torch.manual_seed(0)
    model = build_model("deepfm", proc.feature_map(), embedding_dim=8, task="regression", **OPTIONS["deepfm"])
    path = tmp_path / "model.onnx"
    export_onnx(model, path)
    assert model.training                                          # exported in eval mode, left as it was
    session = OnnxPredictor(path)
    assert [o.name for o in session.session.get_outputs()] == ["prediction"]
    assert session.inputs == ["cat", "num"]                       # no sequence field: no seq input
    np.testing.assert_allclose(session.predict(data), predict(model, data), rtol=1e-5, atol=1e-6)


def test_predictor_engines():
    proc, data = processor("categorical")
    model = build_model("autoint+", proc.feature_map(), embedding_dim=8, **OPTIONS["autoint+"])
    assert Predictor(model).engine == "onnx"                               # auto: ONNX Runtime is installed
    assert Predictor(model, "torch").engine == "torch"
    bf16 = Predictor(model, bf16=True)                                    # bf16 keeps its autocast
    assert (bf16.engine, bf16.scorer, bf16.bf16) == ("torch", model, True)
    with pytest.raises(ValueError, match="engine must be one of"):
        Predictor(model, "tensorrt")


@pytest.fixture(scope="module")
def fitted(tmp_path_factory):
    raw = synthetic.load(4000, seed=1, n_numeric=2, n_categorical=5, vocab_max=100, n_pairs=2, n_triples=0,
                         n_first_order=2)
    table = raw.splits["train"].table
    clf = CTRClassifier("afm", epochs=1, batch_size=256, embedding_dim=8, attention_dim=8)
    clf.fit(table, label=raw.schema.label, schema=raw.schema)
    folder = tmp_path_factory.mktemp("run")
    clf.save(str(folder))
    return clf, table, folder


def test_classifier_predicts_with_onnx_runtime_by_default(fitted):
    clf, table, folder = fitted
    p = clf.predict_proba(table)[:, 1]
    assert clf.predictor.engine == "onnx"
    torch_clf = CTRClassifier.load(str(folder), engine="torch")
    np.testing.assert_allclose(p, torch_clf.predict_proba(table)[:, 1], rtol=1e-5, atol=1e-6)
    assert abs(clf.score(table) - torch_clf.score(table)) < 1e-4      # near-ties may swap
    copy = pickle.loads(pickle.dumps(clf))                            # the session is left out, made again
    np.testing.assert_allclose(copy.predict_proba(table)[:, 1], p, rtol=1e-6, atol=1e-7)


def test_cli_export_and_predict_engines(fitted, tmp_path):
    clf, table, folder = fitted
    data = tmp_path / "rows.csv"
    pa_csv.write_csv(table.slice(0, 500), data)
    cli = [sys.executable, "-m", "ctrkit.cli"]
    out = subprocess.run(cli + ["export", "--run", str(folder)], capture_output=True, text=True, check=True).stdout
    assert "model.onnx" in out
    encoded = load_run(str(folder)).processor.transform(str(data), require_label=False)
    from_file = OnnxPredictor(folder / "model.onnx").predict(encoded)
    out = subprocess.run(cli + ["export", "--run", str(folder), "--int8"], capture_output=True, text=True,
                         check=True).stdout
    assert "model-int8.onnx" in out
    int8_from_file = OnnxPredictor(folder / "model-int8.onnx").predict(encoded)
    columns = {}
    for engine in ("onnx", "torch", "onnx-int8"):
        target = tmp_path / f"{engine}.csv"
        subprocess.run(cli + ["predict", "--run", str(folder), "--input", str(data), "--output", str(target),
                              "--engine", engine], capture_output=True, text=True, check=True)
        columns[engine] = pa_csv.read_csv(target).column("probability").to_numpy()
    np.testing.assert_allclose(columns["onnx"], columns["torch"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(columns["onnx"], from_file, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(columns["onnx-int8"], int8_from_file, rtol=1e-6, atol=1e-7)
    assert not np.array_equal(columns["onnx-int8"], columns["onnx"])      # AFM's attention ran on int8 weights
    np.testing.assert_allclose(columns["onnx-int8"], columns["onnx"], atol=0.01)


def test_a_saved_classifier_gets_the_full_report(fitted):
    """CTRClassifier.save keeps its held-out split, so the report has the plots of a CLI run."""
    from ctrkit.report import write_report

    clf, table, folder = fitted
    page = open(write_report(str(folder))).read()
    for plot in ("learning_curves", "roc", "calibration", "field_pairs"):
        assert (folder / "plots" / f"{plot}.png").exists(), plot
    for caption in ("Learning curves", "ROC (valid)", "Calibration (valid)", "Field-pair importance (valid)"):
        assert caption in page
    assert len(page) > 50_000


def test_uniform_attention_says_so():
    from ctrkit.report.plots import uniform_note

    f = 39
    flat = np.full((f, f), 1 / f) + np.random.default_rng(0).uniform(-1e-5, 1e-5, (f, f))
    note = uniform_note(flat)
    assert note is not None and note.startswith("uniform: every weight is within 5% of 0.02564")
    peaked = flat.copy()
    peaked[3, 7] = peaked[7, 3] = 0.2
    assert uniform_note(peaked) is None
