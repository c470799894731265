"""HiSTF Mamba follows its text (issue 31): the condition reaches every block, old folders keep the old design,
and a short training run on a real clip and its mirror gives mirrored hands for "left" and "right" prompts."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongen.diffusion.gaussian import GaussianDiffusion
from motiongen.models.base import config_from_dict, timestep_embedding
from motiongen.models.condition import MotionCondition
from motiongen.models.histf.model import HiSTFConfig
from motiongen.models.registry import build_denoiser
from motiongen.text.encoders import TextFeatures

from conftest import HUMANML3D_DIR, needs_shared

PACKAGED = Path(__file__).resolve().parents[1] / "src" / "motiongen" / "checkpoints" / "histf"
TINY = dict(latent_dim=32, num_temporal_blocks=2, num_layers=1, d_state=4, part_dim=8, whole_dim=16,
            dropout=0.0, text_dim=24)


def _features(B: int, seed: int = 0) -> TextFeatures:
    g = torch.Generator().manual_seed(seed)
    pooled = torch.nn.functional.normalize(torch.randn(B, 24, generator=g), dim=-1)
    return TextFeatures(torch.randn(B, 3, 24, generator=g), torch.ones(B, 3, dtype=torch.bool), pooled)


def _direct_condition_gradients(model, t: int = 500) -> dict[str, float]:
    """For every Bi-Temporal and Dual-Spatial block: |d block output / d pooled text| with the block's input held
    fixed, i.e. what reaches the block directly rather than through earlier blocks' frames."""
    B, T = 2, 20
    g = torch.Generator().manual_seed(1)
    x = torch.randn(B, T, 263, generator=g)
    mask = torch.ones(B, T, dtype=torch.bool)
    feats = _features(B)
    inputs = {}
    blocks = {}
    for li, layer in enumerate(model.layers):
        for bi, blk in enumerate(layer.temporal):
            blocks[f"layer {li} temporal {bi}"] = blk
        blocks[f"layer {li} spatial"] = layer.spatial
    hooks = [blk.register_forward_hook(lambda m, i, o, n=n: inputs.__setitem__(n, i)) for n, blk in blocks.items()]
    tt = torch.full((B,), t)
    model(x, tt, MotionCondition(feats), mask)
    for h in hooks:
        h.remove()
    out = {}
    for name, blk in blocks.items():
        pooled = feats.pooled.clone().requires_grad_()
        z = model.condition(tt, pooled)
        mod = None if model.condition_modulation is None else model.condition_modulation(z).view(B, 2, -1)
        h_in, m_in = inputs[name][0].detach(), inputs[name][1]
        y = blk(h_in, m_in, mod)
        (grad,) = torch.autograd.grad((y * torch.randn(y.shape, generator=g)).sum(), pooled, allow_unused=True)
        out[name] = 0.0 if grad is None else float(grad.norm())
    return out


def test_the_condition_reaches_every_block_directly_at_init():
    torch.manual_seed(0)
    fixed = build_denoiser("histf", **TINY).eval()
    grads = _direct_condition_gradients(fixed)
    assert len(grads) == 3 and all(g > 1e-2 for g in grads.values()), grads
    # the packaged design (one prepended token) gives a block nothing of the text but through its input frames
    token_only = build_denoiser("histf", **TINY, condition_every_block=False, condition_norm=False).eval()
    assert all(g == 0.0 for g in _direct_condition_gradients(token_only).values())


def test_the_projected_text_is_on_the_time_embeddings_scale():
    """With condition_norm the text part of z is as large as its time part, whatever the width (without it the
    ratio depends on the width and the initialisation: 0.4 in the packaged model at t = 500)."""
    torch.manual_seed(0)
    t = torch.full((4,), 500)
    pooled = _features(4).pooled
    for width in (32, 256):
        m = build_denoiser("histf", **{**TINY, "latent_dim": width})
        time_part = m.time_mlp(timestep_embedding(t, m.config.latent_dim))
        if m.time_norm is not None:
            time_part = m.time_norm(time_part)
        text_part = m.condition(t, pooled) - time_part
        ratio = float(text_part.detach().pow(2).mean().sqrt() / time_part.detach().pow(2).mean().sqrt())
        assert 0.8 < ratio < 1.25, (width, ratio)


def test_new_models_use_the_fixed_design_and_old_folders_load_the_old_one():
    assert HiSTFConfig().condition_every_block and HiSTFConfig().condition_norm
    stored = json.loads((PACKAGED / "config.json").read_text())["model"]
    assert "condition_every_block" not in stored
    old = config_from_dict(HiSTFConfig, stored, legacy=True)
    assert not old.condition_every_block and not old.condition_norm and old.condition_both_directions
    from motiongen.models.pretrained import load_model_dir
    model, *_ = load_model_dir(PACKAGED)      # strict: every stored weight has its place, nothing is missing
    assert model.condition_modulation is None and model.text_norm is None


def _mirror_pair():
    from motiongen.motion.features import mirror_features
    clip = np.load(HUMANML3D_DIR / "new_joint_vecs" / "M010968.npy").astype(np.float32)[:60]
    mean, std = np.load(HUMANML3D_DIR / "Mean.npy"), np.load(HUMANML3D_DIR / "Std.npy")
    std = np.where(std < 1e-3, 1.0, std).astype(np.float32)
    both = np.stack([clip, mirror_features(clip)])
    return torch.as_tensor((both - mean) / std), mean, std


def _wrist_gap(x: torch.Tensor, mean, std) -> np.ndarray:
    """Left-wrist minus right-wrist height (m), mean over frames, per sample."""
    from motiongen.motion.features import recover_joints_from_features
    j = recover_joints_from_features(x.numpy() * std + mean)
    return (j[..., 20, 1] - j[..., 21, 1]).mean(-1)


def _train_left_right(model, steps: int, texts: TextFeatures, pair: torch.Tensor) -> None:
    diffusion, gen = GaussianDiffusion(parameterization="skip"), torch.Generator().manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    idx = torch.arange(4) % 2
    cond = MotionCondition(TextFeatures(texts.tokens[idx], texts.mask[idx], texts.pooled[idx]))
    x0, mask = pair[idx], torch.ones(4, pair.shape[1], dtype=torch.bool)
    model.train()
    for _ in range(steps):
        drop = torch.rand(4, generator=gen) < 0.1
        loss = diffusion.training_losses(model, x0, mask, cond.dropped(drop), generator=gen)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()


@needs_shared
@pytest.mark.slow
def test_left_and_right_prompts_give_mirrored_hands_after_a_short_training_run():
    """One real clip (HumanML3D M010968: the left hand goes up to 1.7 m) captioned "raises the left hand" and its
    mirror image captioned "raises the right hand", the bundled MiniLM encoder, a tiny HiSTF: after 150 steps the
    two prompts, sampled from the same noise, must raise opposite hands (a model that ignores its text gives both
    the same motion, so the two gaps would be equal)."""
    from motiongen.diffusion.sampling import Guidance, make_scheduler, sample
    from motiongen.text.encoders import load_text_encoder
    torch.manual_seed(0)
    pair, mean, std = _mirror_pair()
    texts = load_text_encoder("minilm").encode(["a person raises the left hand", "a person raises the right hand"])
    model = build_denoiser("histf", **{**TINY, "latent_dim": 64, "d_state": 8, "text_dim": 384})
    _train_left_right(model, 150, texts, pair)
    diffusion = GaussianDiffusion(parameterization="skip")
    cond = MotionCondition(texts)
    x = sample(model, cond, torch.ones(2, pair.shape[1], dtype=torch.bool), feature_dim=263, uncond=cond.null(),
               diffusion=diffusion, scheduler=make_scheduler("ddim", diffusion, 10), guidance=Guidance(2.5),
               generators=[torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)])
    gap_left, gap_right = _wrist_gap(x, mean, std)
    real = _wrist_gap(pair, mean, std)[0]                  # about +0.5 m: the left wrist is higher on average
    assert gap_left > 0.5 * real and gap_right < -0.5 * real, (gap_left, gap_right, real)
