"""Every model: shapes, gradients, explanations, registry, regularizers, FNN's two-stage recipe."""
import pytest
import torch

from ctrkit.data import BatchLoader
from ctrkit.inference.explain import pair_weights
from ctrkit.models import FNN, MODELS, build_model, model_options
from ctrkit.train import Trainer
from conftest import SMALL, processor, small_model


@pytest.mark.parametrize("mix", ["categorical", "numeric", "sequence"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_shapes_finite_and_gradients(name, mix):
    model, data = small_model(name, mix)
    batch = next(iter(BatchLoader(data, 32, shuffle="none")))
    logits = model(batch)
    assert logits.shape == (32,) and torch.isfinite(logits).all()
    torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.label).backward()
    for pname, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, f"{name}: no gradient reaches {pname}"
    for module in model.modules():
        if isinstance(module, torch.nn.Embedding) and module.padding_idx is not None:
            assert module.weight.grad[module.padding_idx].abs().sum() == 0, f"{name}: padding row got a gradient"


def test_registry_and_options():
    assert set(MODELS) == {"lr", "fm", "fnn", "deepfm", "afm", "autoint", "autoint+", "fignn", "widedeep", "pnn", "nfm",
                           "dcn", "dcnv2", "xdeepfm", "fibinet", "dlrm", "finalmlp", "finalnet", "din"}
    assert all(cls.paper for cls in MODELS.values())
    opts = model_options("autoint+")
    assert opts["dnn_units"] == (400, 400, 400) and opts["attention_layers"] == 1 and "embedding_l2" in opts
    proc, _ = processor("categorical")
    with pytest.raises(TypeError, match=r"unknown option\(s\) \['hidden'\]"):
        build_model("deepfm", proc.feature_map(), hidden=3)
    with pytest.raises(KeyError, match="unknown model 'xgb'"):
        build_model("xgb", proc.feature_map())


def test_explanations_are_labelled_and_normalised():
    proc, data = processor("numeric")
    batch = next(iter(BatchLoader(data, 16, shuffle="none")))
    fmap = proc.feature_map()
    afm = build_model("afm", fmap, embedding_dim=8).eval().explain(batch)
    assert afm["pairs"] == [("c1", "c2"), ("c1", "x"), ("c2", "x")]
    torch.testing.assert_close(afm["pair_weights"].sum(1), torch.ones(16))
    auto = build_model("autoint", fmap, embedding_dim=8, attention_layers=2, heads=2).eval().explain(batch)
    assert auto["fields"] == ["c1", "c2", "x"] and len(auto["attention"]) == 2
    assert auto["attention"][0].shape == (16, 2, 3, 3)
    fig = build_model("fignn", fmap, embedding_dim=8).eval().explain(batch)
    assert fig["edges"].shape == (16, 3, 3) and fig["nodes"].shape == (16, 3)
    assert torch.all(torch.diagonal(fig["edges"], dim1=1, dim2=2) == 0)
    assert build_model("deepfm", fmap, **SMALL).explain(batch) == {}
    dcn = build_model("dcnv2", fmap, embedding_dim=8, **SMALL).eval().explain(batch)
    assert dcn["fields"] == ["c1", "c2", "x"] and dcn["matrix"].shape == (16, 3, 3) and (dcn["matrix"] > 0).all()
    assert build_model("dcnv2", fmap, embedding_dim=8, low_rank=2, experts=2, **SMALL).explain(batch) == {}
    senet = build_model("fibinet", fmap, embedding_dim=8, **SMALL).eval().explain(batch)
    assert senet["fields"] == ["c1", "c2", "x"] and senet["field_weights"].shape == (16, 3)
    history_proc, history_data = processor("categorical", history=True)
    history_batch = next(iter(BatchLoader(history_data, 16, shuffle="none")))
    din = build_model("din", history_proc.feature_map(), embedding_dim=8).eval().explain(history_batch)
    weights = din["sequence_weights"]["h"]
    assert weights.shape == (16, 4) and (weights[history_batch.seq[:, 0] == 0] == 0).all()


def test_field_pair_weights_of_every_model_that_has_them():
    """The report's and the service's field-pair matrix: the four models that weigh field pairs, None
    for those that weigh fields or positions."""
    proc, data = processor("numeric")
    batch = next(iter(BatchLoader(data, 16, shuffle="none")))
    fmap = proc.feature_map()
    for name in ("afm", "autoint", "fignn", "dcnv2"):
        weights, names, what = pair_weights(build_model(name, fmap, embedding_dim=8).eval(), batch)
        assert weights.shape == (16, 3, 3) and names == ["c1", "c2", "x"] and what
    assert "DCN-V2" in pair_weights(build_model("dcnv2", fmap, embedding_dim=8).eval(), batch)[2]
    for name in ("fibinet", "deepfm"):
        assert pair_weights(build_model(name, fmap, embedding_dim=8).eval(), batch) is None


def test_regularizers():
    proc, data = processor("numeric")
    batch = next(iter(BatchLoader(data, 16, shuffle="none")))
    fmap = proc.feature_map()
    plain = build_model("deepfm", fmap, embedding_dim=8, **SMALL).train()
    plain(batch)
    assert float(plain.penalty()) == 0.0
    reg = build_model("deepfm", fmap, embedding_dim=8, embedding_l2=0.1, net_l2=0.01, **SMALL).train()
    e = reg.embedding(batch)
    reg(batch)
    weights = sum(p.pow(2).sum() for p in reg.network_weights())
    expected = 0.1 * e.pow(2).sum() / 16 + 0.01 * weights
    torch.testing.assert_close(reg.penalty(), expected)
    names = {n for n, p in reg.named_parameters() if any(p is w for w in reg.network_weights())}
    assert names and all(n.startswith("dnn.") for n in names)
    assert reg.penalty().item() == pytest.approx((0.01 * weights).item())    # embedding part consumed


def test_a_table_wide_embedding_penalty_is_fuxictrs_half_l2_of_every_table_each_step():
    proc, data = processor("numeric")
    batch = next(iter(BatchLoader(data, 16, shuffle="none")))
    model = build_model("deepfm", proc.feature_map(), embedding_dim=8, embedding_l2=0.1,
                        embedding_l2_scope="table", **SMALL).train()
    tables = model.embedding.table.weight.pow(2).sum() + model.linear.weights.table.weight.pow(2).sum()
    model(batch)
    torch.testing.assert_close(model.penalty(), 0.05 * tables)
    torch.testing.assert_close(model.penalty(), 0.05 * tables)         # every step, looked up or not
    with pytest.raises(ValueError, match="embedding_l2_scope: expected one of"):
        build_model("deepfm", proc.feature_map(), embedding_l2_scope="rows")
    with pytest.raises(ValueError, match="dense"):
        build_model("deepfm", proc.feature_map(), embedding_l2=0.1, embedding_l2_scope="table", sparse=True)


def test_sparse_embeddings_train_with_sparse_optimizer():
    proc, data = processor("sequence")
    model = build_model("fm", proc.feature_map(), embedding_dim=8, sparse=True)
    before = model.embedding.table.weight.detach().clone()
    Trainer(model, epochs=1, batch_size=16, embedding_optimizer="sparse_adam").fit(data)
    after = model.embedding.table.weight.detach()
    assert not torch.equal(before, after) and torch.equal(before[0], after[0])


def test_fnn_two_stage_copies_fm_embeddings_and_freezes():
    proc, data = processor("numeric")
    fmap = proc.feature_map()
    torch.manual_seed(0)
    fm = build_model("fm", fmap, embedding_dim=8)
    Trainer(fm, epochs=2, batch_size=16).fit(data)
    fnn = FNN.from_fm(fm, freeze=True, dnn_units=(16,))
    for key, value in fm.embedding.state_dict().items():
        assert torch.equal(fnn.embedding.state_dict()[key], value)
    assert torch.equal(fnn.first_order.table.weight, fm.linear.weights.table.weight)
    frozen = {k: v.clone() for k, v in fnn.embedding.state_dict().items()}
    dnn_before = fnn.dnn.net[0].weight.detach().clone()
    Trainer(fnn, epochs=2, batch_size=16).fit(data)
    for key, value in fnn.embedding.state_dict().items():
        assert torch.equal(value, frozen[key]), f"frozen embedding {key} changed"
    assert not torch.equal(fnn.dnn.net[0].weight, dnn_before)
    tuned = FNN.from_fm(fm, freeze=False, dnn_units=(16,))
    Trainer(tuned, epochs=2, batch_size=16).fit(data)
    assert not torch.equal(tuned.embedding.table.weight, fm.embedding.table.weight)


@pytest.mark.parametrize("name", ["afm", "autoint", "autoint+", "fignn"])
def test_row_chunked_interaction_equals_whole_batch(name, monkeypatch):
    """AFM, AutoInt(+) and FiGNN compute their interaction block in blocks of rows: with one row per
    block the logits, explanations and every gradient equal the whole-batch computation."""
    from ctrkit.nn import chunks
    model, data = small_model(name, "sequence")
    batch = next(iter(BatchLoader(data, 32, shuffle="none")))

    def run():
        model.zero_grad()
        logits = model(batch)
        torch.nn.functional.binary_cross_entropy_with_logits(logits, batch.label).backward()
        return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

    whole_logits, whole_grads = run()
    whole_explained = model.explain(batch)
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 1)           # one row per block
    chunked_logits, chunked_grads = run()
    torch.testing.assert_close(chunked_logits, whole_logits)
    for n, g in whole_grads.items():
        torch.testing.assert_close(chunked_grads[n], g, msg=f"{name}: gradient of {n}")
    for key, value in model.explain(batch).items():
        if isinstance(value, torch.Tensor):
            torch.testing.assert_close(value, whole_explained[key])


def test_in_row_chunks_blocks_and_tuples(monkeypatch):
    from ctrkit.nn import chunks
    monkeypatch.setattr(chunks, "CHUNK_BYTES", 40)
    x = torch.arange(30.0).view(10, 3)
    seen = []

    def fn(block):
        seen.append(block.shape[0])
        return block * 2, block.sum(1)

    doubled, sums = chunks.in_row_chunks(fn, x, row_bytes=12)     # 120 bytes: 3 blocks of ≤ 4 rows
    assert seen == [4, 4, 2]
    torch.testing.assert_close(doubled, x * 2)
    torch.testing.assert_close(sums, x.sum(1))
    assert chunks.in_row_chunks(lambda b: b + 1, x, row_bytes=10**9).shape == (10, 3)
