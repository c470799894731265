"""Sparsely-activated mixture of experts (FineMoGen eq. 6), in plain PyTorch.

    f_MoE(x) = sum_i TOP_k(Softmax(W1 x))_i * W2_i phi(W3_i x)

Each token goes to the k experts with the largest router probabilities, weighted by those probabilities (not
renormalised, as eq. 6 writes). Tokens are grouped by expert (one sort) and each expert runs one dense matmul on
its tokens, so the cost is k/N of the dense mixture on both CPU and GPU. The load-balancing loss is the
Switch-Transformer one, N * sum_i f_i P_i, with f_i the fraction of routed slots that went to expert i and P_i
the mean router probability of expert i; it equals 1 for perfectly balanced routing and grows as routing
concentrates (the reference code used Tutel's GShard-style loss for the same purpose).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["SparseMoE", "load_balancing_loss"]


def load_balancing_loss(probs: torch.Tensor, expert_index: torch.Tensor, num_experts: int) -> torch.Tensor:
    """probs (N, E) router probabilities; expert_index (N, k) the chosen experts."""
    counts = torch.bincount(expert_index.reshape(-1), minlength=num_experts).to(probs.dtype)
    fraction = counts / counts.sum().clamp(min=1)
    return num_experts * (fraction * probs.mean(0)).sum()


class SparseMoE(nn.Module):
    """Top-k mixture of ``num_experts`` GELU feed-forward experts (in_dim -> hidden_dim -> out_dim)."""

    def __init__(self, in_dim: int, hidden_dim: int, out_dim: int, num_experts: int = 16, top_k: int = 2):
        super().__init__()
        if not 1 <= top_k <= num_experts:
            raise ValueError(f"top_k must be between 1 and num_experts ({num_experts}), got {top_k}")
        self.num_experts, self.top_k = num_experts, top_k
        self.router = nn.Linear(in_dim, num_experts, bias=False)
        self.w3 = nn.Parameter(torch.empty(num_experts, in_dim, hidden_dim))
        self.b3 = nn.Parameter(torch.zeros(num_experts, hidden_dim))
        self.w2 = nn.Parameter(torch.empty(num_experts, hidden_dim, out_dim))
        self.b2 = nn.Parameter(torch.zeros(num_experts, out_dim))
        for w in (self.w3, self.w2):
            bound = 1.0 / math.sqrt(w.shape[1])
            nn.init.uniform_(w, -bound, bound)
        self.aux_loss: torch.Tensor | None = None
        self.last_expert_index: torch.Tensor | None = None

    def route(self, flat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Router probabilities (N, E), top-k weights (N, k) and expert indices (N, k)."""
        probs = F.softmax(self.router(flat).float(), dim=-1)
        weight, index = probs.topk(self.top_k, dim=-1)
        return probs, weight, index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        flat = x.reshape(-1, shape[-1])
        N = flat.shape[0]
        probs, weight, index = self.route(flat)
        self.aux_loss = load_balancing_loss(probs, index, self.num_experts)
        self.last_expert_index = index.detach()
        expert_of_slot = index.reshape(-1)
        order = torch.argsort(expert_of_slot, stable=True)
        token_of_slot = torch.arange(N, device=x.device).repeat_interleave(self.top_k)[order]
        weight_of_slot = weight.reshape(-1)[order].to(x.dtype)
        counts = torch.bincount(expert_of_slot, minlength=self.num_experts).tolist()
        out = flat.new_zeros(N, self.w2.shape[-1])
        start = 0
        for e, n in enumerate(counts):
            if n == 0:
                continue
            tok = token_of_slot[start:start + n]
            h = F.gelu(torch.addmm(self.b3[e], flat[tok], self.w3[e]))
            h = torch.addmm(self.b2[e], h, self.w2[e])
            out.index_add_(0, tok, h * weight_of_slot[start:start + n, None])
            start += n
        return out.reshape(*shape[:-1], -1)
