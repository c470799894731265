"""HiSTF Mamba (2025): L layers of [N Bi-Temporal Mamba blocks -> Dual-Spatial Mamba -> DSFM].

Conditioning (sec. 3.2): the pooled sentence embedding (randomly masked in training for guidance) is projected
to the model width and added to an MLP embedding of the diffusion step, giving z; z is prepended to the motion
frames as one token. Both scan directions start from it: the backward scan visits the token first and then the
frames from last to first (:class:`~.blocks.BiTemporalMamba`, ``condition_both_directions``).
Beyond the paper, which says no more than that z is "incorporated" with the noisy motion (issue 31,
docs/histf.md "Conditioning"): ``condition_norm`` layer-normalises the time and text parts of z before the sum,
and ``condition_every_block`` lets z modulate the LayerNorm of every Bi-Temporal and Dual-Spatial block
(adaLN-single, :class:`~.blocks.ConditionModulation`). Both are on for new models; model folders without the
keys (motiongen 0.1's packaged model) load with both off, as they were trained.
Defaults follow the paper: width 512, N = 3, L = 2, state 16, DPM-Solver++ with 10 steps.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from ...skeleton import get_skeleton
from ..base import Denoiser, DenoiserConfig, timestep_embedding
from ..condition import MotionCondition
from ..registry import register_denoiser
from .blocks import DSFM, BiTemporalMamba, DualSpatialMamba

__all__ = ["HiSTFConfig", "HiSTFDenoiser", "PAPER_PARAMETERS"]

# Table 3 (N, L) and table 4 (component ablations at N = 3, L = 2), in millions.
PAPER_PARAMETERS = {
    "N2-L2": 11.90, "N3-L2": 15.53, "N4-L2": 19.17, "N2-L3": 17.32, "N3-L3": 22.77, "N4-L3": 28.22,
    "no-part": 14.43, "no-whole": 14.99, "no-dsfm": 14.15,
}


@dataclass
class HiSTFConfig(DenoiserConfig):
    latent_dim: int = 512
    num_temporal_blocks: int = 3        # N
    num_layers: int = 2                 # L
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    part_dim: int = 64
    whole_dim: int = 128
    dsfm_reduction: int = 4
    use_part_branch: bool = True
    use_whole_branch: bool = True
    use_dsfm: bool = True
    scan_mode: str = "auto"             # auto | sequential | parallel | cuda
    condition_both_directions: bool = True   # the backward scan also starts at the condition token
    condition_every_block: bool = True       # adaLN-single: z modulates every block's LayerNorm (ours, not the paper's)
    condition_norm: bool = True              # z = LN(MLP(t)) + LN(proj(text)): parts on one scale (ours)
    dropout: float = 0.1

    # model folders from before these fields load as they were trained (the packaged model of motiongen 0.1:
    # one prepended condition token only, its text part about 1/10 of its time part)
    legacy_values: ClassVar[dict] = {"condition_both_directions": False, "condition_every_block": False,
                                     "condition_norm": False}


class HiSTFLayer(nn.Module):
    def __init__(self, c: HiSTFConfig, part_indices: dict):
        super().__init__()
        self.temporal = nn.ModuleList(BiTemporalMamba(c.latent_dim, c.d_state, c.d_conv, c.expand, c.scan_mode,
                                                      condition_first=c.condition_both_directions,
                                                      modulated=c.condition_every_block)
                                      for _ in range(c.num_temporal_blocks))
        self.spatial = DualSpatialMamba(c.latent_dim, c.feature_dim, part_indices, c.part_dim, c.whole_dim,
                                        c.d_state, c.use_part_branch, c.use_whole_branch, c.scan_mode,
                                        modulated=c.condition_every_block)
        self.dsfm = DSFM(c.num_temporal_blocks, c.latent_dim, c.dsfm_reduction) if c.use_dsfm else None
        self.drop = nn.Dropout(c.dropout)

    def forward(self, h: torch.Tensor, mask: torch.Tensor, modulation: torch.Tensor | None = None) -> torch.Tensor:
        """h (B, 1 + T, D) with the condition token first; mask (B, 1 + T); ``modulation`` (B, 2, D) the shared
        adaLN projection of the condition (``condition_every_block``), else None."""
        temporal = []
        for block in self.temporal:
            h = block(h, mask, modulation)
            temporal.append(h[:, 1:])
        frames, fmask = h[:, 1:], mask[:, 1:]
        spatial = self.spatial(frames, fmask, modulation)
        fused = self.dsfm(temporal, spatial, fmask) if self.dsfm is not None else spatial
        return torch.cat([h[:, :1], frames + self.drop(fused)], dim=1)


@register_denoiser("histf")
class HiSTFDenoiser(Denoiser):
    """HiSTF Mamba: Bi-Temporal Mamba, Dual-Spatial Mamba (part + whole), DSFM."""

    config_class = HiSTFConfig
    default_sampler = ("dpm", 10)

    def __init__(self, config: HiSTFConfig):
        super().__init__(config)
        c = config
        spec = get_skeleton(c.feature_dim)
        parts = spec.histf_part_feature_indices()
        d = c.latent_dim
        self.input_proj = nn.Linear(c.feature_dim, d)
        self.text_proj = nn.Linear(c.text_dim, d)
        self.time_mlp = nn.Sequential(nn.Linear(d, d), nn.SiLU(), nn.Linear(d, d))
        self.time_norm = nn.LayerNorm(d) if c.condition_norm else None
        self.text_norm = nn.LayerNorm(d) if c.condition_norm else None
        # adaLN-single: one projection of z shared by all blocks, each adding its own offset (blocks.py)
        self.condition_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d)) if c.condition_every_block \
            else None
        self.layers = nn.ModuleList(HiSTFLayer(c, parts) for _ in range(c.num_layers))
        self.norm_out = nn.LayerNorm(d)
        self.output_proj = nn.Linear(d, c.feature_dim)

    def condition(self, timesteps: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
        """z = MLP(t) + proj(text) (sec. 3.2), (B, D). With ``condition_norm`` each part is layer-normalised
        before the sum (ours, the paper gives no scales: without it the unit-norm sentence embedding enters the
        packaged model at 0.3-1x the time part and the left/right difference of two prompts at 1/40 of it)."""
        text = self.text_proj(pooled)
        time = self.time_mlp(timestep_embedding(timesteps, self.config.latent_dim).to(pooled.dtype))
        if self.text_norm is not None:
            text, time = self.text_norm(text), self.time_norm(time)
        return time + text

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, cond: MotionCondition,
                mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        text = cond.sentence()
        z = self.condition(timesteps, text.pooled.to(x.dtype))
        h = torch.cat([z[:, None], self.input_proj(x)], dim=1)
        m = torch.cat([torch.ones_like(mask[:, :1]), mask], dim=1)
        mod = None if self.condition_modulation is None else \
            self.condition_modulation(z).view(z.shape[0], 2, -1)
        for layer in self.layers:
            h = layer(h, m, mod)
        return self.output_proj(self.norm_out(h[:, 1:]))
