"""The band-limited x0 estimate (diffusion/bandlimit.py) and the fixed-bone-length joints (rigid_bone_lengths)."""
import numpy as np
import pytest
import torch

from motiongen.diffusion.bandlimit import boundary_weights, lowpass_frames, lowpass_matrix, lowpass_response
from motiongen.diffusion.gaussian import GaussianDiffusion
from motiongen.diffusion.sampling import make_scheduler, sample
from motiongen.motion.features import recover_joints_from_features, rigid_bone_lengths
from motiongen.skeleton import HUMANML3D


def _tone(T, hz, fps=20.0):
    return np.cos(2 * np.pi * hz * (np.arange(T) + 0.5) / fps)


def test_the_filter_keeps_slow_motion_and_removes_fast_motion():
    T, fps = 120, 20.0
    m = lowpass_matrix(T, fps, 5.0)
    assert np.allclose(m, m.T)
    slow, fast = _tone(T, 1.0), _tone(T, 8.0)
    assert np.abs(m @ slow - slow).max() < 1e-6         # 1 Hz is in the pass band: unchanged
    assert np.abs(m @ fast).max() < 0.02                # 8 Hz is above 1.25 x 5 Hz: gone
    assert np.abs(m @ np.ones(T) - 1).max() < 1e-9       # a still pose stays exactly still
    ramp = np.linspace(0, 3, T)                          # steady travel: no ringing at the ends worth a centimetre
    assert np.abs(m @ ramp - ramp).max() < 0.01
    assert lowpass_response(np.array([0.0, 3.75, 5.0, 6.25, 9.0]), 5.0).tolist() == pytest.approx([1, 1, 0.5, 0, 0])
    with pytest.raises(ValueError, match="cutoff_hz"):
        lowpass_matrix(10, 20.0, 0.0)


def test_lowpass_frames_filters_each_valid_prefix_and_skips_padding_and_contacts():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, 40, 6, generator=g, dtype=torch.float64)
    mask = torch.zeros(3, 40, dtype=torch.bool)
    for b, n in enumerate((40, 25, 25)):
        mask[b, :n] = True
    y = lowpass_frames(x, mask, 20.0, 5.0, skip_channels=slice(4, 6))
    assert torch.equal(y[1:, 25:], x[1:, 25:])                       # padding untouched
    assert torch.equal(y[..., 4:], x[..., 4:])                       # skipped channels untouched
    m25 = torch.as_tensor(lowpass_matrix(25, 20.0, 5.0))
    assert torch.allclose(y[1, :25, :4], m25 @ x[1, :25, :4])        # the matrix of the motion's own length
    assert not torch.allclose(y[0, :, :4], x[0, :, :4])
    xr = x.clone().requires_grad_(True)                              # differentiable, for the training loss
    lowpass_frames(xr, mask, 20.0, 5.0).sum().backward()
    assert torch.isfinite(xr.grad).all() and xr.grad.abs().sum() > 0


def test_diffusion_with_a_band_limit_samples_smooth_motion_and_records_it():
    d = GaussianDiffusion(parameterization="skip", x0_lowpass_hz=4.0)
    assert d.config()["x0_lowpass_hz"] == 4.0
    assert GaussianDiffusion.from_config(d.config()).x0_lowpass_hz == 4.0
    assert GaussianDiffusion.from_config({}).x0_lowpass_hz == 0.0          # folders from before the field: off
    with pytest.raises(ValueError, match="x0_lowpass_hz"):
        GaussianDiffusion(x0_lowpass_hz=15.0)

    class Zero(torch.nn.Module):                     # a network that learned nothing: x0_hat follows x_t
        def forward(self, x, t, cond, mask):
            return torch.zeros_like(x)
    T, D = 60, 263
    mask = torch.ones(1, T, dtype=torch.bool)
    outs = {}
    for hz in (0.0, 4.0):
        dd = GaussianDiffusion(parameterization="skip", x0_lowpass_hz=hz)
        outs[hz] = sample(Zero(), None, mask, feature_dim=D, scheduler=make_scheduler("ddim", dd, 10), diffusion=dd,
                          generators=[torch.Generator().manual_seed(0)])[0].numpy()
    freqs = np.fft.rfftfreq(T, 1 / 20.0)

    def share_above(x, hz=5.5):                      # share of the power above hz
        p = np.abs(np.fft.rfft(x, axis=0)) ** 2
        return p[freqs > hz].sum() / p[1:].sum()
    assert share_above(outs[0.0][:, :259]) > 0.2                      # white noise in ...
    assert share_above(outs[4.0][:, :259]) < 0.01                     # ... band-limited out
    assert share_above(outs[4.0][:, 259:]) > 0.2                      # the contact channels are not filtered


def test_rigid_bone_lengths_makes_bones_constant_and_keeps_directions(real_samples):
    joints = recover_joints_from_features(next(iter(real_samples.values()))[0][:80]).astype(np.float64)
    rng = np.random.default_rng(0)
    noisy = joints + rng.normal(scale=0.01, size=joints.shape)
    fixed = rigid_bone_lengths(noisy)
    parents = HUMANML3D.parents
    for c, p in enumerate(parents):
        if p < 0:
            continue
        lengths = np.linalg.norm(fixed[:, c] - fixed[:, p], axis=-1)
        assert lengths.std() < 1e-9
        a, b = noisy[:, c] - noisy[:, p], fixed[:, c] - fixed[:, p]
        cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
        assert cos.min() > 0.999999                                   # the recovered bone direction is kept
    assert np.allclose(fixed[:, 0], noisy[:, 0])                       # the pelvis path is unchanged
    assert np.abs(rigid_bone_lengths(joints) - joints).max() < 1e-3   # a real (rigid) motion barely moves
    with pytest.raises(ValueError, match="joints"):
        rigid_bone_lengths(joints[:, :5])


def test_pipeline_joints_raw_and_cleaned_have_constant_bones():
    from motiongen.pipeline import MotionPipeline, default_model_dir
    pipe = MotionPipeline.from_pretrained(default_model_dir())

    def worst_cv(j):
        cvs = [np.linalg.norm(j[:, c] - j[:, p], axis=-1) for c, p in enumerate(HUMANML3D.parents) if p >= 0]
        return max(x.std() / x.mean() for x in cvs)
    [cleaned] = pipe.generate("a person walks forward", 2.0, seed=0, steps=5)
    [raw] = pipe.generate("a person walks forward", 2.0, seed=0, steps=5, cleanup=False)
    assert worst_cv(cleaned.joints) < 1e-5 and worst_cv(raw.joints) < 1e-5
    pipe.rigid_skeleton = False                      # the ric positions as decoded: the model's bones stretch
    [ric] = pipe.generate("a person walks forward", 2.0, seed=0, steps=5, cleanup=False)
    assert worst_cv(ric.joints) > 1e-3
    assert np.allclose(ric.joints[:, 0], raw.joints[:, 0], atol=1e-5)     # same pelvis path


def test_boundary_weights_cover_each_stage_boundary_and_ease_out():
    bounds = torch.tensor([[[0, 40], [40, 100], [100, 120]], [[0, 120], [0, 0], [0, 0]]])
    valid = torch.tensor([[True, True, True], [True, False, False]])
    w = boundary_weights(bounds, valid, 120, 12.0)
    assert w.shape == (2, 120)
    assert torch.all(w[1] == 0)                                        # one stage: no boundary, no easing
    assert w[0, 40] == 1 and w[0, 100] == 1 and w[0, 34] == 1          # full strength within radius / 2
    assert torch.all(w[0, 60:88] == 0) and w[0, :28].max() == 0         # nothing far from a boundary
    assert 0 < w[0, 50] < 1
    ramp = w[0, 40:53].numpy()                                         # a smooth, monotone fade
    assert np.all(np.diff(ramp) <= 0) and np.abs(np.diff(ramp, 2)).max() < 0.2
    assert torch.equal(boundary_weights(bounds[:1, :2], valid[:1, :2], 120, 12.0)[0, 90:], torch.zeros(30))
    with pytest.raises(ValueError, match="radius_frames"):
        boundary_weights(bounds, valid, 120, 0.0)
    # further boundaries given as frames (the join of a window of long motion), -1 for none
    joins = torch.tensor([[70], [-1]])
    wj = boundary_weights(None, None, 120, 12.0, transitions=joins)
    assert wj[0, 70] == 1 and wj[0, :58].max() == 0 and torch.all(wj[1] == 0)
    with pytest.raises(ValueError, match="stage_bounds"):
        boundary_weights(None, None, 120, 12.0)
    both = boundary_weights(bounds, valid, 120, 12.0, transitions=joins)
    assert torch.equal(both, torch.maximum(w, wj))


def test_transition_easing_smooths_only_around_stage_boundaries():
    from motiongen.models.condition import MotionCondition
    from motiongen.text.encoders import TextFeatures
    with pytest.raises(ValueError, match="transition_lowpass_hz"):
        GaussianDiffusion(transition_lowpass_hz=11.0)
    with pytest.raises(ValueError, match="transition_seconds"):
        GaussianDiffusion(transition_lowpass_hz=3.0, transition_seconds=0.0)
    d = GaussianDiffusion(parameterization="x0", x0_lowpass_hz=4.0, transition_lowpass_hz=2.0)
    cfg = d.config()
    assert cfg["transition_lowpass_hz"] == 2.0 and cfg["transition_seconds"] == 0.6
    back = GaussianDiffusion.from_config(cfg)
    assert (back.transition_lowpass_hz, back.transition_seconds) == (2.0, 0.6)
    assert GaussianDiffusion.from_config({"x0_lowpass_hz": 4.0}).transition_lowpass_hz == 0.0
    assert "transition_lowpass_hz" not in GaussianDiffusion(x0_lowpass_hz=4.0).config()

    T, D = 120, 263
    g = torch.Generator().manual_seed(1)
    est = torch.randn(1, T, D, generator=g)

    class Fixed(torch.nn.Module):                     # returns the same x0 estimate whatever the input
        def forward(self, x, t, cond, mask):
            return est.clone()
    text = TextFeatures(torch.zeros(2, 1, 4), torch.ones(2, 1, dtype=torch.bool), torch.zeros(2, 4))
    cond = MotionCondition(text, num_stages=2, stage_bounds=torch.tensor([[[0, 60], [60, 120]]]),
                           stage_valid=torch.ones(1, 2, dtype=torch.bool))
    single = MotionCondition(TextFeatures(text.tokens[:1], text.mask[:1], text.pooled[:1]))
    mask = torch.ones(1, T, dtype=torch.bool)
    t = torch.tensor([10])
    plain = GaussianDiffusion(parameterization="x0", x0_lowpass_hz=4.0).predict_x0(Fixed(), est, t, cond, mask)
    eased = d.predict_x0(Fixed(), est, t, cond, mask)
    assert torch.allclose(d.predict_x0(Fixed(), est, t, single, mask), plain)      # no boundary: no change
    assert torch.allclose(eased[:, :40], plain[:, :40]) and torch.allclose(eased[:, 80:], plain[:, 80:])
    assert torch.equal(eased[..., 259:], est[..., 259:])                            # contacts pass unfiltered

    def jerk(x):
        return x[0, :, :259].diff(n=3, dim=0).abs().mean(-1)
    assert jerk(eased)[52:65].max() < 0.5 * jerk(plain)[52:65].max()                # calmer at the boundary
