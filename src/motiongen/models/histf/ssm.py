"""Selective state space model (HiSTF eq. 1-2, after Mamba): input-dependent delta, B and C; diagonal A.

Discretisation (Mamba's convention, which its CUDA kernel also uses): A by zero-order hold, A_bar = exp(delta A);
the input term by its first-order form, B_bar x = delta B x. Recurrence per channel d and state n:

    h_t = A_bar_t * h_{t-1} + B_bar_t x_t,      y_t = <C_t, h_t> + D x_t

Three interchangeable scans compute the same thing:

* ``sequential``: a loop over time slices — on a 2-core CPU at length 196 the fastest option measured
  (``../shared/DEPENDENCIES.md``: faster than mambapy's parallel scan; chunked and log-space scans were slower);
* ``parallel``: a Hillis-Steele scan in log2(L) whole-tensor passes, for GPUs and long sequences;
* ``cuda``: ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` when mamba-ssm and a GPU are present.

``mode="auto"`` picks cuda kernels if importable on a CUDA tensor, else parallel on GPU, else sequential.
Frames where ``delta`` is 0 leave the state untouched: masking delta on padded frames makes a scan (in either
direction) independent of padding.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["selective_scan", "selective_scan_reference", "SelectiveSSM"]

try:  # optional CUDA kernels
    from mamba_ssm.ops.selective_scan_interface import selective_scan_fn as _mamba_scan_fn  # type: ignore
except Exception:  # pragma: no cover - not installed on CPU machines
    _mamba_scan_fn = None


def selective_scan_reference(x, delta, A, B, C, D):
    """The plainest possible scan (explicit loops), for tests. x, delta (Bt, L, Dn); A (Dn, N); B, C (Bt, L, N)."""
    Bt, L, Dn = x.shape
    h = x.new_zeros(Bt, Dn, A.shape[1])
    ys = []
    for t in range(L):
        dA = torch.exp(delta[:, t, :, None] * A)
        h = dA * h + delta[:, t, :, None] * B[:, t, None, :] * x[:, t, :, None]
        ys.append((h * C[:, t, None, :]).sum(-1))
    return torch.stack(ys, 1) + x * D


def _sequential(dA, dBx, C):
    h = torch.zeros_like(dA[:, 0])
    ys = []
    for a, bx, c in zip(dA.unbind(1), dBx.unbind(1), C.unbind(1)):
        h = a * h + bx
        ys.append(torch.einsum("bdn,bn->bd", h, c))
    return torch.stack(ys, 1)


def _parallel(dA, dBx, C):
    """Hillis-Steele inclusive scan of h_t = a_t h_{t-1} + b_t over the time axis (dim 1)."""
    a, b = dA, dBx
    L = a.shape[1]
    step = 1
    while step < L:
        a_prev = F.pad(a[:, :-step], (0, 0, 0, 0, step, 0), value=1.0)
        b_prev = F.pad(b[:, :-step], (0, 0, 0, 0, step, 0), value=0.0)
        b = a * b_prev + b
        a = a * a_prev
        step *= 2
    return torch.einsum("bldn,bln->bld", b, C)


def selective_scan(x, delta, A, B, C, D, reverse: bool = False, mode: str = "auto"):
    """y for the selective SSM. x, delta: (Bt, L, Dn); A: (Dn, N) (negative reals); B, C: (Bt, L, N); D: (Dn,).

    ``reverse`` scans from the last frame to the first (equal to flipping input and output of a forward scan).
    """
    if reverse:
        y = selective_scan(x.flip(1), delta.flip(1), A, B.flip(1), C.flip(1), D, False, mode)
        return y.flip(1)
    if mode == "auto":
        if x.is_cuda and _mamba_scan_fn is not None:
            mode = "cuda"
        else:
            mode = "parallel" if x.is_cuda else "sequential"
    if mode == "cuda":
        if _mamba_scan_fn is None or not x.is_cuda:
            raise RuntimeError("mode='cuda' needs the mamba-ssm package and CUDA tensors")
        y = _mamba_scan_fn(x.transpose(1, 2).contiguous(), delta.transpose(1, 2).contiguous(), A.contiguous(),
                           B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous(), D.float(),
                           delta_softplus=False)
        return y.transpose(1, 2)
    dA = torch.exp(delta.unsqueeze(-1) * A)                         # (Bt, L, Dn, N)
    dBx = (delta * x).unsqueeze(-1) * B.unsqueeze(2)                # (Bt, L, Dn, N)
    if mode == "sequential":
        y = _sequential(dA, dBx, C)
    elif mode == "parallel":
        y = _parallel(dA, dBx, C)
    else:
        raise ValueError(f"scan mode must be auto, sequential, parallel or cuda, got '{mode}'")
    return y + x * D


class SelectiveSSM(nn.Module):
    """The selection mechanism of eq. 2: delta = softplus(W_dt(W_x x)), B = W_B x, C = W_C x; A = -exp(A_log).

    Initialisation follows Mamba (A_n = n, dt in [1e-3, 1e-1] log-uniform, D = 1).
    """

    def __init__(self, d_inner: int, d_state: int = 16, dt_rank: int | None = None, scan_mode: str = "auto"):
        super().__init__()
        self.d_state = d_state
        self.dt_rank = dt_rank or math.ceil(d_inner / 16)
        self.x_proj = nn.Linear(d_inner, self.dt_rank + 2 * d_state, bias=False)
        self.dt_proj = nn.Linear(self.dt_rank, d_inner, bias=True)
        dt_std = self.dt_rank ** -0.5
        nn.init.uniform_(self.dt_proj.weight, -dt_std, dt_std)
        dt = torch.exp(torch.rand(d_inner) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3)).clamp(min=1e-4)
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))   # inverse softplus
        self.A_log = nn.Parameter(torch.log(torch.arange(1, d_state + 1, dtype=torch.float32)).repeat(d_inner, 1))
        self.D = nn.Parameter(torch.ones(d_inner))
        self.scan_mode = scan_mode

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, reverse: bool = False) -> torch.Tensor:
        """x (Bt, L, d_inner); mask (Bt, L) valid frames (padded frames do not touch the state)."""
        dbc = self.x_proj(x)
        dt, B, C = torch.split(dbc, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        if mask is not None:
            delta = delta * mask[..., None].to(delta.dtype)
        A = -torch.exp(self.A_log.float())
        y = selective_scan(x.float(), delta.float(), A, B.float(), C.float(), self.D.float(), reverse,
                           self.scan_mode)
        return y.to(x.dtype)
