"""Sampling: diffusers schedulers stepping an x0-predicting denoiser, classifier-free guidance, inpainting.

Samplers (all on the linear 1e-4..0.02, T = 1000 schedule of :class:`GaussianDiffusion`):

* ``ddpm``: ancestral DDPM, 1000 steps by default;
* ``ddim``: DDIM (eta = 0) on a respaced grid, 50 steps by default (FineMoGen sec. 3.5);
* ``dpm``:  DPM-Solver++ multistep (2nd order), 10 steps by default (HiSTF sec. 4: 10 or 15 steps).

Classifier-free guidance (FineMoGen sec. 3.5, after MDM): x0 = x0_uncond + w (x0_cond - x0_uncond), with either a
constant w or FineMoGen's timestep-dependent w_t = 1 + s * t / T.

Inpainting: a reference motion and a per-element weight in [0, 1] (1 = hold to the reference). At every step the
denoiser's x0 prediction is blended with the reference before the scheduler step, so held elements end exactly
on the reference (every sampler's last step returns the x0 prediction) and the rest is generated around them;
fractional weights give smooth transitions.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from .gaussian import GaussianDiffusion

__all__ = ["DEFAULT_STEPS", "SAMPLERS", "Guidance", "Inpainting", "SamplingError", "make_scheduler", "sample"]

SAMPLERS = ("ddpm", "ddim", "dpm")
DEFAULT_STEPS = {"ddpm": 1000, "ddim": 50, "dpm": 10}


class SamplingError(ValueError):
    pass


def make_scheduler(name: str, diffusion: GaussianDiffusion | None = None, steps: int | None = None):
    """A diffusers scheduler for ``name`` with the diffusion's schedule and x0 prediction; timesteps set."""
    from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

    diffusion = diffusion or GaussianDiffusion()
    if name not in SAMPLERS:
        raise SamplingError(f"unknown sampler '{name}'; expected one of {', '.join(SAMPLERS)}")
    steps = DEFAULT_STEPS[name] if steps is None else int(steps)
    if not 1 <= steps <= diffusion.num_timesteps:
        raise SamplingError(f"steps must be between 1 and {diffusion.num_timesteps}, got {steps}")
    common = dict(num_train_timesteps=diffusion.num_timesteps, beta_start=diffusion.beta_start,
                  beta_end=diffusion.beta_end, beta_schedule="linear", prediction_type="sample")
    if name == "ddpm":
        sch = DDPMScheduler(**common, clip_sample=False, variance_type="fixed_small")
    elif name == "ddim":
        sch = DDIMScheduler(**common, clip_sample=False, set_alpha_to_one=True, timestep_spacing="leading")
    else:
        sch = DPMSolverMultistepScheduler(**common, algorithm_type="dpmsolver++", solver_order=2,
                                          lower_order_final=True, timestep_spacing="linspace")
    sch.set_timesteps(steps)
    return sch


@dataclass
class Guidance:
    """Classifier-free guidance. ``schedule``: 'constant' (w = scale) or 'linear' (w_t = 1 + scale * t / T)."""

    scale: float = 2.5
    schedule: str = "constant"

    def __post_init__(self):
        if self.schedule not in ("constant", "linear"):
            raise SamplingError(f"guidance schedule must be 'constant' or 'linear', got '{self.schedule}'")
        if not (self.scale == self.scale) or self.scale < 0:
            raise SamplingError(f"guidance scale must be a number >= 0, got {self.scale}")

    def weight(self, t: int, num_timesteps: int = 1000) -> float:
        if self.schedule == "linear":
            return 1.0 + self.scale * float(t) / num_timesteps
        return float(self.scale)

    @property
    def needs_uncond(self) -> bool:
        return self.schedule == "linear" or self.scale != 1.0


@dataclass
class Inpainting:
    """Hold parts of the sample to ``reference`` (B, T, D), normalised features. ``weight`` broadcasts to it."""

    reference: torch.Tensor
    weight: torch.Tensor

    def apply(self, x0: torch.Tensor) -> torch.Tensor:
        w = self.weight.to(x0.device, x0.dtype)
        return w * self.reference.to(x0.device, x0.dtype) + (1.0 - w) * x0


def _initial_noise(shape, generators, lengths, device, dtype):
    """x_T. With one generator per sample, each sample's noise is drawn at its own length and then padded,
    so it does not depend on the other motions in the batch."""
    if generators is None:
        return torch.randn(shape, device=device, dtype=dtype)
    if isinstance(generators, torch.Generator):
        generators = [generators]
    if len(generators) != shape[0]:
        raise SamplingError(f"need one generator per sample ({shape[0]}), got {len(generators)}")
    x = torch.zeros(shape, dtype=dtype)
    for i, g in enumerate(generators):
        n = int(lengths[i])
        x[i, :n] = torch.randn((n,) + tuple(shape[2:]), generator=g, device=g.device, dtype=dtype).cpu()
    return x.to(device)


@torch.no_grad()
def sample(denoiser, cond, mask: torch.Tensor, *, feature_dim: int, uncond=None, scheduler=None,
           guidance: Guidance | None = None, inpaint: Inpainting | None = None, generators=None,
           diffusion: GaussianDiffusion | None = None, progress: bool = False, autocast_dtype=None,
           timings: dict | None = None, callback=None) -> torch.Tensor:
    """Draw normalised motions (B, T, D) from ``denoiser``.

    ``cond``/``uncond``: the denoiser's condition objects for the text and for the null text (needed when
    guidance is on). ``mask`` (B, T) marks valid frames; padded frames come back as zeros.
    ``generators``: one ``torch.Generator`` per sample, so with the deterministic samplers (ddim, dpm) a sample
    depends on its own seed only, not on the batch; DDPM's per-step noise is drawn by diffusers over the padded
    batch, so DDPM samples are reproducible for a given batch.
    ``callback(k, n)`` is called before step k of n (k from 0) and once more with k = n; an exception it raises
    (e.g. a cancellation) stops sampling.
    """
    diffusion = diffusion or GaussianDiffusion()
    scheduler = scheduler or make_scheduler("ddim", diffusion)
    guidance = guidance or Guidance(1.0)
    B, T = mask.shape
    device = mask.device
    use_cfg = guidance.needs_uncond
    if use_cfg and uncond is None:
        raise SamplingError("classifier-free guidance needs the null condition (uncond)")
    lengths = mask.sum(1).tolist() if generators is not None else None     # one read-back, before the loop
    x = _initial_noise((B, T, feature_dim), generators, lengths, device, torch.float32)
    step_gen = generators if generators is None or isinstance(generators, torch.Generator) else list(generators)
    if use_cfg:
        both = _concat_conditions(cond, uncond)
        mask2 = torch.cat([mask, mask])
    keep = mask[..., None].to(torch.float32)         # built once: the loop has no host read-back nor host copy
    t0 = time.perf_counter()
    steps = scheduler.timesteps                      # a CPU tensor: int(t) reads host memory, no device sync
    rows = 2 * B if use_cfg else B
    t_device = steps.to(device=device, dtype=torch.long)[:, None].expand(len(steps), rows)   # one copy in all
    for k, t in enumerate(tqdm(steps, desc="denoising", disable=not progress, leave=False)):
        if callback is not None:
            callback(k, len(steps))
        t_int = int(t)
        t_batch = t_device[k]
        with torch.autocast(device.type, dtype=autocast_dtype, enabled=autocast_dtype is not None):
            if use_cfg:
                out = diffusion.predict_x0(denoiser, torch.cat([x, x]), t_batch, both, mask2).float()
                x0_c, x0_u = out[:B], out[B:]
                w = guidance.weight(t_int, diffusion.num_timesteps)
                x0 = x0_u + w * (x0_c - x0_u)
            else:
                x0 = diffusion.predict_x0(denoiser, x, t_batch, cond, mask).float()
        if inpaint is not None:
            x0 = inpaint.apply(x0)
        x0 = x0 * keep
        x = scheduler.step(x0, t, x, generator=step_gen, return_dict=True).prev_sample
        x = x * keep
    if callback is not None:
        callback(len(steps), len(steps))
    if timings is not None:
        if device.type == "cuda":                    # the kernels are asynchronous: time them to their end
            torch.cuda.synchronize(device)
        timings["denoise_s"] = time.perf_counter() - t0
        timings["steps"] = len(steps)
    return x


def _concat_conditions(a, b):
    """Stack two condition objects along the batch (they provide ``cat``)."""
    return type(a).cat([a, b])
