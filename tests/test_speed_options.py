"""Speed options: the precision choice (train.bf16: auto, on, off) and bfloat16 prediction
following the training setting."""
import json

import numpy as np
import pytest
import torch

from ctrkit.datasets import prepare, synthetic
from ctrkit.runs import Run
from ctrkit.models import build_model
from ctrkit.nn.attention import MultiHeadSelfAttention
from ctrkit.train import Trainer
from ctrkit.train.device import BF16_CPU_FLAGS, cpu_flags, native_bf16, resolve_bf16
from ctrkit.inference import predict
from ctrkit.cli import main


@pytest.fixture(scope="module")
def trained():
    prepared = prepare(synthetic.load(3000, seed=0, n_numeric=2, n_categorical=6, vocab_max=200, n_pairs=2,
                                        n_triples=0, n_first_order=3))
    torch.manual_seed(0)
    model = build_model("deepfm", prepared.processor.feature_map(), embedding_dim=8, dnn_units=(64, 64))
    trainer = Trainer(model, epochs=1, batch_size=256, bf16=True, progress=False)
    trainer.fit(prepared.splits["train"])
    return prepared, model, trainer


def test_bf16_prediction_follows_the_training_setting(trained):
    prepared, model, trainer = trained
    valid = prepared.splits["valid"]
    fp32, bf16 = predict(model, valid), predict(model, valid, bf16=True)
    assert not np.array_equal(fp32, bf16)                     # the dense layers ran in bfloat16
    assert np.abs(fp32 - bf16).max() < 0.02 and bf16.dtype == np.float64
    np.testing.assert_array_equal(trainer.predict(valid), bf16)
    # a Run's prediction function builds DeepFM's scorer for any number of rows (nn.FoldedMLP: the first
    # layer in float32 from a table, the layers after it in bfloat16)
    scorer = model.scorer()
    assert scorer is not model
    run = Run(folder="", config={"train": {"bf16": True}}, processor=prepared.processor, model=model)
    folded_bf16 = predict(model, valid, bf16=True, scorer=scorer)
    np.testing.assert_array_equal(run.predict(valid), folded_bf16)   # the auto engine keeps bf16 runs in torch
    assert np.abs(folded_bf16 - bf16).max() < 0.005
    run = Run(folder="", config={"train": {"bf16": False}}, processor=prepared.processor, model=model, engine="torch")
    np.testing.assert_array_equal(run.predict(valid), predict(model, valid, scorer=scorer))
    np.testing.assert_allclose(run.predict(valid), fp32, rtol=1e-5, atol=1e-6)


def test_interaction_blocks_stay_float32_under_bf16_autocast():
    """With ``bf16`` the MLPs run in bfloat16, but an interaction block run by ``in_row_chunks``
    without ``keep_autocast`` (AFM's pooling, FiGNN's graph; here an attention layer as the block)
    gets float32 input and returns float32 output."""
    from ctrkit.nn.chunks import in_row_chunks
    layer = MultiHeadSelfAttention(8, 4, 2)
    x = torch.randn(6, 5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = in_row_chunks(lambda block: layer(block)[0], x.bfloat16(), row_bytes=4 * 5 * 8)
        assert layer.query(x).dtype == torch.bfloat16          # autocast is on outside the block
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, layer(x.bfloat16().float())[0])


def test_autoint_attention_keeps_bf16_autocast_in_its_blocks():
    """``keep_autocast`` runs the blocks under the caller's autocast (AutoInt's attention: bmm in
    bfloat16), and equals the whole batch computed under the same autocast."""
    from ctrkit.nn.chunks import in_row_chunks
    layer = MultiHeadSelfAttention(8, 16, 2)
    x = torch.randn(64, 5, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        blocked = in_row_chunks(lambda block: layer(block)[0], x, row_bytes=4 * 5 * 32 * 2**10, keep_autocast=True)
        whole = layer(x)[0]
    assert blocked.dtype == torch.bfloat16
    torch.testing.assert_close(blocked, whole)
    assert (blocked.float() - layer(x)[0]).abs().max() < 0.1   # close to float32


def test_cpu_prediction_batches_are_sized_by_embedding_bytes(trained):
    """Prediction on CPU runs in batches whose embeddings fill about 4 MB, whatever batch size is
    asked for, and gives the same probabilities as any other batching."""
    from ctrkit.inference.scoring import INFERENCE_BLOCK_BYTES, cpu_inference_rows
    prepared, model, _ = trained
    valid = prepared.splits["valid"]
    fields = model.embedding.num_fields
    assert cpu_inference_rows(model) == INFERENCE_BLOCK_BYTES // (fields * 8 * 4 + fields * 1 * 4)
    np.testing.assert_allclose(predict(model, valid, batch_size=7), predict(model, valid), rtol=1e-6, atol=1e-9)


def test_training_threads_follow_the_cores_other_processes_leave():
    """With a spinning process beside it, FreeCores leaves that process its core (the benchmark
    bench_contention.py measures why)."""
    import subprocess
    import sys

    from ctrkit.train.device import FreeCores, cores

    if cores() < 2:
        pytest.skip("needs at least 2 cores")
    spinner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        free = FreeCores(first_sample_s=0.5)
        assert free.threads() <= cores() - 1
    finally:
        spinner.kill()
        spinner.wait()


def test_auto_precision_is_bfloat16_only_where_native_and_where_the_model_gains(trained):
    prepared, model, _ = trained
    cpu = torch.device("cpu")
    fmap = prepared.processor.feature_map()
    afm = build_model("afm", fmap, embedding_dim=8)
    assert resolve_bf16(None, model, cpu, native=True)[0] is True            # DeepFM on an AVX512-BF16 / AMX CPU
    assert resolve_bf16(None, model, cpu, native=False) == (False, "auto: this CPU has no native bfloat16")
    assert resolve_bf16(None, afm, cpu, native=True) == (False, "auto: AFM was measured no faster in bfloat16")
    assert resolve_bf16(True, afm, cpu, native=False) == (True, "train.bf16: true")      # forced on
    assert resolve_bf16(False, model, cpu, native=True) == (False, "train.bf16: false")  # forced off
    assert native_bf16(cpu) == any(flag in cpu_flags() for flag in BF16_CPU_FLAGS)


@pytest.mark.parametrize("flag, expected", [([], None), (["--bf16"], "bfloat16"), (["--no-bf16"], "float32")])
def test_the_run_says_which_precision_ran(tmp_path, capsys, flag, expected):
    out = tmp_path / "run"
    assert main(["train", "--dataset", "synthetic", "--set", "data.options.n_rows=3000", "--model", "deepfm",
                 "--epochs", "1", "--embedding-dim", "4", "--set", "model.dnn_units=[16]", "--set", "train.threads=1",
                 "--out", str(out), *flag]) == 0
    native = native_bf16(torch.device("cpu"))
    expected = expected or ("bfloat16" if native else "float32")
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["train"]["precision"] == expected
    first = capsys.readouterr().err.splitlines()
    line = next(x for x in first if x.startswith("DeepFM on cpu:"))
    assert line.startswith(f"DeepFM on cpu: {expected} (")
    if not flag:
        assert ("natively" in line) if native else ("no native bfloat16" in line)
