"""The denoiser interface every model implements, and its dataclass config.

A denoiser maps a noisy normalised motion x_t (B, T, D), the diffusion timesteps (B,), a
:class:`~motiongen.models.condition.MotionCondition` and a valid-frame mask (B, T) to its estimate of the
clean motion x0 (B, T, D) — both papers predict x0. Padded frames must not influence valid ones.
Models with auxiliary training losses (e.g. FineMoGen's MoE balancing loss) set ``self.aux_loss`` in forward.
"""
from __future__ import annotations

import dataclasses
from typing import ClassVar

import torch
from torch import nn

__all__ = ["Denoiser", "DenoiserConfig", "config_from_dict", "timestep_embedding"]


@dataclasses.dataclass
class DenoiserConfig:
    """Fields every denoiser config has."""

    feature_dim: int = 263
    text_dim: int = 384
    max_frames: int = 600


def config_from_dict(cls: type, data: dict, where: str = "config", legacy: bool = False):
    """Build dataclass ``cls`` from ``data``; unknown or mistyped fields give an error naming them.

    ``legacy=True`` (reading a stored model folder): fields that ``data`` lacks take ``cls.legacy_values``
    where given -- the values models had before the field existed -- so old folders load as they were trained."""
    if not isinstance(data, dict):
        raise ValueError(f"{where}: expected an object, got {type(data).__name__}")
    if legacy:
        data = {**{k: v for k, v in getattr(cls, "legacy_values", {}).items() if k not in data}, **data}
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ValueError(f"{where}: unknown field(s) {', '.join(unknown)} for {cls.__name__}; "
                         f"known: {', '.join(fields)}")
    kwargs = {}
    for k, v in data.items():
        default = fields[k].default
        if isinstance(v, list):
            v = tuple(v)
        if isinstance(default, (int, float)) and not isinstance(default, bool):
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{where}.{k}: expected a number, got {v!r}")
            if isinstance(default, int) and not float(v).is_integer():
                raise ValueError(f"{where}.{k}: expected an integer, got {v!r}")
            v = type(default)(v)
        elif isinstance(default, bool) and not isinstance(v, bool):
            raise ValueError(f"{where}.{k}: expected true or false, got {v!r}")
        elif isinstance(default, str) and not isinstance(v, str):
            raise ValueError(f"{where}.{k}: expected a string, got {v!r}")
        kwargs[k] = v
    return cls(**kwargs)


def timestep_embedding(timesteps: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    """Sinusoidal embedding of diffusion timesteps (B,) -> (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-torch.log(torch.tensor(max_period)) * torch.arange(half, device=timesteps.device) / half)
    args = timesteps.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)
    if dim % 2:
        emb = torch.nn.functional.pad(emb, (0, 1))
    return emb


class Denoiser(nn.Module):
    """Base class: holds ``config``; subclasses define ``forward(x, timesteps, cond, mask) -> x0``."""

    model_type: ClassVar[str] = ""
    config_class: ClassVar[type] = DenoiserConfig
    supports_plans: ClassVar[bool] = False  # True if it reads per-stage / per-part text (FineMoGen)
    default_sampler: ClassVar[tuple[str, int]] = ("ddim", 50)

    def __init__(self, config):
        super().__init__()
        self.config = config
        self.aux_loss: torch.Tensor | None = None

    def num_parameters(self, trainable_only: bool = False) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad or not trainable_only)
