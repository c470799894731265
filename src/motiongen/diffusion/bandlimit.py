"""Band-limited x0 estimates: a fixed temporal low-pass applied to the denoiser's x0 estimate (beyond both papers).

Why (docs/motion_quality.md): real human motion has almost no power above 4 Hz (0.5% of the joint-position power in
our test split), but a denoiser whose only temporal operators are global (FineMoGen's efficient attention, HiSTF's
scans) does not learn, in a CPU-sized training run, to remove the frame-to-frame part of the noise at low noise
levels; that noise survives into the sample as shaking. Projecting the x0 estimate onto the low frequencies removes
exactly that part, whatever the network learned, while leaving motion content below the cutoff alone.

The filter is a DCT-II over each motion's valid frames (the even extension has no wrap-around at the ends) with a
raised-cosine response: 1 below 0.75 f_c, 0 above 1.25 f_c, 0.5 at f_c. Foot-contact channels are binary labels,
not signals, and pass unfiltered. It is linear, so classifier-free guidance and inpainting (linear combinations of
x0 estimates) keep the estimate band-limited, and DDIM and DPM-Solver++, whose last step returns a combination of
x0 estimates, return band-limited motion.

Two ways to use it (``x0_lowpass_hz`` of a model folder's ``diffusion`` entry, and of the training config):

* at sampling only, on a model trained without it: what the packaged models do (4 Hz). A model trained with the
  velocity loss already keeps its x0 estimates smooth; the filter removes the frame-to-frame residue;
* in training too (the loss taken on the filtered estimate): tried, and worse. The loss then no longer sees the
  network's output above the cutoff, the network stops keeping it small, and the part in the filter's transition
  band leaks through (docs/motion_quality.md has the figures).

Transition easing (``transition_lowpass_hz``, sampling only): where a plan's stages meet, FineMoGen's switch from
one sentence's templates to the next is learned and can be abrupt (the start and end of a run, say). Around each
stage boundary the estimate is blended, with :func:`boundary_weights`, towards a lower cutoff: an animator's
ease-in / ease-out of the fastest components through the change, the slow ones (where the body goes) untouched.
"""
from __future__ import annotations

import functools
import math

import numpy as np
import torch

__all__ = ["lowpass_response", "lowpass_matrix", "lowpass_frames", "boundary_weights"]


def lowpass_response(freqs: np.ndarray, cutoff_hz: float) -> np.ndarray:
    """Raised-cosine gain at ``freqs`` (Hz): 1 below 0.75 f_c, 0 above 1.25 f_c."""
    lo, hi = 0.75 * cutoff_hz, 1.25 * cutoff_hz
    x = np.clip((np.asarray(freqs, np.float64) - lo) / (hi - lo), 0.0, 1.0)
    return 0.5 * (1.0 + np.cos(math.pi * x))


@functools.lru_cache(maxsize=128)
def _matrix(length: int, fps: float, cutoff_hz: float) -> np.ndarray:
    n = np.arange(length)
    k = np.arange(length)[:, None]
    basis = np.sqrt(2.0 / length) * np.cos(math.pi * (n[None] + 0.5) * k / length)     # (K, T), orthonormal
    basis[0] /= math.sqrt(2.0)
    gain = lowpass_response(k[:, 0] * fps / (2.0 * length), cutoff_hz)
    m = basis.T @ (gain[:, None] * basis)                                                # (T, T), symmetric
    m.flags.writeable = False                                                            # shared by the cache
    return m


@functools.lru_cache(maxsize=128)
def _matrix_tensor(length: int, fps: float, cutoff_hz: float, dtype: torch.dtype, device: torch.device):
    """The matrix as a tensor, made once per (length, dtype, device): the sampler filters at every step."""
    return torch.tensor(_matrix(length, fps, cutoff_hz), dtype=dtype, device=device)


def lowpass_matrix(length: int, fps: float, cutoff_hz: float) -> np.ndarray:
    """The (length, length) matrix of the filter over one motion of ``length`` frames."""
    if length < 1 or fps <= 0 or cutoff_hz <= 0:
        raise ValueError(f"lowpass_matrix: need length >= 1, fps > 0, cutoff_hz > 0 (got {length}, {fps}, {cutoff_hz})")
    return _matrix(int(length), float(fps), float(cutoff_hz)).copy()


def lowpass_frames(x: torch.Tensor, mask: torch.Tensor | None, fps: float, cutoff_hz: float,
                   skip_channels: slice | None = None) -> torch.Tensor:
    """Low-pass ``x`` (B, T, D) along time over each motion's valid frames (a prefix, given by ``mask`` (B, T));
    padded frames and the ``skip_channels`` pass unchanged. Differentiable (a matrix product)."""
    if fps <= 0 or cutoff_hz <= 0:
        raise ValueError(f"lowpass_frames: need fps > 0 and cutoff_hz > 0 (got {fps}, {cutoff_hz})")
    B, T = x.shape[:2]
    lengths = [T] * B if mask is None else [int(v) for v in mask.reshape(B, T).sum(1).tolist()]
    keep = torch.ones(x.shape[-1], dtype=torch.bool, device=x.device)
    if skip_channels is not None:
        keep[skip_channels] = False
    out = x.clone()
    for length in sorted(set(lengths)):
        if length < 2:
            continue
        rows = [b for b, n in enumerate(lengths) if n == length]
        m = _matrix_tensor(int(length), float(fps), float(cutoff_hz), x.dtype, x.device)
        idx = torch.as_tensor(rows, device=x.device)
        seg = x[idx, :length][..., keep]                                # (b, L, C)
        filt = torch.einsum("st,btc->bsc", m, seg)
        block = out[idx, :length]
        block[..., keep] = filt
        out[idx, :length] = block
    return out


def boundary_weights(stage_bounds: torch.Tensor | None, stage_valid: torch.Tensor | None, num_frames: int,
                     radius_frames: float, transitions: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T) weights of the transition easing: 1 within ``radius_frames / 2`` of a boundary, easing to 0 at
    ``radius_frames`` with a quintic smoothstep (continuous up to the second derivative, so the blend itself adds
    no jerk spike).

    The boundaries: where each valid stage after the first meets the previous one (``stage_bounds`` (B, S, 2)
    [start, end) frames and ``stage_valid`` (B, S), as in :class:`~motiongen.models.condition.MotionCondition`),
    and the frames in ``transitions`` (B, K), -1 for none. All zeros for a single-stage motion without them.
    Computed on the CPU (B x T numbers); the caller moves it."""
    if radius_frames <= 0:
        raise ValueError(f"boundary_weights: radius_frames must be > 0, got {radius_frames}")
    if stage_bounds is None and transitions is None:
        raise ValueError("boundary_weights: give stage_bounds and stage_valid, or transitions")
    edges, oks = [], []                                   # (B,) boundary frame and whether it exists, per boundary
    if stage_bounds is not None and stage_valid is not None:
        for s in range(1, stage_valid.shape[1]):
            oks.append(stage_valid[:, s] & stage_valid[:, s - 1])
            edges.append(0.5 * (stage_bounds[:, s, 0] + stage_bounds[:, s - 1, 1]))  # equal in a plan
    if transitions is not None:
        oks += list((transitions >= 0).T)
        edges += list(transitions.T)
    B = (stage_bounds if stage_bounds is not None else transitions).shape[0]
    frames = torch.arange(num_frames, dtype=torch.float32)
    out = torch.zeros(B, num_frames)
    inner = radius_frames / 2.0
    for edge, ok in zip(edges, oks):
        d = (frames[None] - edge.float().cpu()[:, None]).abs()
        u = ((radius_frames - d) / (radius_frames - inner)).clamp(0.0, 1.0)
        w = u ** 3 * (10.0 - 15.0 * u + 6.0 * u ** 2)
        out = torch.maximum(out, w * ok.cpu()[:, None])
    return out
