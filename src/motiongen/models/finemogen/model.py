"""FineMoGen (Zhang et al., NeurIPS 2023): a diffusion transformer whose blocks are SAMI + per-part FFN.

Motion encoder (sec. 3.3 "spatial independence"): the feature vector is split into the 7 body parts of
:meth:`SkeletonSpec.finemogen_part_feature_indices` (head, spine, left/right arm, left/right leg, pelvis
trajectory); each part has its own linear projection to ``part_dim``, so part h's features reach only template
group h in the first layer (a latent of 7 x 64, sec. 4.3). As in the authors' code (PoseEncoder/PoseDecoder), an
eighth *whole-body* group of its own reads all features (``whole_body_group``); the decoder writes each part's
features from its own group and averages them with the whole-body group's output. Groups exchange information
only through the spatial refinement (eq. 5) after the templates. (Before motiongen 0.2 a whole-body projection
was *added to every part's latent*, ``whole_body_projection``, which breaks that independence; old model
folders still load as they were trained, see :attr:`FineMoGenConfig.legacy_values`.)

Text (sec. 3.2): the frozen sentence encoder's token features, projected to ``text_latent_dim`` and refined by
two trainable transformer layers (the paper puts them after frozen CLIP). Every text of a plan (stage x group) is
refined independently; part p's templates read group 1 + p when the plan has per-part texts, else the stage
sentence; the whole-body group reads the stage sentence. Text enters only through the templates of its own stage
and parts: the timestep embedding that conditions every block (stylization, as in ReMoDiffuse) carries no text,
as in the official config, so a stage's sentence cannot move another stage's frames except through the soft
overlap of the time kernel (``text_in_time_embedding=True`` restores the old, leaky layout).

Default config = the paper's: 4 layers, 7 x 64 latent, 16 experts, top-2. See :mod:`.sami` for the attention
and the choices the paper leaves open.
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
from .sami import SAMI, PartFFN

__all__ = ["FineMoGenConfig", "FineMoGenDenoiser"]


@dataclass
class FineMoGenConfig(DenoiserConfig):
    max_frames: int = 1200               # no absolute positions: length is limited by memory only
    num_layers: int = 4
    part_dim: int = 64                   # latent = 7 parts x 64
    num_templates: int = 64              # N_g per part group
    text_latent_dim: int = 256
    text_layers: int = 2
    text_heads: int = 4
    text_ff_dim: int = 1024
    max_text_len: int = 128
    time_embed_dim: int = 512
    ffn_dim: int = 256                   # per-part feed-forward width
    num_experts: int = 16
    top_k: int = 2
    expert_hidden_dim: int = 256
    polynomial_order: int = 1            # the paper's first order; 3 = the authors' code
    use_query: bool = True
    whole_body_group: bool = True        # an 8th template group that reads all features (authors' code)
    whole_body_projection: bool = False  # legacy: all features added to every part's latent (not faithful)
    text_in_time_embedding: bool = False  # legacy: pooled stage sentences added to the timestep embedding
    moe_loss_weight: float = 0.01
    dropout: float = 0.1

    # Values for fields that model folders written before these fields existed do not record.
    legacy_values: ClassVar[dict] = {"whole_body_group": False, "whole_body_projection": True,
                                     "text_in_time_embedding": True}

    def __post_init__(self):
        if self.whole_body_group and self.whole_body_projection:
            raise ValueError("whole_body_group and whole_body_projection are two alternatives; set one at most")


@register_denoiser("finemogen")
class FineMoGenDenoiser(Denoiser):
    """FineMoGen: SAMI diffusion transformer over 7 body parts, fine-grained stage x part text."""

    config_class = FineMoGenConfig
    supports_plans = True
    default_sampler = ("ddim", 50)

    def __init__(self, config: FineMoGenConfig):
        super().__init__(config)
        c = config
        spec = get_skeleton(c.feature_dim)
        parts = spec.finemogen_part_feature_indices()
        self.part_names = list(parts)
        self.P = P = len(parts)                                   # body parts
        self.H = H = P + int(c.whole_body_group)                  # template groups
        for i, name in enumerate(self.part_names):
            self.register_buffer(f"part_index_{i}", torch.as_tensor(parts[name]), persistent=False)
        order = torch.cat([torch.as_tensor(parts[n]) for n in self.part_names])
        self.register_buffer("inverse_order", torch.argsort(order), persistent=False)
        L = c.part_dim
        sizes = [len(parts[n]) for n in self.part_names] + ([c.feature_dim] if c.whole_body_group else [])
        self.part_in = nn.ModuleList(nn.Linear(n, L) for n in sizes)
        self.part_out = nn.ModuleList(nn.Linear(L, n) for n in sizes)
        if c.whole_body_projection:
            self.whole_in = nn.Linear(c.feature_dim, H * L)
            self.whole_out = nn.Linear(H * L, c.feature_dim)
        self.text_in = nn.Linear(c.text_dim, c.text_latent_dim)
        self.text_pos = nn.Parameter(torch.randn(c.max_text_len, c.text_latent_dim) * 0.02)
        layer = nn.TransformerEncoderLayer(c.text_latent_dim, c.text_heads, c.text_ff_dim, c.dropout,
                                           activation="gelu", batch_first=True)
        self.text_encoder = nn.TransformerEncoder(layer, c.text_layers, enable_nested_tensor=False)
        if c.text_in_time_embedding:
            self.text_pool = nn.Linear(c.text_latent_dim, c.time_embed_dim)
        self.time_mlp = nn.Sequential(nn.Linear(L * P, c.time_embed_dim), nn.SiLU(),
                                      nn.Linear(c.time_embed_dim, c.time_embed_dim))
        self.attn = nn.ModuleList(
            SAMI(H, L, c.num_templates, c.text_latent_dim, c.time_embed_dim, c.num_experts, c.top_k,
                 c.expert_hidden_dim, c.polynomial_order, c.use_query, c.dropout) for _ in range(c.num_layers))
        self.ffn = nn.ModuleList(PartFFN(H, L, c.ffn_dim, c.time_embed_dim, c.dropout)
                                 for _ in range(c.num_layers))

    # -- text -----------------------------------------------------------------------------------------------------
    def encode_text(self, cond: MotionCondition) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Refined tokens routed to groups (B, S, H, Lt, Dt), their mask (B, S, H, Lt), and the pooled sentence
        (B, E) for the legacy ``text_in_time_embedding`` layout (else None)."""
        key = ("finemogen_text", id(self))
        if not self.training and key in cond.cache:
            return cond.cache[key]
        tok, mask, _ = cond.grouped()                          # (B, S, G, Lt, D), (B, S, G, Lt)
        B, S, G, Lt, _ = tok.shape
        if Lt > self.config.max_text_len:
            tok, mask, Lt = tok[..., :self.config.max_text_len, :], mask[..., :self.config.max_text_len], \
                self.config.max_text_len
        flat = self.text_in(tok.reshape(B * S * G, Lt, -1).to(self.text_pos.dtype)) + self.text_pos[:Lt]
        fmask = mask.reshape(B * S * G, Lt)
        flat = self.text_encoder(flat, src_key_padding_mask=~fmask)
        refined = flat.view(B, S, G, Lt, -1)
        if G == 1:
            routed = refined.expand(B, S, self.H, Lt, refined.shape[-1])
            rmask = mask.expand(B, S, self.H, Lt)
        else:   # part p reads group 1 + p; the whole-body group reads the stage sentence (group 0)
            pick = list(range(1, 1 + self.P)) + ([0] if self.H > self.P else [])
            routed, rmask = refined[:, :, pick], mask[:, :, pick]
        pooled = None
        if self.config.text_in_time_embedding:
            m0 = mask[:, :, 0].to(refined.dtype)                    # stage sentences
            sent = (refined[:, :, 0] * m0[..., None]).sum(2) / m0.sum(2, keepdim=True).clamp(min=1)   # (B, S, Dt)
            _, valid = cond.bounds(1, device=tok.device)
            vf = valid.to(sent.dtype)
            pooled = self.text_pool((sent * vf[..., None]).sum(1) / vf.sum(1, keepdim=True).clamp(min=1))
        out = (routed, rmask, pooled)
        if not self.training:
            cond.cache[key] = out
        return out

    # -- motion ---------------------------------------------------------------------------------------------------
    def encode_motion(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, D) features -> (B, T, H, L): part h from its own features only; the whole-body group from all."""
        parts = [lin(x.index_select(-1, getattr(self, f"part_index_{i}"))) for i, lin in
                 enumerate(self.part_in[:self.P])]
        if self.H > self.P:
            parts.append(self.part_in[self.P](x))
        h = torch.stack(parts, dim=2)                           # (B, T, H, L)
        if self.config.whole_body_projection:
            h = h + self.whole_in(x).view(*x.shape[:2], self.P, self.config.part_dim)
        return h

    def decode_motion(self, h: torch.Tensor) -> torch.Tensor:
        out = torch.cat([lin(h[:, :, i]) for i, lin in enumerate(self.part_out[:self.P])], dim=-1)
        out = out.index_select(-1, self.inverse_order)
        if self.H > self.P:                                     # average with the whole-body group (authors' code)
            out = (out + self.part_out[self.P](h[:, :, self.P])) / 2
        if self.config.whole_body_projection:
            out = out + self.whole_out(h.flatten(2))
        return out

    def stage_layout(self, cond: MotionCondition, mask: torch.Tensor):
        """Per stage: frame membership (B, S, T), start (B, S), length (B, S) and validity (B, S)."""
        B, T = mask.shape
        bounds, valid = cond.bounds(T, device=mask.device)
        frames = torch.arange(T, device=mask.device)
        start, end = bounds[..., 0], bounds[..., 1]
        member = (frames >= start[..., None]) & (frames < end[..., None]) & mask[:, None, :] & valid[..., None]
        length = member.sum(-1).to(torch.float32)
        return member, start.to(torch.float32), length, valid

    def forward(self, x: torch.Tensor, timesteps: torch.Tensor, cond: MotionCondition,
                mask: torch.Tensor) -> torch.Tensor:
        mask = mask.bool()
        text, text_mask, pooled = self.encode_text(cond)
        emb = self.time_mlp(timestep_embedding(timesteps, self.P * self.config.part_dim).to(x.dtype))
        if pooled is not None:
            emb = emb + pooled
        member, start, length, valid = self.stage_layout(cond, mask)
        h = self.encode_motion(x)
        aux = []
        for attn, ffn in zip(self.attn, self.ffn):
            h = attn(h, emb, text, text_mask, member, start.to(h.dtype), length.to(h.dtype), valid)
            h = ffn(h, emb)
            aux.append(attn.motion_moe.aux_loss)
        self.aux_loss = self.config.moe_loss_weight * torch.stack(aux).mean() if self.training else None
        return self.decode_motion(h)
