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
            if isinstance(v, int) and abs(v) > 2 ** 63:           # a huge integer literal: no float of it
                raise ValueError(f"{where}.{k}: {'-' if v < 0 else ''}an integer of {v.bit_length()} bits is out "
                                 f"of range")
            if isinstance(default, int) and not float(v).is_integer():
                raise ValueError(f"{where}.{k}: expected an integer, got {v!r}")
            v = type(default)(v)
        elif isinstance(default, bool) and not isinstance(v, bool):
            raise ValueError(f"{where}.{k}: expected true or false, got {v!r}")
        elif isinstance(default, str) and not isinstance(v, str):
            raise ValueError(f"{where}.{k}: expected a string, got {v!r}")
        kwargs[k] = v
    return cls(**kwargs)


MAX_PARAMETERS = 2_000_000_000


def _bounds_for(name: str, default) -> tuple[float, float] | None:
    """Sane ranges of config fields, by kind (a wrong value must be an error before anything is allocated)."""
    if isinstance(default, bool) or not isinstance(default, (int, float)):
        return None
    if name == "dropout" or name.endswith("_weight") and name.startswith("moe"):
        return (0.0, 1.0)
    if name in ("feature_dim", "text_dim"):
        return (1, 4096)
    if name.startswith("num_") or name.endswith("_layers") or name in ("top_k", "expand", "d_conv",
                                                                        "dsfm_reduction", "polynomial_order"):
        return (0 if name in ("text_layers", "polynomial_order") else 1, 256)
    if name in ("max_frames", "max_text_len"):
        return (1, 100_000)
    return (1, 65_536) if isinstance(default, int) else (0.0, 1e6)


def check_config(cls: type, cfg, where: str) -> None:
    """Bounds of every numeric field, then the model built on the meta device (no memory is allocated): its
    own consistency checks run and its size is compared with :data:`MAX_PARAMETERS`. Raises ValueError naming
    ``where`` and the field."""
    for f in dataclasses.fields(cfg):
        b = _bounds_for(f.name, f.default)
        v = getattr(cfg, f.name)
        if b is not None and not (b[0] <= v <= b[1]):
            raise ValueError(f"{where}.{f.name}: {v!r} is outside the sane range [{b[0]}, {b[1]}]")
    try:
        with torch.device("meta"):
            model = cls(cfg)
    except (ValueError, AssertionError, RuntimeError, TypeError, IndexError, KeyError) as e:
        raise ValueError(f"{where}: these settings do not make a model: {e}") from None
    n = sum(p.numel() for p in model.parameters())
    if n > MAX_PARAMETERS:
        raise ValueError(f"{where}: these settings make a model of {n / 1e9:.1f}B parameters; more than "
                         f"{MAX_PARAMETERS / 1e9:g}B is refused")


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
