"""SAMI — Spatio-temporal Mixture Attention (FineMoGen sec. 3.3), and the per-part layers around it.

Shapes: B batch, T frames, H = N_S body parts (= template groups, one per part), L per-part width,
N_g templates per group, L_g template width (= L here), S stages of a plan, Lt text tokens.

Eq. 1  global templates G = Softmax(K) V, the softmax over the sequence (text tokens + motion frames);
Eq. 2  queries Softmax(Q) over the templates;
Eq. 3-4 temporal independence: each template gets a time anchor G^t, a state G^s and derivatives (G^v, ...)
       by linear projections; frame x_k reads template j as G^s + G^v (x_k - G^t) [+ higher orders], weighted by
       a softmax over templates of -(x_k - G^t)^2 / sigma^2 (sigma learnable, one per part);
Eq. 5  spatial refinement Y^S_{k,i} = sum_j B_{k,j} w_{i,j} with learnable N_S x N_S weights;
Eq. 6  B, Q and K of the motion come from a sparsely-activated MoE (:mod:`.moe`); text K, V are plain linear.

Choices the paper leaves open (see docs/finemogen.md):

* Query and time kernel together: the paper introduces Q (eq. 2, "B, Q, K ... empowered by MoE") and the time
  weights G* (eq. 4) but does not write how they combine; the authors' code drops Q. Here a frame weights
  template j of stage s by softmax_{s,j}(Q_{k,j} - (x_k - G^t_{s,j})^2 / sigma^2): exactly eq. 2 when the kernel
  is flat, exactly eq. 4 with ``use_query=False``.
* Polynomial order: first order as the paper writes (default); ``polynomial_order=3`` gives the authors' cubic.
  Time differences are measured in seconds (20 frames) inside the polynomial, in frames inside the kernel.
* Anchors: G^t = stage start + sigmoid(MLP(G)) * stage length (the authors' code scales a sigmoid by the motion
  length); a stage's templates are built only from its own text and its own frames, and every stage's anchors
  compete for every frame, which is what composes stages zero-shot.
* w in eq. 5 is softmax-normalised per row (as in the authors' code).
* No absolute positional embedding reaches SAMI: time enters only through the anchors, so the model is
  shift-equivariant and stages can be placed anywhere, also beyond 196 frames.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .moe import SparseMoE

__all__ = ["PartLinear", "PartLayerNorm", "PartStylization", "PartFFN", "SAMI"]

NEG = -1e9


class PartLinear(nn.Module):
    """One linear map per body part: (..., H, in) -> (..., H, out)."""

    def __init__(self, num_parts: int, in_dim: int, out_dim: int, zero_init: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_parts, in_dim, out_dim))
        self.bias = nn.Parameter(torch.zeros(num_parts, out_dim))
        if zero_init:
            nn.init.zeros_(self.weight)
        else:
            bound = 1.0 / math.sqrt(in_dim)
            nn.init.uniform_(self.weight, -bound, bound)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.weight, self.bias
        if x.dtype != w.dtype:        # CPU autocast does not cover einsum: follow the input's dtype
            w, b = w.to(x.dtype), b.to(x.dtype)
        return torch.einsum("...hi,hio->...ho", x, w) + b


class PartLayerNorm(nn.Module):
    """LayerNorm over each part's features, with per-part affine parameters (parts never share statistics)."""

    def __init__(self, num_parts: int, dim: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_parts, dim))
        self.bias = nn.Parameter(torch.zeros(num_parts, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.layer_norm(x, x.shape[-1:]) * self.weight.to(x.dtype) + self.bias.to(x.dtype)


class PartStylization(nn.Module):
    """Timestep conditioning of a block output (ReMoDiffuse's stylization block, per part):
    y -> Linear(Dropout(SiLU(LN(y) * (1 + scale(emb)) + shift(emb)))), the last linear zero-initialised."""

    def __init__(self, num_parts: int, in_dim: int, out_dim: int, emb_dim: int, dropout: float):
        super().__init__()
        self.emb = nn.Sequential(nn.SiLU(), nn.Linear(emb_dim, 2 * num_parts * in_dim))
        self.norm = PartLayerNorm(num_parts, in_dim)
        self.drop = nn.Dropout(dropout)
        self.out = PartLinear(num_parts, in_dim, out_dim, zero_init=True)
        self.num_parts, self.in_dim = num_parts, in_dim

    def forward(self, y: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.emb(emb).view(emb.shape[0], 1, 2, self.num_parts, self.in_dim).unbind(2)
        return self.out(self.drop(F.silu(self.norm(y) * (1 + scale) + shift)))


class PartFFN(nn.Module):
    """The per-part feed-forward network of each block (sec. 3.3: "process each body part independently")."""

    def __init__(self, num_parts: int, dim: int, ffn_dim: int, emb_dim: int, dropout: float):
        super().__init__()
        self.norm = PartLayerNorm(num_parts, dim)
        self.lin1 = PartLinear(num_parts, dim, ffn_dim)
        self.lin2 = PartLinear(num_parts, ffn_dim, dim)
        self.drop = nn.Dropout(dropout)
        self.style = PartStylization(num_parts, dim, dim, emb_dim, dropout)

    def forward(self, h: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        y = self.lin2(self.drop(F.gelu(self.lin1(self.norm(h)))))
        return h + self.style(y, emb)


class SAMI(nn.Module):
    def __init__(self, num_parts: int, part_dim: int, num_templates: int, text_dim: int, emb_dim: int,
                 num_experts: int = 16, top_k: int = 2, expert_hidden_dim: int = 256, polynomial_order: int = 1,
                 use_query: bool = True, dropout: float = 0.1, time_scale: float = 20.0):
        super().__init__()
        if polynomial_order < 0:
            raise ValueError(f"polynomial_order must be >= 0, got {polynomial_order}")
        H, L, Ng = num_parts, part_dim, num_templates
        self.H, self.L, self.Ng, self.Lg = H, L, Ng, L
        self.use_query, self.order, self.time_scale = use_query, polynomial_order, time_scale
        self.norm = PartLayerNorm(H, L)
        self.part_embed = nn.Parameter(torch.randn(H, L) * 0.02)   # lets the shared experts tell parts apart
        self.motion_moe = SparseMoE(L, expert_hidden_dim, self.Lg + 2 * Ng, num_experts, top_k)   # B, Q, K
        self.motion_value = PartLinear(H, L, self.Lg)                                               # V_m
        self.text_kv = PartLinear(H, text_dim, Ng + self.Lg)                                        # K_t, V_t
        self.anchor = nn.Sequential(nn.Linear(self.Lg, self.Lg), nn.GELU(), nn.Linear(self.Lg, 1))
        self.state = nn.Linear(self.Lg, self.Lg)
        self.derivatives = nn.ModuleList(nn.Linear(self.Lg, self.Lg) for _ in range(polynomial_order))
        self.log_sigma2 = nn.Parameter(torch.full((H,), math.log(100.0)))   # sigma^2 in frames^2, per part
        self.spatial_weight = nn.Parameter(torch.zeros(H, H))
        self.style = PartStylization(H, self.Lg, L, emb_dim, dropout)

    # -- pieces, exposed for tests ------------------------------------------------------------------------------
    def text_keys_values(self, text_tokens: torch.Tensor) -> torch.Tensor:
        """text_tokens (B, S, H, Lt, Dt), already routed so that part h reads its own text -> (B, S, H, Lt, Ng+Lg)."""
        return self.text_kv(text_tokens.transpose(2, 3)).transpose(2, 3)

    def templates(self, h: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                  member: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eq. 1 per stage. Returns templates G (B, S, H, Ng, Lg), motion B (B, T, H, Lg) and Q (B, T, H, Ng).

        ``member`` (B, S, T): frame k belongs to stage s (and is valid); ``text_mask`` (B, S, H, Lt).
        """
        xn = self.norm(h)
        moe = self.motion_moe(xn + self.part_embed)
        Lg, Ng = self.Lg, self.Ng
        b_feat, q, k_m = moe[..., :Lg], moe[..., Lg:Lg + Ng], moe[..., Lg + Ng:]
        v_m = self.motion_value(xn)                                           # (B, T, H, Lg)
        kv_t = self.text_keys_values(text_tokens)                            # (B, S, H, Lt, Ng+Lg)
        k_t, v_t = kv_t[..., :Ng], kv_t[..., Ng:]
        dt = torch.promote_types(k_t.dtype, k_m.dtype)
        k_t, k_m = k_t.to(dt), k_m.to(dt)
        neg = max(NEG, torch.finfo(dt).min / 2)                             # representable in float16 too
        k_t = k_t.masked_fill(~text_mask[..., None], neg)
        # softmax over the sequence (text tokens + the stage's frames), done jointly over both parts
        if member.shape[1] > 1 and int(member.sum(1).max()) <= 1:
            # each frame in at most one stage (every plan): the keys' maxima and exponentials per frame, O(T)
            # rather than O(S T); the same numbers as the general branch below
            B, S, T = member.shape
            in_stage = member.any(1)                                          # (B, T)
            idx = member.to(torch.uint8).argmax(1)                            # (B, T) the frame's stage
            k_m = k_m.masked_fill(~in_stage[:, :, None, None], neg)           # (B, T, H, Ng)
            idx_e = idx[:, :, None, None].expand_as(k_m)
            m_m = torch.full((B, S) + k_m.shape[2:], neg, dtype=dt, device=k_m.device)
            m_m = m_m.scatter_reduce(1, idx_e, k_m, "amax")
            m = torch.maximum(k_t.amax(dim=3), m_m)                           # (B, S, H, Ng)
            e_t = torch.exp(k_t - m[:, :, :, None])                           # (B, S, H, Lt, Ng)
            e_m = torch.exp(k_m - m.gather(1, idx_e)) * in_stage[:, :, None, None]   # (B, T, H, Ng)
            z = e_t.sum(3) + torch.zeros_like(m).scatter_add(1, idx_e, e_m)
            e_m = member.to(dt)[:, :, :, None, None] * e_m[:, None]           # (B, S, T, H, Ng), one-hot spread
        else:
            k_m = k_m.unsqueeze(1).masked_fill(~member[:, :, :, None, None], neg)  # (B, S, T, H, Ng)
            m = torch.maximum(k_t.amax(dim=3), k_m.amax(dim=2))              # (B, S, H, Ng)
            e_t = torch.exp(k_t - m[:, :, :, None])                          # (B, S, H, Lt, Ng)
            e_m = torch.exp(k_m - m[:, :, None])                             # (B, S, T, H, Ng)
            z = e_t.sum(3) + e_m.sum(2)                                      # (B, S, H, Ng)
        g = torch.einsum("bshng,bshnl->bshgl", e_t, v_t.to(dt)) + torch.einsum("bsthg,bthl->bshgl", e_m, v_m.to(dt))
        return g / z[..., None], b_feat, q

    def anchors(self, g: torch.Tensor, stage_start: torch.Tensor, stage_len: torch.Tensor) -> torch.Tensor:
        """Time anchors G^t in frames (B, S, H, Ng), float32: stage start + sigmoid(MLP(G)) * stage length.

        Frame numbers and their squared distances are kept in float32 whatever the model's dtype: in float16 a
        squared distance overflows (65504) past 255 frames and frames above 2048 are not even representable."""
        a = torch.sigmoid(self.anchor(g).squeeze(-1).float())
        return stage_start.float()[:, :, None, None] + a * stage_len.float()[:, :, None, None]

    def forward(self, h: torch.Tensor, emb: torch.Tensor, text_tokens: torch.Tensor, text_mask: torch.Tensor,
                member: torch.Tensor, stage_start: torch.Tensor, stage_len: torch.Tensor,
                stage_valid: torch.Tensor) -> torch.Tensor:
        B, T, H, _ = h.shape
        S = member.shape[1]
        g, b_feat, q = self.templates(h, text_tokens, text_mask, member)      # g: (B, S, H, Ng, Lg)
        anchor = self.anchors(g, stage_start, stage_len)                       # (B, S, H, Ng)
        J = S * self.Ng
        anchor = anchor.permute(0, 2, 1, 3).reshape(B, H, 1, J)               # (B, H, 1, J)
        with torch.autocast(h.device.type, enabled=False):                   # the time kernel in float32
            frames = torch.arange(T, device=h.device, dtype=torch.float32).view(1, 1, T, 1)
            delta = frames - anchor                                            # (B, H, T, J) frames
            sigma2 = self.log_sigma2.float().exp().view(1, H, 1, 1)
            logits = (delta * delta).div_(-sigma2)
            if self.use_query:                                                 # the same Q for every stage's Ng
                logits.view(B, H, T, S, self.Ng).add_(q.float().permute(0, 2, 1, 3)[:, :, :, None, :])
            if not bool(stage_valid.all()):
                stage_ok = stage_valid[:, None, None, :].repeat_interleave(self.Ng, dim=-1)
                logits = logits.masked_fill(~stage_ok, NEG)
            w32 = torch.softmax(logits, dim=-1)                                # (B, H, T, J)
        g = g.permute(0, 2, 1, 3, 4).reshape(B, H, J, self.Lg)                # (B, H, J, Lg)
        state = self.state(g)
        w = w32.to(state.dtype)
        y_t = w @ state                                                         # eq. 3-4, order 0
        tau = delta / self.time_scale                                          # seconds, float32
        power = None
        for n, proj in enumerate(self.derivatives, start=1):
            power = tau if power is None else power * tau
            d = proj(g)
            y_t = y_t + (w32 * power).to(d.dtype) @ (d / math.factorial(n))
        y_t = y_t.permute(0, 2, 1, 3)                                           # (B, T, H, Lg)
        y_s = torch.einsum("btjl,ij->btil", b_feat, torch.softmax(self.spatial_weight, dim=-1))   # eq. 5
        return h + self.style(y_t + y_s, emb)
