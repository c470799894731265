import numpy as np
import pytest
import torch

from motiongen.diffusion.gaussian import GaussianDiffusion, LossWeights, masked_mse
from motiongen.diffusion.sampling import (
    Guidance,
    Inpainting,
    SamplingError,
    make_scheduler,
    sample,
)
from motiongen.models.condition import MotionCondition
from motiongen.text.encoders import TextFeatures


def _cond(B, D=8):
    g = torch.Generator().manual_seed(1)
    return MotionCondition(TextFeatures(torch.randn(B, 3, D, generator=g), torch.ones(B, 3, dtype=torch.bool),
                                        torch.randn(B, D, generator=g)))


class Oracle(torch.nn.Module):
    """Predicts a fixed x0 whatever the input: every sampler must end exactly on it."""

    def __init__(self, x0):
        super().__init__()
        self.x0 = x0
        self.calls = 0

    def forward(self, x, t, cond, mask):
        self.calls += 1
        return self.x0[: x.shape[0]].repeat(x.shape[0] // self.x0.shape[0], 1, 1) * mask[..., None]


def test_schedule_is_linear_1e4_to_0p02():
    d = GaussianDiffusion()
    assert d.betas[0].item() == pytest.approx(1e-4) and d.betas[-1].item() == pytest.approx(0.02)
    assert len(d.betas) == 1000
    x0 = torch.randn(2, 5, 3)
    eps = torch.randn(2, 5, 3)
    t = torch.tensor([0, 999])
    xt = d.q_sample(x0, t, eps)
    ab = d.alphas_cumprod[t].float()
    assert torch.allclose(xt[1], ab[1].sqrt() * x0[1] + (1 - ab[1]).sqrt() * eps[1], atol=1e-6)
    assert ab[1] < 1e-4 < ab[0]


@pytest.mark.parametrize("name,steps", [("ddpm", 1000), ("ddim", 50), ("dpm", 10), ("dpm", 15)])
def test_every_sampler_lands_on_an_oracle_x0(name, steps):
    x0 = torch.randn(2, 12, 8)
    mask = torch.ones(2, 12, dtype=torch.bool)
    oracle = Oracle(x0)
    sch = make_scheduler(name, steps=steps)
    out = sample(oracle, _cond(2), mask, feature_dim=8, scheduler=sch,
                 generators=[torch.Generator().manual_seed(i) for i in range(2)])
    assert oracle.calls == steps
    assert torch.allclose(out, x0, atol=1e-4)


def test_guidance_mixes_conditional_and_null_predictions():
    cond_out, uncond_out = torch.full((1, 4, 2), 3.0), torch.full((1, 4, 2), 1.0)

    class Two(torch.nn.Module):
        def forward(self, x, t, cond, mask):
            null = cond.text.pooled.abs().sum(-1) == 0
            return torch.where(null[:, None, None], uncond_out.expand(len(x), -1, -1),
                               cond_out.expand(len(x), -1, -1))

    c = _cond(1, 2)
    mask = torch.ones(1, 4, dtype=torch.bool)
    sch = make_scheduler("ddim", steps=1)
    out = sample(Two(), c, mask, feature_dim=2, uncond=c.null(), scheduler=sch, guidance=Guidance(2.0))
    assert torch.allclose(out, torch.full_like(out, 1 + 2.0 * (3 - 1)))  # x_u + w (x_c - x_u)
    t = int(sch.timesteps[0])
    out = sample(Two(), c, mask, feature_dim=2, uncond=c.null(), scheduler=make_scheduler("ddim", steps=1),
                 guidance=Guidance(2.0, "linear"))
    w = 1 + 2.0 * t / 1000
    assert torch.allclose(out, torch.full_like(out, 1 + w * 2), atol=1e-5)
    with pytest.raises(SamplingError, match="null condition"):
        sample(Two(), c, mask, feature_dim=2, guidance=Guidance(2.0))


def test_inpainting_holds_known_frames_and_features():
    x0 = torch.zeros(1, 10, 6)
    ref = torch.randn(1, 10, 6)
    w = torch.zeros(1, 10, 6)
    w[:, :4] = 1.0          # first 4 frames
    w[:, :, 5] = 1.0        # feature 5 everywhere
    out = sample(Oracle(x0), _cond(1), torch.ones(1, 10, dtype=torch.bool), feature_dim=6,
                 scheduler=make_scheduler("dpm", steps=10), inpaint=Inpainting(ref, w),
                 generators=[torch.Generator().manual_seed(0)])
    assert torch.allclose(out[:, :4], ref[:, :4], atol=1e-5)
    assert torch.allclose(out[..., 5], ref[..., 5], atol=1e-5)
    assert torch.allclose(out[:, 4:, :5], torch.zeros(1, 6, 5), atol=1e-5)


def test_padded_frames_are_zero_and_bad_settings_rejected():
    x0 = torch.randn(2, 8, 4)
    mask = torch.ones(2, 8, dtype=torch.bool)
    mask[1, 5:] = False
    out = sample(Oracle(x0), _cond(2), mask, feature_dim=4, scheduler=make_scheduler("ddim", steps=5))
    assert torch.all(out[1, 5:] == 0)
    with pytest.raises(SamplingError, match="unknown sampler"):
        make_scheduler("euler")
    with pytest.raises(SamplingError, match="steps must be between"):
        make_scheduler("ddim", steps=0)
    with pytest.raises(SamplingError, match="guidance scale"):
        Guidance(-1.0)


def test_masked_mse_ignores_padding():
    a, b = torch.zeros(1, 4, 2), torch.zeros(1, 4, 2)
    b[0, 3] = 100.0
    m = torch.tensor([[True, True, True, False]])
    assert masked_mse(a, b, m).item() == 0.0
    b[0, 0, 0] = 3.0
    assert masked_mse(a, b, m).item() == pytest.approx(9.0 / 6)


def test_geometric_losses(real_samples):
    feats = torch.as_tensor(real_samples["000000"][0][:40], dtype=torch.float32)[None]
    mean, std = feats[0].mean(0), feats[0].std(0) + 1e-3
    x0 = (feats - mean) / std
    mask = torch.ones(1, 40, dtype=torch.bool)

    class Fixed(torch.nn.Module):
        def __init__(self, out):
            super().__init__()
            self.out = out

        def forward(self, x, t, cond, m):
            return self.out

    d = GaussianDiffusion()
    w = LossWeights(1.0, 1.0, 1.0, 1.0)
    exact = d.training_losses(Fixed(x0), x0, mask, None, weights=w, mean=mean, std=std)
    for k in ("simple", "pos", "vel", "foot"):
        assert k in exact
    assert exact["simple"].item() == 0 and exact["pos"].item() < 1e-10 and exact["vel"].item() < 1e-10
    # foot loss = velocity of predicted feet while the real feet are in contact; the real motion's own feet barely
    # slide, a prediction that slides the whole body does.
    slide = x0.clone()
    lay = slice(1, 3)  # root linear velocity channels (normalised)
    slide[..., lay] += 5.0
    moved = d.training_losses(Fixed(slide), x0, mask, None, weights=w, mean=mean, std=std)
    assert moved["foot"] > 10 * (exact["foot"] + 1e-8) and moved["pos"] > 0 and moved["vel"] > 0
    with pytest.raises(ValueError, match="mean and std"):
        d.training_losses(Fixed(x0), x0, mask, None, weights=w)


def test_training_loss_backpropagates_and_adds_aux():
    class Lin(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.l = torch.nn.Linear(4, 4)
            self.aux_loss = None

        def forward(self, x, t, c, m):
            self.aux_loss = torch.tensor(0.5)
            return self.l(x)

    net = Lin()
    d = GaussianDiffusion()
    out = d.training_losses(net, torch.randn(3, 6, 4), torch.ones(3, 6, dtype=torch.bool), None,
                            generator=torch.Generator().manual_seed(0))
    assert np.isclose(out["loss"].item(), out["simple"].item() + 0.5)
    out["loss"].backward()
    assert net.l.weight.grad is not None and net.l.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("model_type", ["finemogen", "histf", "baseline"])
def test_the_null_condition_does_not_depend_on_the_prompt(model_type):
    """Guidance's unconditional branch: one fixed empty text, whatever the prompt's length or words."""
    from motiongen.models.condition import MotionCondition
    from motiongen.models.registry import build_denoiser
    from motiongen.text.encoders import TextFeatures

    from conftest import randomised
    small = {"finemogen": dict(num_layers=1, part_dim=8, num_templates=4, text_latent_dim=16, text_layers=1,
                               text_heads=2, text_ff_dim=16, time_embed_dim=16, ffn_dim=8, num_experts=2,
                               expert_hidden_dim=8),
             "histf": dict(latent_dim=32, num_temporal_blocks=1, num_layers=1, d_state=4, part_dim=8, whole_dim=16),
             "baseline": dict(latent_dim=16, num_layers=1, num_heads=2, ff_dim=16)}[model_type]
    torch.manual_seed(0)
    m = randomised(build_denoiser(model_type, text_dim=12, dropout=0.0, **small))
    g = torch.Generator().manual_seed(0)
    short = TextFeatures(torch.randn(1, 3, 12, generator=g), torch.ones(1, 3, dtype=torch.bool), torch.randn(1, 12))
    long = TextFeatures(torch.randn(1, 20, 12, generator=g), torch.ones(1, 20, dtype=torch.bool), torch.randn(1, 12))
    x = torch.randn(1, 16, 263, generator=g)
    mask = torch.ones(1, 16, dtype=torch.bool)
    t = torch.tensor([300])
    with torch.no_grad():
        a = m(x, t, MotionCondition(short).null(), mask)
        b = m(x, t, MotionCondition(long).null(), mask)
        c = m(x, t, MotionCondition(long), mask)
    assert torch.allclose(a, b, atol=1e-5)
    assert (a - c).abs().max() > 1e-3           # and the prompt itself does matter


def test_skip_parameterisation_follows_x_t_at_low_noise_and_lands_on_an_oracle():
    from motiongen.diffusion.gaussian import GaussianDiffusion
    d = GaussianDiffusion(parameterization="skip")

    class Zero(torch.nn.Module):
        def forward(self, x, t, cond, mask):
            return torch.zeros_like(x)
    x_t = torch.randn(2, 5, 3)
    t = torch.tensor([0, 999])
    x0 = d.predict_x0(Zero(), x_t, t, None, None)
    abar = d.alphas_cumprod[t].float()
    assert torch.allclose(x0, abar.sqrt()[:, None, None] * x_t)     # a zero network: the estimate is x_t scaled
    assert torch.allclose(x0[0], x_t[0], atol=1e-3)                 # at t = 0 that is x_t itself
    # an oracle F = (x0 - sqrt(abar) x_t) / sqrt(1 - abar) gives back the true x0 exactly
    true = torch.randn(2, 5, 3)

    class Oracle(torch.nn.Module):
        def forward(self, x, tt, cond, mask):
            a = d.alphas_cumprod[tt].float()[:, None, None]
            return (true - a.sqrt() * x) / (1 - a).sqrt()
    assert torch.allclose(d.predict_x0(Oracle(), x_t, t, None, None), true, atol=1e-3)   # float32, 1/sqrt(1e-4)
    assert d.config()["parameterization"] == "skip"
    assert GaussianDiffusion.from_config({}).parameterization == "x0"    # folders from before the field
    with pytest.raises(ValueError, match="parameterization"):
        GaussianDiffusion(parameterization="eps")
