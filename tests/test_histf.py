import numpy as np
import pytest
import torch

from motiongen.models.condition import MotionCondition
from motiongen.models.histf.blocks import BiTemporalMamba, WholeToParts
from motiongen.models.histf.model import PAPER_PARAMETERS
from motiongen.models.histf.ssm import SelectiveSSM, selective_scan, selective_scan_reference
from motiongen.models.registry import build_denoiser
from motiongen.skeleton import HUMANML3D, KIT
from motiongen.text.encoders import TextFeatures

from conftest import overfit_one_motion

TINY = dict(latent_dim=32, num_temporal_blocks=2, num_layers=1, d_state=4, part_dim=8, whole_dim=16,
            dropout=0.0, text_dim=24)


def _inputs(Bt=2, L=37, Dn=6, N=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(Bt, L, Dn, generator=g)
    delta = torch.nn.functional.softplus(torch.randn(Bt, L, Dn, generator=g))
    A = -torch.rand(Dn, N, generator=g) * 2
    B = torch.randn(Bt, L, N, generator=g)
    C = torch.randn(Bt, L, N, generator=g)
    D = torch.randn(Dn, generator=g)
    return x, delta, A, B, C, D


@pytest.mark.parametrize("mode,chunk", [("sequential", 0), ("loop", 0), ("parallel", 0), ("chunked", 1),
                                        ("chunked", 4), ("chunked", 7), ("chunked", 16), ("chunked", 64)])
def test_scans_equal_the_sequential_reference(mode, chunk):
    args = _inputs()
    ref = selective_scan_reference(*args)
    assert torch.allclose(selective_scan(*args, mode=mode, chunk=chunk or 16), ref, atol=1e-5)


def _strong_inputs(seed=3, Bt=2, L=45, Dn=6, N=16):
    """Decays as trained Mamba models reach them (A up to -16, delta up to ~6), and padded frames (delta = 0)
    at both ends, where a subtracted cumulative sum would lose digits."""
    x, delta, A, B, C, D = _inputs(Bt=Bt, L=L, Dn=Dn, N=N, seed=seed)
    delta = torch.nn.functional.softplus(2 * torch.randn(Bt, L, Dn, generator=torch.Generator().manual_seed(seed)))
    delta[:, :5] = 0
    delta[:, -9:] = 0
    A = -torch.rand(Dn, N, generator=torch.Generator().manual_seed(seed + 1)) * 16
    return x, delta, A, B, C, D


@pytest.mark.parametrize("mode", ["sequential", "chunked", "parallel"])
@pytest.mark.parametrize("reverse", [False, True])
def test_fast_scans_match_the_reference_forward_and_backward_with_strong_decay_and_padding(mode, reverse):
    args = _strong_inputs()
    w = torch.randn(args[0].shape, generator=torch.Generator().manual_seed(9))
    ref_in = [a.clone().requires_grad_() for a in args]
    flip = (lambda t: t.flip(1)) if reverse else (lambda t: t)
    x, d, A, B, C, D = ref_in
    ref = flip(selective_scan_reference(flip(x), flip(d), A, flip(B), flip(C), D))
    (ref * w).sum().backward()
    fast_in = [a.clone().requires_grad_() for a in args]
    out = selective_scan(*fast_in, reverse=reverse, mode=mode, chunk=8)
    (out * w).sum().backward()
    assert torch.allclose(out, ref, atol=1e-5)
    for name, a, b in zip("x delta A B C D".split(), fast_in, ref_in):
        scale = b.grad.abs().max().clamp(min=1.0)
        assert (a.grad - b.grad).abs().max() / scale < 1e-5, name


def test_fused_scan_gradients_pass_gradcheck_in_double_precision():
    from motiongen.models.histf.ssm import _FusedSequentialScan
    x, delta, A, B, C, D = (a.double().requires_grad_() for a in _inputs(seed=5, Bt=2, L=7, Dn=3, N=4))
    assert torch.autograd.gradcheck(_FusedSequentialScan.apply, (x, delta, A, B, C, D))


def test_scans_run_in_float32_under_autocast_and_keep_the_input_dtype():
    args = _inputs(seed=6)
    ref = selective_scan_reference(*args)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        y = selective_scan(args[0].bfloat16(), *args[1:], mode="chunked")
        y2 = selective_scan(*args, mode="sequential")
    assert y.dtype == torch.bfloat16 and y2.dtype == torch.float32
    assert torch.allclose(y2, ref, atol=1e-5)


def test_unknown_scan_mode_is_a_clear_error():
    with pytest.raises(ValueError, match="scan mode must be one of"):
        selective_scan(*_inputs(), mode="fast")


def test_backward_scan_is_the_flipped_forward_scan_of_the_flipped_input():
    x, delta, A, B, C, D = _inputs(seed=1)
    back = selective_scan(x, delta, A, B, C, D, reverse=True, mode="sequential")
    flipped = selective_scan(x.flip(1), delta.flip(1), A, B.flip(1), C.flip(1), D, mode="sequential").flip(1)
    assert torch.allclose(back, flipped, atol=1e-6)
    # and it really is a different (anti-causal) computation: the first output sees the last input
    x2 = x.clone()
    x2[:, -1] += 1.0
    back2 = selective_scan(x2, delta, A, B, C, D, reverse=True, mode="sequential")
    assert (back2[:, 0] - back[:, 0]).abs().max() > 0


def test_zero_delta_frames_leave_the_state_untouched():
    torch.manual_seed(0)
    ssm = SelectiveSSM(6, 4)
    x = torch.randn(1, 20, 6)
    mask = torch.ones(1, 20, dtype=torch.bool)
    mask[:, 14:] = False
    y = ssm(x, mask, reverse=True)
    x2 = x.clone()
    x2[:, 14:] = 100 * torch.randn(1, 6, 6)
    y2 = ssm(x2, mask, reverse=True)
    assert torch.allclose(y[:, :14], y2[:, :14], atol=1e-5)


@pytest.mark.parametrize("spec", [HUMANML3D, KIT])
def test_whole2part_then_part2whole_is_exact(spec):
    w2p = WholeToParts({k: torch.as_tensor(v) for k, v in spec.histf_part_feature_indices().items()},
                       spec.feature_dim)
    x = torch.randn(3, 11, spec.feature_dim)
    parts = w2p.split(x)
    assert len(parts) == 6
    assert torch.equal(w2p.merge(parts), x)
    # shared features are averaged over their copies
    parts[0] = parts[0] + 1.0
    merged = w2p.merge(parts)
    assert not torch.equal(merged, x)
    # the shared torso-top joint is copied into three parts
    assert int(w2p.copies.max()) == 3


def test_bi_temporal_block_padding_invariance():
    torch.manual_seed(0)
    blk = BiTemporalMamba(16, d_state=4).eval()
    x = torch.randn(1, 30, 16)
    m = torch.ones(1, 30, dtype=torch.bool)
    m[:, 22:] = False
    y = blk(x, m)
    x2 = x.clone()
    x2[:, 22:] = 50.0
    assert torch.allclose(blk(x2, m)[:, :22], y[:, :22], atol=1e-5)
    assert torch.allclose(blk(x[:, :22], None), y[:, :22], atol=1e-5)


def _cond(B, D=24):
    g = torch.Generator().manual_seed(0)
    return MotionCondition(TextFeatures(torch.randn(B, 4, D, generator=g), torch.ones(B, 4, dtype=torch.bool),
                                        torch.randn(B, D, generator=g)))


@pytest.mark.parametrize("kw", [
    {}, dict(num_temporal_blocks=3), dict(num_temporal_blocks=4), dict(num_layers=3),
    dict(use_part_branch=False), dict(use_whole_branch=False), dict(use_dsfm=False),
])
def test_ablation_configs_build_and_run(kw):
    torch.manual_seed(0)
    m = build_denoiser("histf", **{**TINY, **kw}).eval()
    x = torch.randn(2, 25, 263)
    mask = torch.ones(2, 25, dtype=torch.bool)
    mask[1, 18:] = False
    out = m(x, torch.tensor([3, 800]), _cond(2), mask)
    assert out.shape == (2, 25, 263) and torch.isfinite(out).all()
    alone = m(x[1:, :18], torch.tensor([800]), MotionCondition(_cond(2).text.index(slice(1, 2))),
              torch.ones(1, 18, dtype=torch.bool))
    assert torch.allclose(out[1, :18], alone[0], atol=1e-4)


def test_both_spatial_branches_off_is_rejected():
    with pytest.raises(ValueError, match="at least one"):
        build_denoiser("histf", **{**TINY, "use_part_branch": False, "use_whole_branch": False})


def test_default_parameter_count_is_near_the_papers():
    m = build_denoiser("histf", text_dim=512)      # CLIP width, as in the paper
    assert abs(m.num_parameters() / 1e6 - PAPER_PARAMETERS["N3-L2"]) < 0.5
    assert m.default_sampler == ("dpm", 10)


def test_tiny_model_overfits_one_real_motion(real_samples):
    torch.manual_seed(0)
    model = build_denoiser("histf", **{**TINY, "latent_dim": 64})
    losses = overfit_one_motion(model, real_samples["000000"][0][:48], _cond(8))
    assert np.mean(losses[:10]) > 10 * np.mean(losses[-10:]), (losses[:10], losses[-10:], len(losses))


def test_both_scan_directions_of_the_first_block_see_the_condition_token():
    torch.manual_seed(0)
    x = torch.randn(2, 25, 16)
    m = torch.ones(2, 25, dtype=torch.bool)
    m[1, 18:] = False                                  # the second motion is padded
    x2 = x.clone()
    x2[:, 0] += 3.0 * torch.randn(16)                  # another condition token
    for condition_first, sees in ((True, True), (False, False)):
        torch.manual_seed(0)
        blk = BiTemporalMamba(16, d_state=4, condition_first=condition_first).eval()
        with torch.no_grad():
            u, _ = blk.in_proj(blk.norm(x)).chunk(2, dim=-1)
            u2, _ = blk.in_proj(blk.norm(x2)).chunk(2, dim=-1)
            if condition_first:
                from motiongen.models.histf.blocks import backward_order
                order = backward_order(m, 2, 25, x.device)
                take = order[..., None].expand_as(u)
                yb = blk.backward_mixer(u.gather(1, take), m.gather(1, order)).gather(1, take)
                yb2 = blk.backward_mixer(u2.gather(1, take), m.gather(1, order)).gather(1, take)
            else:
                yb, yb2 = blk.backward_mixer(u, m, reverse=True), blk.backward_mixer(u2, m, reverse=True)
        # the last valid frame is where a backward scan starts: does it know the condition?
        for b, last in ((0, 24), (1, 17)):
            moved = (yb[b, last] - yb2[b, last]).abs().max().item()
            assert (moved > 1e-4) == sees, (condition_first, b, moved)
    # padding stays inert with the new order
    torch.manual_seed(0)
    blk = BiTemporalMamba(16, d_state=4, condition_first=True).eval()
    x3 = x.clone()
    x3[1, 18:] = 50.0
    with torch.no_grad():
        assert torch.allclose(blk(x3, m)[1, :18], blk(x, m)[1, :18], atol=1e-5)
        assert torch.allclose(blk(x[1:, :18], None), blk(x, m)[1:, :18], atol=1e-5)


# ---- GPU readiness on the CPU: fp16 / bf16, the scan's memory (issue 29) -------------------------------------
GiB = 2 ** 30


def _histf_with_padding(dtype=torch.float32):
    torch.manual_seed(0)
    m = build_denoiser("histf", feature_dim=263, **TINY).eval()
    x = torch.randn(2, 12, 263)
    t = torch.tensor([5, 700])
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[1, 7:] = False                                     # padded frames: the DSFM mask is filled
    cond = MotionCondition(TextFeatures(torch.randn(2, 3, 24), torch.ones(2, 3, dtype=torch.bool), torch.randn(2, 24)))
    return m, x, t, cond, mask


def test_dsfm_masks_padding_in_float16():
    """-1e9 does not fit in float16 (masked_fill raised); the dtype's own minimum does, and masked keys get no
    weight."""
    from motiongen.models.histf.blocks import DSFM
    torch.manual_seed(0)
    d = DSFM(3, 16).half()
    temporal = [torch.randn(2, 6, 16).half() for _ in range(3)]
    spatial = torch.randn(2, 6, 16).half()
    mask = torch.tensor([[1] * 6, [1] * 4 + [0] * 2], dtype=torch.bool)
    y = d(temporal, spatial, mask)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    changed = [t.clone() for t in temporal]
    for t in changed:
        t[1, 4:] += 100                                      # padded frames of row 1: keys of no weight
    y2 = d(changed, spatial, mask)
    assert torch.allclose(y[1, :4].float(), y2[1, :4].float(), atol=1e-2)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_histf_runs_under_cpu_autocast_close_to_float32(dtype):
    m, x, t, cond, mask = _histf_with_padding()
    with torch.no_grad():
        ref = m(x, t, cond, mask)
        with torch.autocast("cpu", dtype=dtype):
            y = m(x, t, cond, mask)
    assert y.dtype == dtype and torch.isfinite(y).all()
    assert (y.float() - ref).abs().max() < 0.05 * ref.abs().max()


def test_histf_half_weights_forward_is_finite():
    m, x, t, cond, mask = _histf_with_padding()
    with torch.no_grad():
        ref = m(x, t, cond, mask)
        y = m.half()(x.half(), t, MotionCondition(cond.text.to(dtype=torch.float16)), mask)
    assert y.dtype == torch.float16 and torch.isfinite(y).all()
    assert (y.float() - ref).abs().max() < 0.05 * ref.abs().max()


def test_scan_memory_grows_with_the_chunk_and_matches_the_issue_figure():
    from motiongen.models.histf.ssm import scan_memory_bytes
    # paper size, batch 64: 1 + 196 frames, d_inner 1024, state 16 -- the issue measured ~14 GB for one chunked scan
    seq = scan_memory_bytes("sequential", 64, 197, 1024, 16)
    chunked = scan_memory_bytes("chunked", 64, 197, 1024, 16, chunk=16)
    assert 1.5 * GiB < seq < 1.7 * GiB
    assert chunked > 14e9 and chunked > 16 * seq
    assert scan_memory_bytes("chunked", 64, 197, 1024, 16, chunk=4) < scan_memory_bytes("chunked", 64, 197, 1024, 16, 8)


def test_auto_never_picks_a_scan_that_does_not_fit():
    from motiongen.models.histf.ssm import choose_scan_mode, scan_memory_bytes
    shape = (64, 197, 1024, 16)
    # training at paper size on an H200 with 16 scans keeping their tensors: chunked would need ~45 GB each
    assert choose_scan_mode(*shape, device_type="cuda", free_bytes=139 * GiB, training=True, share=1 / 16) == \
        ("sequential", 16)
    # sampling one motion: the chunked scan fits easily
    assert choose_scan_mode(1, 197, 1024, 16, device_type="cuda", free_bytes=100 * GiB, training=False,
                            share=0.5) == ("chunked", 16)
    # a budget between: a smaller chunk that fits
    need8 = scan_memory_bytes("chunked", *shape, chunk=8)
    mode, chunk = choose_scan_mode(*shape, device_type="cuda", free_bytes=need8 + 1, training=True)
    assert (mode, chunk) == ("chunked", 8)
    for free in [0, 1 * GiB, 10 * GiB, 50 * GiB, 500 * GiB]:
        mode, chunk = choose_scan_mode(*shape, device_type="cuda", free_bytes=free, training=True, share=0.25)
        assert mode == "sequential" or scan_memory_bytes(mode, *shape, chunk=chunk) <= 0.25 * free
    assert choose_scan_mode(*shape, device_type="cuda", free_bytes=None, training=True)[0] == "sequential"
    assert choose_scan_mode(*shape, device_type="cpu", free_bytes=10 ** 15, training=True)[0] == "sequential"
    assert choose_scan_mode(*shape, device_type="cuda", free_bytes=0, training=True, mamba_available=True)[0] == "cuda"


def test_configure_scans_sets_the_chunk_and_each_scans_share():
    from motiongen.models.histf.ssm import configure_scans
    m = build_denoiser("histf", feature_dim=263, **TINY)
    n = configure_scans(m, chunk=8)
    ssms = [s for s in m.modules() if isinstance(s, SelectiveSSM)]
    assert n == len(ssms) > 4 and all(s.scan_chunk == 8 and s.scan_share == 1 / n for s in ssms)
    configure_scans(m, mode="chunked")
    x = torch.randn(2, 9, ssms[0].D.shape[0])
    assert ssms[0].resolved_scan(x) == ("chunked", 8)
    with pytest.raises(ValueError, match="scan chunk"):
        configure_scans(m, chunk=0)
    with pytest.raises(ValueError, match="scan mode"):
        configure_scans(m, mode="fast")


def test_generate_speed_flags_say_what_they_do(capsys):
    from types import SimpleNamespace

    from motiongen.cli import _configure_speed
    from motiongen.models.histf import ssm
    histf = build_denoiser("histf", feature_dim=263, **TINY)
    pipe = SimpleNamespace(denoiser=histf, device=torch.device("cpu"))
    try:
        _configure_speed(pipe, SimpleNamespace(scan_chunk=4, compile=True))
        assert all(m.scan_chunk == 4 for m in histf.modules() if isinstance(m, SelectiveSSM))
        assert ssm._compile_inference                      # on the CPU: HiSTF's scan is compiled
    finally:
        ssm.compile_inference_scan(False)
    base = build_denoiser("baseline", feature_dim=263, text_dim=24, latent_dim=16, num_layers=1, num_heads=2,
                          ff_dim=16)
    with pytest.raises(ValueError, match="--scan-chunk is a HiSTF setting"):
        _configure_speed(SimpleNamespace(denoiser=base, device=torch.device("cpu")),
                         SimpleNamespace(scan_chunk=4, compile=False))
    _configure_speed(SimpleNamespace(denoiser=base, device=torch.device("cpu")),
                     SimpleNamespace(scan_chunk=None, compile=True))
    assert "nothing is compiled" in capsys.readouterr().err


def test_an_op_without_a_float16_kernel_is_one_line_from_the_cli(monkeypatch, capsys):
    import motiongen.cli as cli

    def no_half_kernel(args):
        raise RuntimeError('"slow_conv2d_cpu" not implemented for \'Half\'\nC++ frames ...')
    monkeypatch.setattr(cli, "_generate", no_half_kernel)
    assert cli.main(["generate", "a person walks", "--half", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err
    assert "--half: this model cannot run in float16" in err and "C++ frames" not in err and "Traceback" not in err
    monkeypatch.setattr(cli, "_generate", lambda args: (_ for _ in ()).throw(RuntimeError("other failure")))
    with pytest.raises(RuntimeError, match="other failure"):       # not a dtype problem: not disguised
        cli.main(["generate", "a person walks", "--out", "/nonexistent/x"])
