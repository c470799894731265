"""HiSTF Mamba's blocks (sec. 3.3-3.4): Bi-Temporal Mamba, Dual-Spatial Mamba, DSFM.

Where the paper is silent we follow Mamba / Vision Mamba conventions and say so; docs/histf.md lists every choice.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .ssm import SelectiveSSM

__all__ = ["BiTemporalMamba", "MambaMixer", "WholeToParts", "DualSpatialMamba", "DSFM", "ConditionModulation"]


class ConditionModulation(nn.Module):
    """A block's share of adaLN-single (PixArt-alpha, Chen et al. 2023): LN(x) (1 + scale) + shift, where
    (scale, shift) = the model's one shared projection of the condition z + this block's own learned offset.

    Not in the HiSTF paper, which only says z is "incorporated" with the motion once (sec. 3.2): ours, so that the
    text reaches every Bi-Temporal and Dual-Spatial block directly instead of only through the scans' decaying
    state from one prepended token (docs/histf.md, "Conditioning"). The offset table costs 2 x width per block.
    """

    def __init__(self, d_model: int):
        super().__init__()
        self.offset = nn.Parameter(torch.randn(2, d_model) / math.sqrt(d_model))

    def forward(self, h: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
        """h (B, L, D) normalised tokens; shared (B, 2, D) the shared projection of the condition."""
        if shared is None:
            raise ValueError("this block is conditioned in every block (condition_every_block): pass modulation")
        scale, shift = (shared + self.offset).unbind(1)
        return h * (1 + scale[:, None]) + shift[:, None]


class MambaMixer(nn.Module):
    """Conv1d + SiLU + selective SSM over the time axis of (B, L, d_inner), one direction.

    The depthwise convolution is causal in its scan direction; padded frames are zeroed before it and have
    delta = 0 in the SSM, so they influence no valid frame in either direction.
    """

    def __init__(self, d_inner: int, d_state: int = 16, d_conv: int = 4, scan_mode: str = "auto"):
        super().__init__()
        self.conv = nn.Conv1d(d_inner, d_inner, d_conv, groups=d_inner, padding=d_conv - 1)
        self.ssm = SelectiveSSM(d_inner, d_state, scan_mode=scan_mode)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None, reverse: bool = False) -> torch.Tensor:
        L = x.shape[1]
        if mask is not None:
            x = x * mask[..., None].to(x.dtype)
        if reverse:
            x = x.flip(1)
        h = F.silu(self.conv(x.transpose(1, 2))[..., :L].transpose(1, 2))
        m = None if mask is None else (mask.flip(1) if reverse else mask)
        y = self.ssm(h, m)
        return y.flip(1) if reverse else y


class BiTemporalMamba(nn.Module):
    """Bi-Temporal Mamba block: x + W_out[(y_fwd + y_bwd) * SiLU(z)], [x_in, z] = W_in LN(x) (sec. 3.3).

    Forward and backward scans have their own convolution and SSM parameters (as in Vision Mamba); the paper's
    parameter counts (about 1.82M per block at width 512, expand 2, state 16) match this layout.

    ``condition_first``: position 0 holds the condition token (HiSTF sec. 3.2). The paper only says the condition
    is prepended; a plain flip would let the backward scan reach it last, so the first block's backward scan could
    never see the text. Here the backward scan visits the condition token first, then the valid frames from last
    to first, then the padding (one gather per sample, its own inverse), so both directions are conditioned and
    padding stays inert. ``condition_first=False`` is a plain flip (motiongen before 0.2).

    ``modulated``: the normalised input is modulated by the condition (:class:`ConditionModulation`, ours); forward
    then takes ``modulation``, the model's shared (B, 2, D) projection of the condition.
    """

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 scan_mode: str = "auto", condition_first: bool = False, modulated: bool = False):
        super().__init__()
        self.condition_first = condition_first
        self.modulation = ConditionModulation(d_model) if modulated else None
        d_inner = expand * d_model
        self.norm = nn.LayerNorm(d_model)
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.forward_mixer = MambaMixer(d_inner, d_state, d_conv, scan_mode)
        self.backward_mixer = MambaMixer(d_inner, d_state, d_conv, scan_mode)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                modulation: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm(x)
        if self.modulation is not None:
            h = self.modulation(h, modulation)
        u, z = self.in_proj(h).chunk(2, dim=-1)
        if self.condition_first:
            order = backward_order(mask, x.shape[0], x.shape[1], x.device)
            take = order[..., None].expand_as(u)
            m_b = None if mask is None else mask.gather(1, order)
            y_b = self.backward_mixer(u.gather(1, take), m_b).gather(1, take)
        else:
            y_b = self.backward_mixer(u, mask, reverse=True)
        y = self.forward_mixer(u, mask) + y_b
        return x + self.out_proj(y * F.silu(z))


def backward_order(mask: torch.Tensor | None, batch: int, length: int, device) -> torch.Tensor:
    """(B, L) positions of the backward scan: the condition token (0), the valid frames last to first, then the
    padding. Valid frames are 1..n (padding follows them). The permutation is its own inverse."""
    j = torch.arange(length, device=device).expand(batch, length)
    n = (mask[:, 1:].sum(1, keepdim=True) if mask is not None
         else torch.full((batch, 1), length - 1, device=device))
    return torch.where((j >= 1) & (j <= n), n + 1 - j, j)


class UniMamba(nn.Module):
    """A single-direction Mamba block (in_proj, mixer, gate, out_proj) — the Part SSM and the Whole SSM."""

    def __init__(self, d_model: int, d_state: int = 16, d_conv: int = 4, expand: int = 2,
                 scan_mode: str = "auto"):
        super().__init__()
        d_inner = expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * d_inner, bias=False)
        self.mixer = MambaMixer(d_inner, d_state, d_conv, scan_mode)
        self.out_proj = nn.Linear(d_inner, d_model, bias=False)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        u, z = self.in_proj(x).chunk(2, dim=-1)
        return self.out_proj(self.mixer(u, mask) * F.silu(z))


class WholeToParts(nn.Module):
    """Whole2Part / Part2Whole (appendix A.4) over the feature vector.

    Whole2Part gathers each part's feature indices (the torso-top joint shared by Backbone and both arms is
    copied into all three); Part2Whole scatters them back and averages the copies of shared features, so
    Part2Whole(Whole2Part(x)) == x exactly.
    """

    def __init__(self, part_indices: dict[str, "torch.Tensor"], feature_dim: int):
        super().__init__()
        self.names = list(part_indices)
        self.sizes = [len(part_indices[n]) for n in self.names]
        # index bookkeeping on the CPU, whatever the default device (the config check builds models on "meta")
        cpu = torch.device("cpu")
        flat = torch.cat([torch.as_tensor(part_indices[n], device=cpu) for n in self.names]).long()
        counts = torch.bincount(flat, minlength=feature_dim)
        if (counts == 0).any():
            raise ValueError("the parts do not cover every feature")
        self.register_buffer("flat_index", flat, persistent=False)
        self.register_buffer("copies", counts.float(), persistent=False)
        first = torch.full((feature_dim,), len(flat), dtype=torch.long, device=cpu)
        first.scatter_reduce_(0, flat, torch.arange(len(flat), device=cpu), reduce="amin")
        self.register_buffer("first_position", first, persistent=False)   # where each feature first appears
        self.feature_dim = feature_dim

    def split(self, x: torch.Tensor) -> list[torch.Tensor]:
        return list(torch.split(x.index_select(-1, self.flat_index), self.sizes, dim=-1))

    def merge(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """Mean over the copies of each feature, written as first + mean(copy - first) so that identical copies
        give back exactly the original value."""
        cat = torch.cat(parts, dim=-1)
        base = cat.index_select(-1, self.first_position)
        diff = cat - base.index_select(-1, self.flat_index)
        acc = torch.zeros_like(base).index_add_(base.dim() - 1, self.flat_index, diff)
        return base + acc / self.copies.to(cat.dtype)


class DualSpatialMamba(nn.Module):
    """Dual-Spatial Mamba (sec. 3.3): part-based branch + whole-based branch, summed element-wise.

    Part-based: LN -> linear back to the feature dimension (263) -> Whole2Part (6 parts) -> per-part linear to
    ``part_dim`` -> 2D dynamic convolution over each part's (time x feature) plane with one learnable 3x3 kernel
    per part -> parts stacked along the batch -> Part SSM over time -> per-part linear back -> Part2Whole ->
    linear to the model width.
    Whole-based: LN -> 1D convolution over time (width -> ``whole_dim`` channels) -> Whole SSM over time ->
    linear back to the width.
    ``modulated``: the normalised input is modulated by the condition, as in :class:`BiTemporalMamba` (ours).
    """

    def __init__(self, d_model: int, feature_dim: int, part_indices: dict, part_dim: int = 64,
                 whole_dim: int = 128, d_state: int = 16, use_part: bool = True, use_whole: bool = True,
                 scan_mode: str = "auto", modulated: bool = False):
        super().__init__()
        if not (use_part or use_whole):
            raise ValueError("Dual-Spatial Mamba needs at least one of the part-based and whole-based branches")
        self.use_part, self.use_whole = use_part, use_whole
        self.norm = nn.LayerNorm(d_model)
        self.modulation = ConditionModulation(d_model) if modulated else None
        if use_part:
            self.parts = WholeToParts(part_indices, feature_dim)
            P = len(self.parts.sizes)
            self.to_features = nn.Linear(d_model, feature_dim)
            self.part_in = nn.ModuleList(nn.Linear(n, part_dim) for n in self.parts.sizes)
            self.part_conv = nn.Conv2d(P, P, kernel_size=3, padding=1, groups=P)   # one kernel per part
            self.part_ssm = UniMamba(part_dim, d_state, scan_mode=scan_mode)
            self.part_out = nn.ModuleList(nn.Linear(part_dim, n) for n in self.parts.sizes)
            self.from_features = nn.Linear(feature_dim, d_model)
        if use_whole:
            self.whole_conv = nn.Conv1d(d_model, whole_dim, kernel_size=3, padding=1)
            self.whole_ssm = UniMamba(whole_dim, d_state, scan_mode=scan_mode)
            self.whole_out = nn.Linear(whole_dim, d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                modulation: torch.Tensor | None = None) -> torch.Tensor:
        B, T, _ = x.shape
        h = self.norm(x)
        if self.modulation is not None:
            h = self.modulation(h, modulation)
        if mask is not None:
            h = h * mask[..., None].to(h.dtype)
        out = 0
        if self.use_part:
            parts = self.parts.split(self.to_features(h))
            lat = torch.stack([lin(p) for lin, p in zip(self.part_in, parts)], dim=1)   # (B, P, T, part_dim)
            if mask is not None:
                lat = lat * mask[:, None, :, None].to(lat.dtype)
            lat = self.part_conv(lat)
            P = lat.shape[1]
            stacked = lat.reshape(B * P, T, -1)                                        # parts along the batch
            pm = None if mask is None else mask.repeat_interleave(P, dim=0)
            lat = self.part_ssm(stacked, pm).view(B, P, T, -1)
            back = [lin(lat[:, i]) for i, lin in enumerate(self.part_out)]
            out = out + self.from_features(self.parts.merge(back))
        if self.use_whole:
            w = self.whole_conv(h.transpose(1, 2)).transpose(1, 2)
            out = out + self.whole_out(self.whole_ssm(w, mask))
        return out


class DSFM(nn.Module):
    """Dynamic Spatiotemporal Fusion Module (eq. 3).

    The N temporal features (B, T, D) are stacked along a channel axis (B, N, T, D) and projected along it
    (phi_c: N -> 2 channels) into Q and K. K and Q are reduced along the feature axis by a strided convolution
    (R, factor r) and give the attention A = softmax(R(Q) R(K)^T / sqrt(D/r)) over frames — the reduction is
    allowed because A does not depend on the feature size (the Sparx argument). A weights Q (the refined
    temporal feature A Q), which is concatenated with the spatial feature S along the feature axis and projected
    back to D (phi_f). Padded frames are masked out of A's keys.
    """

    def __init__(self, num_temporal: int, d_model: int, reduction: int = 4):
        super().__init__()
        self.channel_proj = nn.Linear(num_temporal, 2)
        self.reduce = nn.Conv1d(1, 1, kernel_size=reduction, stride=reduction)
        self.fuse = nn.Linear(2 * d_model, d_model)
        self.scale = 1.0 / math.sqrt(max(1, d_model // reduction))

    def forward(self, temporal: list[torch.Tensor], spatial: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        stacked = torch.stack(temporal, dim=-1)                      # (B, T, D, N)
        q, k = self.channel_proj(stacked).unbind(-1)                 # (B, T, D) each
        B, T, D = q.shape
        rq = self.reduce(q.reshape(B * T, 1, D)).view(B, T, -1)
        rk = self.reduce(k.reshape(B * T, 1, D)).view(B, T, -1)
        logits = rq @ rk.transpose(1, 2) * self.scale                # (B, T, T)
        if mask is not None:
            # the dtype's most negative value: -1e9 does not fit in float16 (autocast, --half)
            logits = logits.masked_fill(~mask[:, None, :], torch.finfo(logits.dtype).min)
        refined = torch.softmax(logits, dim=-1) @ q
        return self.fuse(torch.cat([refined, spatial], dim=-1))
