"""Gaussian diffusion shared by every denoiser: the noise schedule, forward noising and the training losses.

Both papers use linear betas from 1e-4 to 0.02 over T = 1000 steps and a denoiser that predicts the clean
motion x0 directly (FineMoGen sec. 3.5; HiSTF appendix A.2 eq. 4, "we predict the simple objective directly").

Losses (HiSTF appendix A.2, after MDM):

* eq. 4  L_simple = E || x0 - G(x_t, t, c) ||^2, masked to valid frames;
* eq. 5  L_pos    = || FK(x0) - FK(x0_hat) ||^2, joint positions recovered from the features;
* eq. 6  L_foot   = || (FK(x0_hat)_{i+1} - FK(x0_hat)_i) * f_i ||^2, foot joints only, f_i the ground-truth contact;
* eq. 7  L_vel    = || (FK(x0)_{i+1} - FK(x0)_i) - (FK(x0_hat)_{i+1} - FK(x0_hat)_i) ||^2;
* eq. 8  L = L_simple + lambda_pos L_pos + lambda_vel L_vel + lambda_foot L_foot.

Beyond the paper (``foot_labels = "motion"``, docs/feet.md): the contact channels f_i of HumanML3D-style data
mark a foot whose squared 3D step is under 0.002 m^2 (under 0.9 m/s at 20 fps, at any height), so eq. 6 also
stills feet that are lifting or swinging slowly. With ``foot_labels = "motion"`` f_i is instead "planted" in the
ground-truth joints (:func:`planted_feet`: within 5 cm of the clip's lowest height for that joint and under
0.5 m/s horizontally), and ``lambda_contact`` adds L_contact = || c_hat - f ||^2, the predicted contact channels
(de-normalised) against those same labels, so that the channels the model emits agree with its foot velocities.

The paper does not give the lambdas; they default to 0 here (MDM's HumanML3D setting) and are set per run.
FK is :func:`motiongen.motion.features.recover_joints_from_features`, applied to de-normalised features.

Parameterisation of the x0 estimate (:meth:`GaussianDiffusion.predict_x0`):

* ``x0`` (both papers): x0_hat = F(x_t, t, c), the network's output;
* ``skip`` (motiongen's default for new runs, beyond the papers): x0_hat = sqrt(abar_t) x_t + sqrt(1 - abar_t)
  F(x_t, t, c) -- EDM's c_skip / c_out preconditioning for unit-variance (normalised) data, which is the
  v-prediction form. At low noise the estimate then follows x_t by construction, instead of a network that must
  learn to copy its input; with plain x0 prediction a small model ignores x_t at low noise, which makes sampled
  motion shake frame to frame and different seeds collapse onto one motion (docs/motion_quality.md). The loss is
  the same x0 MSE (and geometric terms) on x0_hat, and the samplers see an x0 predictor either way.

Optionally (``x0_lowpass_hz`` > 0, beyond the papers) the x0 estimate is then band-limited along time by a fixed
low-pass (:mod:`.bandlimit`): at sampling only when set in a model folder after training (the packaged models),
in training too when set in a training config. With ``transition_lowpass_hz`` > 0 (sampling only) the estimate is
further eased, towards that lower cutoff, around the condition's stage boundaries and ``transitions``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..motion.features import recover_joints_from_features
from ..skeleton import get_skeleton
from .bandlimit import boundary_weights, lowpass_frames

__all__ = ["GaussianDiffusion", "LossWeights", "PARAMETERIZATIONS", "FOOT_LABELS", "masked_mse", "planted_feet"]

PARAMETERIZATIONS = ("x0", "skip")
FOOT_LABELS = ("channels", "motion")


@dataclass
class LossWeights:
    """Weights of eq. 8. ``simple`` is the x0 MSE; the others are HiSTF's geometric terms."""

    simple: float = 1.0
    pos: float = 0.0
    foot: float = 0.0
    vel: float = 0.0
    contact: float = 0.0            # predicted contact channels vs. the planted-feet labels (module doc)
    foot_labels: str = "channels"   # what f_i of eq. 6 is: "channels" (the paper) or "motion" (planted_feet)

    def __post_init__(self):
        if self.foot_labels not in FOOT_LABELS:
            raise ValueError(f"foot_labels must be one of {', '.join(FOOT_LABELS)}, got {self.foot_labels!r}")


def masked_mse(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the valid frames. a, b: (B, T, ...); mask: (B, T) bool/float."""
    m = mask.to(a.dtype).reshape(mask.shape + (1,) * (a.dim() - 2))
    se = (a - b) ** 2 * m
    per_frame_elems = a[0, 0].numel()
    return se.sum() / (m.sum() * per_frame_elems).clamp(min=1.0)


def planted_feet(joints: torch.Tensor, mask: torch.Tensor, feet: list[int], fps: float = 20.0,
                 height: float = 0.05, speed: float = 0.5) -> torch.Tensor:
    """(B, T, len(feet)) float labels from joints (B, T, J, 3): the joint is within ``height`` of its lowest valid
    height in the clip and moves under ``speed`` m/s horizontally (forward difference; the last frame repeats)."""
    f = joints[:, :, feet].detach()
    valid = mask.to(torch.bool)[..., None]
    h = f[..., 1]
    rest = torch.where(valid, h, torch.full_like(h, float("inf"))).amin(1, keepdim=True)
    v = (f[:, 1:, :, [0, 2]] - f[:, :-1, :, [0, 2]]).norm(dim=-1) * fps
    v = torch.cat([v, v[:, -1:]], dim=1) if v.shape[1] else torch.zeros_like(h)
    return ((h - rest < height) & (v < speed) & valid).to(joints.dtype)


class GaussianDiffusion:
    """Linear-beta DDPM schedule (T steps) with x0 prediction. Sampling lives in :mod:`.sampling`."""

    def __init__(self, num_timesteps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02,
                 parameterization: str = "x0", x0_lowpass_hz: float = 0.0, fps: float = 20.0,
                 transition_lowpass_hz: float = 0.0, transition_seconds: float = 0.6):
        if num_timesteps < 1:
            raise ValueError(f"num_timesteps must be >= 1, got {num_timesteps}")
        if parameterization not in PARAMETERIZATIONS:
            raise ValueError(f"parameterization must be one of {', '.join(PARAMETERIZATIONS)}, got {parameterization!r}")
        if not (0.0 <= x0_lowpass_hz <= fps / 2) or fps <= 0:
            raise ValueError(f"x0_lowpass_hz must be between 0 (off) and fps/2 = {fps / 2:g}, got {x0_lowpass_hz!r}")
        if not (0.0 <= transition_lowpass_hz <= fps / 2):
            raise ValueError(f"transition_lowpass_hz must be between 0 (off) and fps/2 = {fps / 2:g}, "
                             f"got {transition_lowpass_hz!r}")
        if not (0.0 < transition_seconds <= 5.0):
            raise ValueError(f"transition_seconds must be above 0 and at most 5, got {transition_seconds!r}")
        self.parameterization = parameterization
        self.x0_lowpass_hz = float(x0_lowpass_hz)
        self.transition_lowpass_hz = float(transition_lowpass_hz)
        self.transition_seconds = float(transition_seconds)
        self.fps = float(fps)
        self.num_timesteps = num_timesteps
        self.beta_start = beta_start
        self.beta_end = beta_end
        self.betas = torch.linspace(beta_start, beta_end, num_timesteps, dtype=torch.float64)
        self.alphas_cumprod = torch.cumprod(1.0 - self.betas, dim=0)
        self._abar_on: dict = {}            # device -> alphas_cumprod there (one copy per device, not per step)

    def config(self) -> dict:
        out = {"num_timesteps": self.num_timesteps, "beta_start": self.beta_start, "beta_end": self.beta_end,
               "beta_schedule": "linear", "prediction_type": "sample", "parameterization": self.parameterization}
        if self.x0_lowpass_hz or self.transition_lowpass_hz:
            out.update(x0_lowpass_hz=self.x0_lowpass_hz, fps=self.fps)
        if self.transition_lowpass_hz:
            out.update(transition_lowpass_hz=self.transition_lowpass_hz, transition_seconds=self.transition_seconds)
        return out

    @classmethod
    def from_config(cls, d: dict) -> GaussianDiffusion:
        """From a model folder's ``diffusion`` entry (folders that predate ``parameterization`` predict x0)."""
        return cls(int(d.get("num_timesteps", 1000)), float(d.get("beta_start", 1e-4)), float(d.get("beta_end", 0.02)),
                   str(d.get("parameterization", "x0")), float(d.get("x0_lowpass_hz", 0.0)), float(d.get("fps", 20.0)),
                   float(d.get("transition_lowpass_hz", 0.0)), float(d.get("transition_seconds", 0.6)))

    def _abar(self, device) -> torch.Tensor:
        key = str(device)
        if key not in self._abar_on:
            self._abar_on[key] = self.alphas_cumprod.to(device)
        return self._abar_on[key]

    def predict_x0(self, denoiser, x_t: torch.Tensor, t: torch.Tensor, cond, mask: torch.Tensor) -> torch.Tensor:
        """The x0 estimate of the chosen parameterisation (module docstring)."""
        out = denoiser(x_t, t, cond, mask)
        if self.parameterization == "skip":
            abar = self._abar(x_t.device)[t].reshape(-1, *([1] * (x_t.dim() - 1)))
            out = abar.sqrt().to(out.dtype) * x_t.to(out.dtype) + (1.0 - abar).sqrt().to(out.dtype) * out
        if not (self.x0_lowpass_hz or self.transition_lowpass_hz):
            return out
        contact = get_skeleton(out.shape[-1]).layout.slices.get("foot_contact")     # labels: never filtered
        if self.x0_lowpass_hz:
            out = lowpass_frames(out, mask, self.fps, self.x0_lowpass_hz, contact)
        transitions = getattr(cond, "transitions", None)
        staged = getattr(cond, "stage_bounds", None) is not None and cond.stage_bounds.shape[1] > 1
        if self.transition_lowpass_hz and (staged or transitions is not None):
            bounds, valid = cond.bounds(out.shape[1], out.device) if staged else (None, None)
            w = boundary_weights(bounds, valid, out.shape[1], self.transition_seconds * self.fps, transitions)
            if bool((w > 0).any()):
                eased = lowpass_frames(out, mask, self.fps, self.transition_lowpass_hz, contact)
                out = out + w.to(out.device, out.dtype)[..., None] * (eased - out)
        return out

    def sample_timesteps(self, batch: int, generator: torch.Generator | None = None,
                         device=None) -> torch.Tensor:
        return torch.randint(0, self.num_timesteps, (batch,), generator=generator, device=device)

    def q_sample(self, x0: torch.Tensor, t: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """x_t = sqrt(abar_t) x0 + sqrt(1 - abar_t) eps."""
        abar = self._abar(x0.device)[t].to(x0.dtype).reshape(-1, *([1] * (x0.dim() - 1)))
        return abar.sqrt() * x0 + (1.0 - abar).sqrt() * noise

    def training_losses(self, denoiser, x0: torch.Tensor, mask: torch.Tensor, cond, *,
                        weights: LossWeights | None = None, timesteps: torch.Tensor | None = None,
                        noise: torch.Tensor | None = None, mean: torch.Tensor | None = None,
                        std: torch.Tensor | None = None, generator: torch.Generator | None = None) -> dict:
        """One diffusion training loss. x0: normalised features (B, T, D); mask: (B, T) valid frames.

        ``cond`` is passed to the denoiser unchanged (text dropout for guidance is the caller's job).
        ``mean``/``std`` (D,) are needed only for the geometric terms. Returns a dict of scalar tensors
        with ``loss`` the weighted total (plus the denoiser's own auxiliary loss, e.g. MoE balancing).
        """
        weights = weights or LossWeights()
        B = x0.shape[0]
        if timesteps is None:
            timesteps = self.sample_timesteps(B, generator, device=x0.device)
        if noise is None:
            noise = torch.randn(x0.shape, generator=generator, device=x0.device, dtype=x0.dtype)
        x_t = self.q_sample(x0, timesteps, noise)
        pred = self.predict_x0(denoiser, x_t, timesteps, cond, mask)
        out = {"simple": masked_mse(pred, x0, mask)}
        total = weights.simple * out["simple"]
        if weights.pos or weights.foot or weights.vel or weights.contact:
            if mean is None or std is None:
                raise ValueError("geometric losses need the normalisation mean and std")
            spec = get_skeleton(x0.shape[-1])
            j_true = recover_joints_from_features(x0.float() * std + mean, spec.num_joints)
            j_pred = recover_joints_from_features(pred.float() * std + mean, spec.num_joints)
            if weights.pos:
                out["pos"] = masked_mse(j_pred, j_true, mask)
                total = total + weights.pos * out["pos"]
            pair_mask = mask[:, 1:] & mask[:, :-1]
            v_true = j_true[:, 1:] - j_true[:, :-1]
            v_pred = j_pred[:, 1:] - j_pred[:, :-1]
            if weights.vel:
                out["vel"] = masked_mse(v_pred, v_true, pair_mask)
                total = total + weights.vel * out["vel"]
            feet = list(spec.left_foot_index) + list(spec.right_foot_index)  # contact channel order
            contact_slice = spec.layout.slices["foot_contact"]
            if weights.foot_labels == "motion" and (weights.foot or weights.contact):
                contact = planted_feet(j_true, mask, feet, self.fps) > 0.5                 # (B, T, 4)
            else:
                contact = (x0.float() * std + mean)[..., contact_slice] > 0.5             # (B, T, 4)
            if weights.foot:
                fv = v_pred[:, :, feet] * contact[:, :-1, :, None].to(v_pred.dtype)
                out["foot"] = masked_mse(fv, torch.zeros_like(fv), pair_mask)
                total = total + weights.foot * out["foot"]
            if weights.contact:
                c_hat = (pred.float() * std + mean)[..., contact_slice]
                out["contact"] = masked_mse(c_hat, contact.to(c_hat.dtype), mask)
                total = total + weights.contact * out["contact"]
        # a DDP wrapper has no aux_loss of its own: read the wrapped model's (else no load balancing under DDP)
        aux = getattr(getattr(denoiser, "module", denoiser), "aux_loss", None)
        if aux is not None:
            out["aux"] = aux
            total = total + aux
        out["loss"] = total
        return out
