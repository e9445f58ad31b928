"""The second wave's blocks against their papers' equations, written out as loops."""
import pytest
import torch
import torch.nn.functional as F

from ctrkit.data import BatchLoader
from ctrkit.nn.cin import CompressedInteraction
from ctrkit.nn.cross import CrossLayerV2, CrossNet, CrossNetV2
from ctrkit.nn.factorized import FactorizedInteraction
from ctrkit.nn.fusion import BilinearFusion
from ctrkit.nn.gating import FeatureSelection, FieldGate
from ctrkit.nn.interaction import PairwiseDots, bi_interaction, fm_second_order, outer_product
from ctrkit.nn.senet import BilinearInteraction, SqueezeExcitation
from ctrkit.nn.target_attention import TargetAttention
from conftest import small_model

B, FIELDS, D = 5, 4, 3


@pytest.fixture(autouse=True)
def seeded():
    torch.manual_seed(0)
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def pairs(f=FIELDS):
    return [(i, j) for i in range(f) for j in range(i + 1, f)]


def test_dcn_cross_layer_by_hand():
    """x_{l+1} = x_0 (x_lᵀ w_l) + b_l + x_l (DCN, Eq. 3)."""
    net = CrossNet(6, layers=3)
    with torch.no_grad():
        net.bias.normal_()
    x0 = torch.randn(B, 6)
    x = x0
    for l in range(3):
        x = torch.stack([x0[r] * torch.dot(x[r], net.weight[l]) + net.bias[l] + x[r] for r in range(B)])
    torch.testing.assert_close(net(x0), x)


def test_dcnv2_full_rank_layer_by_hand():
    """x_{l+1} = x_0 ⊙ (W x_l + b) + x_l (DCN-V2, Eq. 1)."""
    layer = CrossLayerV2(6)
    with torch.no_grad():
        layer.bias.normal_()
    x0, x = torch.randn(B, 6), torch.randn(B, 6)
    w = layer.full.weight
    expected = torch.stack([x0[r] * (w @ x[r] + layer.bias) + x[r] for r in range(B)])
    torch.testing.assert_close(layer(x0, x), expected)


def test_low_rank_cross_equals_full_rank_with_w_equal_u_v_transposed():
    low = CrossNetV2(6, layers=2, rank=2)
    full = CrossNetV2(6, layers=2)
    with torch.no_grad():
        for lo, fu in zip(low.layers, full.layers):
            lo.bias.normal_()
            fu.bias.copy_(lo.bias)
            u_mat, v_mat = lo.u[0].t(), lo.v[0]               # U [n, r], V [n, r]
            fu.full.weight.copy_(u_mat @ v_mat.t())            # W = U Vᵀ
            torch.testing.assert_close(lo.matrix(), u_mat @ v_mat.t())
    x0 = torch.randn(B, 6)
    torch.testing.assert_close(low(x0), full(x0))


def test_mixture_of_low_rank_experts_by_hand():
    """E_k = x_0 ⊙ (U_k g(C_k g(V_kᵀ x_l)) + b), x_{l+1} = Σ_k softmax(G x_l)_k E_k + x_l (Eq. 4)."""
    layer = CrossLayerV2(6, rank=2, experts=3, activation="tanh")
    with torch.no_grad():
        layer.bias.normal_()
        layer.c.normal_()
    x0, x = torch.randn(B, 6), torch.randn(B, 6)
    out = []
    for r in range(B):
        gates = torch.softmax(layer.gate.weight @ x[r], 0)
        experts = [x0[r] * (layer.u[k].t() @ torch.tanh(layer.c[k] @ torch.tanh(layer.v[k].t() @ x[r])) + layer.bias)
                   for k in range(3)]
        out.append(sum(g * e for g, e in zip(gates, experts)) + x[r])
    torch.testing.assert_close(layer(x0, x), torch.stack(out))
    assert layer.matrix() is None
    with pytest.raises(ValueError, match="need a rank"):
        CrossLayerV2(6, experts=2)


def test_cross_field_weights_are_block_norms():
    net = CrossNetV2(FIELDS * D, layers=2)
    got = net.field_weights(FIELDS)
    expected = torch.zeros(FIELDS, FIELDS)
    for layer in net.layers:
        w = layer.full.weight
        for i in range(FIELDS):
            for j in range(FIELDS):
                expected[i, j] += w[i * D:(i + 1) * D, j * D:(j + 1) * D].norm() / 2
    torch.testing.assert_close(got, expected)


@pytest.mark.parametrize("split_half", [False, True])
def test_cin_feature_maps_by_the_papers_loops(split_half):
    """X^k_{h,:} = Σ_i Σ_j W^{k,h}_{ij} (X^{k−1}_{i,:} ⊙ X^0_{j,:}), p^k_h = Σ_d X^k_{h,d} (Eq. 6-7)."""
    cin = CompressedInteraction(FIELDS, layer_sizes=(4, 3), split_half=split_half)
    e = torch.randn(B, FIELDS, D)
    x, pooled = e, []
    for k, w in enumerate(cin.weights):
        hk, h_prev = w.shape[0], x.shape[1]
        wk = w.view(hk, h_prev, FIELDS)
        new = torch.zeros(B, hk, D)
        for h in range(hk):
            for i in range(h_prev):
                for j in range(FIELDS):
                    new[:, h] += wk[h, i, j] * x[:, i] * e[:, j]
        if split_half and k == 0:
            x, out = new[:, :2], new[:, 2:]
        else:
            x, out = new, new
        pooled.append(out.sum(-1))
    torch.testing.assert_close(cin(e), torch.cat(pooled, 1))
    assert cin.output_dim == (2 + 3 if split_half else 4 + 3)


def test_bi_interaction_is_the_pair_sum_vector_and_sums_to_fm():
    e = torch.randn(B, FIELDS, D)
    brute = sum(e[:, i] * e[:, j] for i, j in pairs())
    torch.testing.assert_close(bi_interaction(e), brute)
    torch.testing.assert_close(bi_interaction(e).sum(-1), fm_second_order(e))


def test_inner_products_are_pairwise_dots_and_outer_product_is_the_sum_pooled_one():
    e = torch.randn(B, FIELDS, D)
    dots = PairwiseDots(FIELDS)(e)
    torch.testing.assert_close(dots, torch.stack([(e[:, i] * e[:, j]).sum(-1) for i, j in pairs()], 1))
    brute = sum(torch.einsum("bp,bq->bpq", e[:, i], e[:, j]) for i in range(FIELDS) for j in range(FIELDS))
    torch.testing.assert_close(outer_product(e), brute.flatten(1))


def test_dlrm_interaction_is_the_upper_triangle_of_z_z_transposed():
    model, data = small_model("dlrm", "numeric")
    model = model.double().eval()
    batch = next(iter(BatchLoader(data, 8, shuffle="none")))
    batch.num = batch.num.double()
    d = model.bottom(batch.num)
    z = torch.cat([d.unsqueeze(1), model.embedding(batch)], 1)
    gram = z @ z.transpose(1, 2)
    n = z.shape[1]
    triu = torch.stack([gram[:, i, j] for i in range(n) for j in range(i + 1, n)], 1)
    torch.testing.assert_close(model(batch), model.top(torch.cat([d, triu], 1)).squeeze(-1))


def test_senet_by_hand():
    """z_i = mean_d e_i, A = ReLU(W_2 ReLU(W_1 z)), v_i = a_i e_i (FiBiNET Eq. 3-5)."""
    senet = SqueezeExcitation(FIELDS, reduction_ratio=2)
    e = torch.randn(B, FIELDS, D)
    w1, w2 = senet.excitation[0].weight, senet.excitation[2].weight
    a = torch.relu(torch.relu(e.mean(-1) @ w1.t()) @ w2.t())
    v, got = senet(e)
    torch.testing.assert_close(got, a)
    torch.testing.assert_close(v, e * a.unsqueeze(-1))


@pytest.mark.parametrize("kind", ["field_all", "field_each", "field_interaction"])
def test_bilinear_interaction_by_hand(kind):
    """p_ij = (v_i · W) ⊙ v_j with W, W_i or W_ij (FiBiNET Eq. 6-8)."""
    block = BilinearInteraction(FIELDS, D, kind)
    v = torch.randn(B, FIELDS, D)
    out = []
    for p, (i, j) in enumerate(pairs()):
        w = block.weight[{"field_all": 0, "field_each": i, "field_interaction": p}[kind]]
        out.append((v[:, i] @ w) * v[:, j])
    torch.testing.assert_close(block(v), torch.stack(out, 1))


def test_bilinear_fusion_by_the_equation_per_head():
    """ŷ = Σ_h (b + w_1ᵀ o_1^h + w_2ᵀ o_2^h + o_1^hᵀ W_3^h o_2^h) (FinalMLP Eq. 4-5)."""
    fusion = BilinearFusion(6, 4, heads=2)
    o1, o2 = torch.randn(B, 6), torch.randn(B, 4)
    expected = fusion.w1.bias + o1 @ fusion.w1.weight[0] + o2 @ fusion.w2.weight[0]
    for h in range(2):
        x, y = o1[:, 3 * h:3 * h + 3], o2[:, 2 * h:2 * h + 2]
        expected = expected + torch.stack([x[r] @ fusion.w3[h] @ y[r] for r in range(B)])
    torch.testing.assert_close(fusion(o1, o2), expected)
    with pytest.raises(ValueError, match="must divide both"):
        BilinearFusion(6, 4, heads=4)


def test_feature_selection_gate_is_twice_a_sigmoid():
    gate = FeatureSelection(FIELDS * D, context_dim=D, embedding_dim=D, hidden_units=(5,))
    x, c = torch.randn(B, FIELDS * D), torch.randn(B, D)
    expected = 2 * torch.sigmoid(gate.gate(c)) * x
    torch.testing.assert_close(gate(x, c), expected)
    assert ((gate(x, c) / x) > 0).all() and ((gate(x, c) / x) < 2).all()
    free = FeatureSelection(FIELDS * D, context_dim=0, embedding_dim=D)
    torch.testing.assert_close(free(x, None), 2 * torch.sigmoid(free.gate(free.bias)) * x)


def test_factorized_interaction_multiplies_the_halves():
    layer = FactorizedInteraction(5, 6, "concat")
    x = torch.randn(B, 5)
    h = x @ layer.linear.weight.t() + layer.linear.bias
    h2, h1 = h[:, :3], h[:, 3:]
    torch.testing.assert_close(layer(x), torch.cat([h2, h1 * h2], 1))
    summed = FactorizedInteraction(5, 6, "sum")
    h = summed.linear(x)
    torch.testing.assert_close(summed(x), h[:, :6] + h[:, 6:] * h[:, :6])
    assert sum(p.numel() for p in layer.parameters()) == 5 * 6 + 6                 # one Linear's worth


def test_field_gate_starts_as_identity_gates():
    e = torch.randn(B, FIELDS, D)
    torch.testing.assert_close(FieldGate(FIELDS)(e), torch.cat([e, e], 1))
    torch.testing.assert_close(FieldGate(FIELDS, "sum")(e), 2 * e)


def test_din_attention_is_unnormalised_and_padding_weighs_zero():
    att = TargetAttention(D, hidden_units=(6,), activation="prelu")
    target, rows = torch.randn(B, D), torch.randn(B, 4, D)
    mask = torch.tensor([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1], [0, 0, 0, 0], [1, 1, 1, 0]], dtype=torch.bool)
    pooled, weights = att(target, rows, mask)
    assert (weights[~mask] == 0).all()
    q = target.unsqueeze(1).expand_as(rows)
    scores = att.unit(torch.cat([rows, q, rows - q, rows * q], -1).flatten(0, 1)).view(B, 4)
    torch.testing.assert_close(weights, scores * mask)
    torch.testing.assert_close(pooled, (weights.unsqueeze(-1) * rows).sum(1))
    sums = weights[mask.any(1)].sum(1)
    assert not torch.allclose(sums, torch.ones_like(sums))                # no softmax
    assert pooled[3].abs().sum() == 0                                      # an empty history adds nothing


def test_finalnet_distillation_terms_enter_the_penalty_only_while_training():
    model, data = small_model("finalnet", "categorical")
    batch = next(iter(BatchLoader(data, 16, shuffle="none")))
    model.train()
    y = model(batch)
    e = model.embedding(batch)
    y1 = model.fc1(model.block1(model.gate(e).flatten(1))).squeeze(-1)
    y2 = model.fc2(model.block2(e.flatten(1))).squeeze(-1)
    teacher = torch.sigmoid(y).detach()
    expected = F.binary_cross_entropy_with_logits(y1, teacher) + F.binary_cross_entropy_with_logits(y2, teacher)
    torch.testing.assert_close(model.penalty(), expected, rtol=1e-4, atol=1e-5)   # batch norm: train-mode stats
    assert model.penalty() == 0                                                    # spent once
    model.eval()
    model(batch)
    assert model.penalty() == 0
