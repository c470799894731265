"""An MDM-style transformer denoiser (Tevet et al. 2023), the comparison baseline and the fast test model.

As in MDM: the motion frames are projected to the latent width, a single prefix token carries the sum of the
timestep embedding and the projected pooled sentence embedding, a transformer encoder runs over prefix + frames
with sinusoidal positions, and a linear head predicts x0. MDM's HumanML3D setting is the default here
(8 layers, width 512, 4 heads, feed-forward 1024, GELU, dropout 0.1).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from .base import Denoiser, DenoiserConfig, timestep_embedding
from .condition import MotionCondition
from .registry import register_denoiser

__all__ = ["BaselineConfig", "BaselineDenoiser"]


@dataclass
class BaselineConfig(DenoiserConfig):
    latent_dim: int = 512
    num_layers: int = 8
    num_heads: int = 4
    ff_dim: int = 1024
    dropout: float = 0.1


def sinusoidal_positions(length: int, dim: int, device=None) -> torch.Tensor:
    pos = torch.arange(length, device=device, dtype=torch.float32)[:, None]
    div = torch.exp(torch.arange(0, dim, 2, device=device, dtype=torch.float32) * (-math.log(10000.0) / dim))
    pe = torch.zeros(length, dim, device=device)
    pe[:, 0::2] = torch.sin(pos * div)
    pe[:, 1::2] = torch.cos(pos * div)[:, : dim // 2]
    return pe


@register_denoiser("baseline")
class BaselineDenoiser(Denoiser):
    """MDM-style transformer baseline: a prefix token (timestep + pooled text) and self-attention over frames."""

    config_class = BaselineConfig
    default_sampler = ("ddim", 50)

    def __init__(self, config: BaselineConfig):
        super().__init__(config)
        c = config
        self.input_proj = nn.Linear(c.feature_dim, c.latent_dim)
        self.time_mlp = nn.Sequential(nn.Linear(c.latent_dim, c.latent_dim), nn.SiLU(),
                                      nn.Linear(c.latent_dim, c.latent_dim))
        self.text_proj = nn.Linear(c.text_dim, c.latent_dim)
        layer = nn.TransformerEncoderLayer(c.latent_dim, c.num_heads, c.ff_dim, c.dropout, activation="gelu",
                                           batch_first=True)
        self.encoder = nn.TransformerEncoder(layer, c.num_layers, enable_nested_tensor=False)
        self.output_proj = nn.Linear(c.latent_dim, c.feature_dim)

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, cond: MotionCondition,
                mask: torch.Tensor) -> torch.Tensor:
        B, T, _ = x.shape
        text = cond.sentence()
        emb = self.time_mlp(timestep_embedding(timesteps, self.config.latent_dim)) + \
            self.text_proj(text.pooled.to(x.dtype))
        h = torch.cat([emb[:, None], self.input_proj(x)], dim=1)
        h = h + sinusoidal_positions(T + 1, self.config.latent_dim, x.device).to(h.dtype)
        pad = torch.cat([torch.zeros(B, 1, dtype=torch.bool, device=x.device), ~mask.bool()], dim=1)
        h = self.encoder(h, src_key_padding_mask=pad)
        return self.output_proj(h[:, 1:])
