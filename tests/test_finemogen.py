import numpy as np
import pytest
import torch

from motiongen.models.condition import MotionCondition
from motiongen.models.finemogen.moe import SparseMoE, load_balancing_loss
from motiongen.models.registry import build_denoiser
from motiongen.plan import PART_NAMES
from motiongen.text.encoders import TextFeatures

from conftest import overfit_one_motion

TINY = dict(num_layers=2, part_dim=16, num_templates=8, text_latent_dim=32, text_layers=1, text_heads=2,
            text_ff_dim=64, time_embed_dim=64, ffn_dim=32, num_experts=4, top_k=2, expert_hidden_dim=32,
            dropout=0.0, text_dim=24)


def tiny(**kw):
    torch.manual_seed(0)
    return build_denoiser("finemogen", **{**TINY, **kw}).eval()


def texts(B, S, G, Lt=5, D=24, seed=0):
    g = torch.Generator().manual_seed(seed)
    n = B * S * G
    return TextFeatures(torch.randn(n, Lt, D, generator=g), torch.ones(n, Lt, dtype=torch.bool),
                        torch.randn(n, D, generator=g))


def test_default_config_is_the_papers():
    m = build_denoiser("finemogen")
    c = m.config
    assert (c.num_layers, m.H, c.part_dim, c.num_experts, c.top_k, c.polynomial_order) == (4, 7, 64, 16, 2, 1)
    assert m.part_names == list(PART_NAMES)


def test_changing_one_parts_text_leaves_other_groups_templates_unchanged():
    m = tiny()
    G = 1 + len(PART_NAMES)
    tf = texts(1, 1, G)
    k = PART_NAMES.index("left_arm")
    tf2 = TextFeatures(tf.tokens.clone(), tf.mask.clone(), tf.pooled.clone())
    tf2.tokens[1 + k] = torch.randn(5, 24)                       # a new text for the left arm only
    x = torch.randn(1, 30, 263)
    mask = torch.ones(1, 30, dtype=torch.bool)
    out = []
    with torch.no_grad():
        for t in (tf, tf2):
            cond = MotionCondition(t, 1, G)
            tok, tmask, _ = m.encode_text(cond)
            member, *_ = m.stage_layout(cond, mask)
            g, _, _ = m.attn[0].templates(m.encode_motion(x), tok, tmask, member)
            out.append(g)
    changed = [(out[0][:, :, h] - out[1][:, :, h]).abs().max().item() for h in range(m.H)]
    assert changed[k] > 1e-3
    assert all(c == 0.0 for h, c in enumerate(changed) if h != k), changed


def test_one_sentence_feeds_every_group():
    m = tiny()
    cond = MotionCondition(texts(2, 1, 1), 1, 1)
    tok, tmask, _ = m.encode_text(cond)
    assert tok.shape[2] == m.H
    for h in range(1, m.H):
        assert torch.equal(tok[:, :, h], tok[:, :, 0])


def test_second_stage_anchors_shift_by_first_stage_length():
    m = tiny()
    T1 = 40
    base = torch.randn(1, T1, 263)
    x = torch.cat([base, base], dim=1)            # stage 2 repeats stage 1's frames ...
    tf = texts(1, 1, 1)
    tf = TextFeatures.cat([tf, tf])                 # ... and its text
    cond = MotionCondition(tf, 2, 1, torch.tensor([[[0, T1], [T1, 2 * T1]]]))
    mask = torch.ones(1, 2 * T1, dtype=torch.bool)
    with torch.no_grad():
        tok, tmask, _ = m.encode_text(cond)
        member, start, length, _ = m.stage_layout(cond, mask)
        sami = m.attn[0]
        g, _, _ = sami.templates(m.encode_motion(x), tok, tmask, member)
        a = sami.anchors(g, start, length)
    assert torch.allclose(a[:, 1] - a[:, 0], torch.full_like(a[:, 0], float(T1)), atol=1e-4)
    assert (a[:, 0] >= 0).all() and (a[:, 0] <= T1).all()


def test_padding_frames_do_not_change_valid_outputs():
    m = tiny()
    cond = MotionCondition(texts(1, 1, 1))
    x = torch.randn(1, 50, 263)
    t = torch.tensor([300])
    with torch.no_grad():
        short = m(x[:, :35], t, cond, torch.ones(1, 35, dtype=torch.bool))
        padded_x = x.clone()
        padded_x[:, 35:] = 1e3 * torch.randn(1, 15, 263)
        mask = torch.zeros(1, 50, dtype=torch.bool)
        mask[:, :35] = True
        long = m(padded_x, t, MotionCondition(cond.text), mask)
    assert torch.allclose(long[:, :35], short, atol=1e-4)


def test_moe_routes_each_token_to_exactly_k_experts_and_matches_dense_reference():
    torch.manual_seed(0)
    moe = SparseMoE(8, 16, 4, num_experts=6, top_k=2)
    x = torch.randn(3, 7, 8)
    y = moe(x)
    idx = moe.last_expert_index
    assert idx.shape == (21, 2)
    assert all(len(set(row)) == 2 for row in idx.tolist())
    flat = x.reshape(-1, 8)
    probs = torch.softmax(moe.router(flat), -1)
    ref = torch.zeros(21, 4)
    for n in range(21):
        for e in idx[n].tolist():
            h = torch.nn.functional.gelu(flat[n] @ moe.w3[e] + moe.b3[e]) @ moe.w2[e] + moe.b2[e]
            ref[n] += probs[n, e] * h
    assert torch.allclose(y.reshape(-1, 4), ref, atol=1e-5)
    with pytest.raises(ValueError, match="top_k"):
        SparseMoE(8, 16, 4, num_experts=2, top_k=3)


def test_balancing_loss_is_lower_for_balanced_routing():
    E, N = 4, 64
    uniform = torch.full((N, E), 1.0 / E)
    balanced = torch.arange(N).remainder(E)[:, None]
    assert load_balancing_loss(uniform, balanced, E).item() == pytest.approx(1.0)
    skewed_probs = torch.zeros(N, E)
    skewed_probs[:, 0] = 1.0
    skewed = torch.zeros(N, 1, dtype=torch.long)
    assert load_balancing_loss(skewed_probs, skewed, E).item() == pytest.approx(E)


def test_cubic_order_and_no_query_variants_run():
    for kw in (dict(polynomial_order=3), dict(use_query=False), dict(whole_body_projection=False)):
        m = tiny(**kw)
        out = m(torch.randn(2, 12, 263), torch.tensor([1, 999]), MotionCondition(texts(2, 1, 1)),
                torch.ones(2, 12, dtype=torch.bool))
        assert out.shape == (2, 12, 263) and torch.isfinite(out).all()


def test_aux_loss_only_in_training():
    m = tiny()
    m.train()
    cond = MotionCondition(texts(1, 1, 1))
    m(torch.randn(1, 10, 263), torch.tensor([5]), cond, torch.ones(1, 10, dtype=torch.bool))
    assert m.aux_loss is not None and m.aux_loss.item() > 0
    m.eval()
    m(torch.randn(1, 10, 263), torch.tensor([5]), cond, torch.ones(1, 10, dtype=torch.bool))
    assert m.aux_loss is None


def test_tiny_model_overfits_one_real_motion(real_samples):
    torch.manual_seed(0)
    model = build_denoiser("finemogen", **{**TINY, "part_dim": 32, "expert_hidden_dim": 64})
    losses = overfit_one_motion(model, real_samples["000000"][0][:64], MotionCondition(texts(8, 1, 1)))
    assert np.mean(losses[:10]) > 10 * np.mean(losses[-10:]), (losses[:10], losses[-10:], len(losses))
