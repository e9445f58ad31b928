"""Identities of the interaction blocks against brute force, and the embedding's contracts."""
import numpy as np
import pyarrow as pa
import pytest
import torch

from ctrkit import FeatureSpec, Processor, Schema
from ctrkit.data import BatchLoader
from ctrkit.nn.attention import SHORT_SOFTMAX
from ctrkit.nn import (MLP, AttentionalEdges, AttentionalPooling, AttentionalScoring, FieldEmbedding, FieldGraph,
                       MultiHeadSelfAttention, PairwiseProducts, activation, fm_second_order)



@pytest.fixture(autouse=True)
def seeded():
    """Each test draws its random tensors from seed 0, whatever ran before it."""
    torch.manual_seed(0)


def test_fm_trick_equals_explicit_pair_sum():
    e = torch.randn(5, 7, 4, dtype=torch.float64)
    brute = torch.zeros(5, dtype=torch.float64)
    for i in range(7):
        for j in range(i + 1, 7):
            brute += (e[:, i] * e[:, j]).sum(-1)
    torch.testing.assert_close(fm_second_order(e), brute)


def test_fm_closed_form_gradient_equals_autograd_of_pair_sum():
    """fm_second_order's hand-written backward: the gradient autograd takes through the pair sum."""
    e = torch.randn(5, 7, 4, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(5, dtype=torch.float64)
    brute = sum((e[:, i] * e[:, j]).sum(-1) for i in range(7) for j in range(i + 1, 7))
    (expected,) = torch.autograd.grad((brute * weights).sum(), e)
    (got,) = torch.autograd.grad((fm_second_order(e) * weights).sum(), e)
    torch.testing.assert_close(got, expected)
    assert torch.autograd.gradcheck(fm_second_order, (e,))


def test_pairwise_products_equal_double_loop():
    e = torch.randn(3, 6, 5)
    block = PairwiseProducts(6)
    expected = torch.stack([e[:, i] * e[:, j] for i in range(6) for j in range(i + 1, 6)], dim=1)
    torch.testing.assert_close(block(e), expected)
    assert block.pairs()[:3] == [(0, 1), (0, 2), (0, 3)] and len(block.pairs()) == 15


def test_afm_pair_weights_sum_to_one():
    products = torch.randn(4, 10, 8)
    pooled, weights = AttentionalPooling(8, 6)(products)
    assert pooled.shape == (4, 8) and weights.shape == (4, 10)
    torch.testing.assert_close(weights.sum(1), torch.ones(4))
    torch.testing.assert_close(pooled, (weights.unsqueeze(-1) * products).sum(1))


def test_fignn_edges_have_no_self_loops_and_rows_sum_to_one():
    h = torch.randn(3, 5, 8)
    a = AttentionalEdges(8)(h)
    assert a.shape == (3, 5, 5)
    assert torch.all(torch.diagonal(a, dim1=1, dim2=2) == 0)
    torch.testing.assert_close(a.sum(-1), torch.ones(3, 5))
    # brute force of Eq. 6 for one entry
    w = AttentionalEdges(8)
    w.load_state_dict(dict(w.state_dict()))
    edges = w(h)
    logits = torch.tensor([torch.nn.functional.leaky_relu(w.w(torch.cat([h[0, 1], h[0, j]]))).item()
                           if j != 1 else float("-inf") for j in range(5)])
    torch.testing.assert_close(edges[0, 1], torch.softmax(logits, 0))


def test_field_graph_shapes_reuse_and_no_gru():
    h0 = torch.randn(2, 4, 6)
    shared = FieldGraph(4, 6, steps=3, reuse_graph_layer=True)
    assert len(shared.layers) == 1
    h, a = shared(h0)
    assert h.shape == (2, 4, 6) and a.shape == (2, 4, 4)
    plain = FieldGraph(4, 6, steps=2, use_gru=False, use_residual=False)
    assert plain.gru is None and len(plain.layers) == 2
    h, a = plain(h0)
    expected = plain.layers[1](a, plain.layers[0](a, h0))
    torch.testing.assert_close(h, expected)


@pytest.mark.parametrize("use_scale", [True, False])
@pytest.mark.parametrize("input_dim,attention_dim", [(8, 4), (12, 4), (40, 20)])
@pytest.mark.parametrize("fields", [5, SHORT_SOFTMAX + 3])   # softmax over keys on dim 1, then on dim 2
def test_attention_agrees_with_torch_sdpa(use_scale, input_dim, attention_dim, fields):
    """The layer's explicit matmul + softmax equals torch's scaled_dot_product_attention on the same
    projections (with layer norm and the residual), and its weights are row-stochastic."""
    layer = MultiHeadSelfAttention(input_dim, attention_dim=attention_dim, heads=2, use_scale=use_scale,
                                   layer_norm=True).eval()
    x = torch.randn(3, fields, input_dim)
    out, none = layer(x)
    same, weights = layer(x, return_weights=True)
    assert none is None and weights.shape == (3, 2, fields, fields)
    torch.testing.assert_close(out, same)
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, fields))
    q, k, v = (p(x).view(3, fields, 2, attention_dim).transpose(1, 2) for p in (layer.query, layer.key, layer.value))
    sdpa = torch.nn.functional.scaled_dot_product_attention(q, k, v, scale=layer.scale)
    reference = torch.relu(layer.norm(sdpa.transpose(1, 2).reshape(3, fields, -1) + layer.residual(x)))
    torch.testing.assert_close(out, reference, rtol=1e-5, atol=1e-6)
    assert isinstance(layer.residual, torch.nn.Linear if input_dim != 2 * attention_dim else torch.nn.Identity)
    assert layer.query.bias is None and layer.key.bias is None and layer.value.bias is None


@pytest.mark.parametrize("fields", [5, SHORT_SOFTMAX + 3])
def test_attention_softmax_runs_in_float32_under_bf16_autocast(fields):
    """Under bf16 autocast the weights come from a float32 softmax of the bf16 scores (rows sum to 1
    to float32 precision), the output stays near the float32 layer's, and the gradient reaches the
    projections."""
    layer = MultiHeadSelfAttention(8, attention_dim=4, heads=2, use_scale=True)
    x = torch.randn(3, fields, 8)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out, weights = layer(x, return_weights=True)
        q, k, _ = (p(x).view(3, fields, 2, 4).transpose(1, 2) for p in (layer.query, layer.key, layer.value))
        scores = (q @ k.transpose(-1, -2)) * layer.scale
    assert weights.dtype == torch.float32 and scores.dtype == torch.bfloat16
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, 2, fields), rtol=0, atol=1e-6)
    torch.testing.assert_close(weights, torch.softmax(scores.float(), -1))
    torch.testing.assert_close(out.float(), layer(x)[0], rtol=0.05, atol=0.05)
    out.float().sum().backward()
    assert layer.query.weight.grad.abs().sum() > 0 and layer.key.weight.grad.abs().sum() > 0


def test_attention_matches_the_equations():
    layer = MultiHeadSelfAttention(4, attention_dim=4, heads=1, use_scale=False, use_residual=False)
    x = torch.randn(2, 3, 4)
    q, k, v = layer.query(x), layer.key(x), layer.value(x)
    expected = torch.relu(torch.softmax(q @ k.transpose(1, 2), -1) @ v)
    torch.testing.assert_close(layer(x)[0], expected)
    # two heads of 3 with scale and a projected residual: head h owns columns 3h..3h+2 of Q, K, V
    layer = MultiHeadSelfAttention(4, attention_dim=3, heads=2, use_scale=True)
    q, k, v = layer.query(x), layer.key(x), layer.value(x)
    heads = [torch.softmax(q[..., s] @ k[..., s].transpose(1, 2) / 3 ** 0.5, -1) @ v[..., s]
             for s in (slice(0, 3), slice(3, 6))]
    torch.testing.assert_close(layer(x)[0], torch.relu(torch.cat(heads, -1) + layer.residual(x)))


def test_mlp_options():
    mlp = MLP(10, [8, 6], activations=["relu", "dice"], dropout=[0.0, 0.5], batch_norm=True, output_dim=1)
    assert mlp(torch.randn(4, 10)).shape == (4, 1)
    kinds = [type(m).__name__ for m in mlp.net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "Dice", "Dropout", "Linear"]
    assert isinstance(activation("prelu", 3), torch.nn.PReLU) and isinstance(activation("Hardswish", 3), torch.nn.Hardswish)
    with pytest.raises(ValueError, match="unknown activation"):
        activation("nope", 3)
    with pytest.raises(ValueError, match="2 values for 3 hidden layers"):
        MLP(4, [4, 4, 4], dropout=[0.1, 0.2])


# ------------------------------------------------------------------ FieldEmbedding
def small_processor(tmp_path=None, **extra_fields):
    schema = Schema(fields=[
        FeatureSpec("a", "categorical"),
        FeatureSpec("b", "categorical", embedding_dim=3),
        FeatureSpec("x", "numeric"),
        FeatureSpec("s", "sequence", max_len=3, pooling="mean", share_embedding="a"),
        FeatureSpec("t", "sequence", max_len=2, pooling="sum"),
        *extra_fields.values(),
    ], label="y")
    table = pa.table({"a": ["p", "q", "r", "p"], "b": ["u", "v", "u", "w"], "x": [0.5, 1.0, 2.0, -1.0],
                      "s": ["p|q", "", "r|r|p", "q"], "t": ["m|n", "n", "", "m"], "y": [0, 1, 0, 1],
                      **{k: v.name and ["k1", "k2", "k1", "k3"] for k, v in extra_fields.items()}})
    proc = Processor(schema).fit(table)
    return proc, proc.transform(table)


def test_field_embedding_layout_pooling_and_projection():
    proc, data = small_processor()
    emb = FieldEmbedding(proc.feature_map(), dim=4)
    batch = next(iter(BatchLoader(data, 4, shuffle="none")))
    e = emb(batch)
    assert e.shape == (4, 5, 4) and emb.names == ["a", "b", "x", "s", "t"]
    table = emb.table.weight
    torch.testing.assert_close(e[:, 0], table[batch.cat[:, 0].long()])
    torch.testing.assert_close(e[:, 2], batch.num[:, :1] * emb.numeric_weight[0])
    # b has its own 3-d table projected to 4
    assert "b" in emb.own and emb.project["b"].in_features == 3
    # masked mean (s) and sum (t) over the shared table, padding excluded
    ids = batch.seq[2, 0]
    torch.testing.assert_close(e[2, 3], table[ids[ids > 0].long()].mean(0))
    torch.testing.assert_close(e[0, 4], table[batch.seq[0, 1][batch.seq[0, 1] > 0].long()].sum(0))
    torch.testing.assert_close(e[1, 3], torch.zeros(4))      # empty sequence → zero vector
    assert emb.table.weight[0].abs().sum() == 0               # padding row is zero


def test_field_embedding_selection_by_name_and_type():
    proc, data = small_processor()
    fmap = proc.feature_map()
    assert FieldEmbedding(fmap, 4, fields=["categorical"]).names == ["a", "b"]
    assert FieldEmbedding(fmap, 4, fields=["x", "t"]).names == ["x", "t"]
    with pytest.raises(KeyError, match="unknown field"):
        FieldEmbedding(fmap, 4, fields=["zzz"])


def test_padding_row_gets_no_gradient_and_sparse_option():
    proc, data = small_processor()
    batch = next(iter(BatchLoader(data, 4, shuffle="none")))
    for sparse in (False, True):
        emb = FieldEmbedding(proc.feature_map(), dim=4, sparse=sparse)
        emb(batch).sum().backward()
        grad = emb.table.weight.grad
        assert grad.is_sparse == sparse
        dense = grad.to_dense()
        assert dense[0].abs().sum() == 0 and dense.abs().sum() > 0


def test_pretrained_table_frozen_and_projected(tmp_path):
    np.save(tmp_path / "v.npy", np.arange(15, dtype=np.float32).reshape(3, 5))
    (tmp_path / "k.txt").write_text("k1\nk2\nk3\n")
    spec = FeatureSpec("c", "categorical", pretrained=str(tmp_path / "v.npy"), pretrained_keys=str(tmp_path / "k.txt"),
                       freeze=True)
    proc, data = small_processor(c=spec)
    emb = FieldEmbedding(proc.feature_map(), dim=4)
    own = emb.own["c"]
    assert not own.weight.requires_grad and emb.project["c"].in_features == 5
    vocab = proc.vocabulary("c")
    row = 2 + vocab.index("k2")
    torch.testing.assert_close(own.weight[row], torch.arange(5, 10, dtype=torch.float32))
    assert own.weight[own.padding_idx].abs().sum() == 0
    batch = next(iter(BatchLoader(data, 4, shuffle="none")))
    e = emb(batch)
    k = emb.names.index("c")
    torch.testing.assert_close(e[1, k], emb.project["c"](own.weight[row]))


def test_fast_lookup_gradient_equals_embedding_backward():
    from ctrkit.nn.embedding import lookup
    table = torch.nn.Embedding(50, 4, padding_idx=0)
    ids = torch.tensor([[0, 3, 3], [7, 0, 49]], dtype=torch.int32)
    grad = torch.randn(2, 3, 4)
    expected_out = table(ids.long())
    expected_out.backward(grad)
    expected = table.weight.grad.clone()
    table.weight.grad = None
    out = lookup(table, ids)
    out.backward(grad)
    torch.testing.assert_close(out, expected_out)
    torch.testing.assert_close(table.weight.grad, expected)
    assert table.weight.grad[0].abs().sum() == 0


def test_node_scoring_is_the_papers_weighted_sum():
    """node_weights="node": ŷ = Σ_i MLP2(h_i) · MLP1(h_i) (Fi-GNN Eq. 11-13), node by node."""
    scoring = AttentionalScoring(4, 6, node_weights="node")
    h = torch.randn(3, 4, 6)
    logit, weights = scoring(h)
    for b in range(3):
        brute = sum(scoring.weight(h[b, i]).squeeze() * scoring.score(h[b, i]).squeeze() for i in range(4))
        torch.testing.assert_close(logit[b], brute)
        torch.testing.assert_close(weights[b], torch.stack([scoring.weight(h[b, i]).squeeze() for i in range(4)]))
    with pytest.raises(ValueError, match="node_weights"):
        AttentionalScoring(4, 6, node_weights="edge")


def test_weight_dropout_drops_attention_weights_only_while_training():
    pooling = AttentionalPooling(8, 4, weight_dropout=0.5)
    products = torch.randn(64, 10, 8)
    pooled, weights = pooling.eval()(products)
    torch.testing.assert_close(pooled, torch.bmm(weights.unsqueeze(1), products).squeeze(1))
    pooling.train()
    torch.manual_seed(1)
    dropped, same_weights = pooling(products)
    torch.testing.assert_close(same_weights, weights)                    # returned before dropout
    assert not torch.allclose(dropped, pooled)
