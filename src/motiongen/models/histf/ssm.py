"""Selective state space model (HiSTF eq. 1-2, after Mamba): input-dependent delta, B and C; diagonal A.

Discretisation (Mamba's convention, which its CUDA kernel also uses): A by zero-order hold, A_bar = exp(delta A);
the input term by its first-order form, B_bar x = delta B x. Recurrence per channel d and state n:

    h_t = A_bar_t * h_{t-1} + B_bar_t x_t,      y_t = <C_t, h_t> + D x_t

Interchangeable scans compute the same thing (equal within 1e-5, ``tests/test_histf.py``):

* ``sequential``: one fused autograd function. Forward: the decays and inputs for all frames in two whole-tensor
  operations, then one in-place multiply-add per frame on a time-major state buffer; backward: the adjoint
  recurrence g_t = dL/dh_t + A_bar_{t+1} g_{t+1}, run the same way, and closed-form gradients for delta, A, B,
  C, x and D. No autograd graph per frame; the fastest path on a 2-core CPU (``benchmarks/scan_speed.py``).
* ``chunked``: the structure of Mamba-2's SSD. Frames are cut into chunks of ``chunk`` frames; within a chunk
  the states are computed in parallel from cumulative log-decays S_t = sum_{r<=t} delta_r A (only exp of
  differences S_t - S_s <= 0 and of S_t <= 0 is ever taken, so nothing overflows, in float32 or under
  autocast); the state is carried across chunks sequentially. With a diagonal A per (channel, state) (Mamba-1,
  which HiSTF uses) the intra-chunk part costs ``chunk`` times the elementwise work of a sequential scan, in
  exchange for L / chunk sequential steps instead of L: a trade for GPUs, where per-step launches dominate.
* ``loop``: the plain autograd loop over time slices (motiongen before 0.3), kept for comparison.
* ``parallel``: a Hillis-Steele scan in log2(L) whole-tensor passes.
* ``cuda``: ``mamba_ssm.ops.selective_scan_interface.selective_scan_fn`` when mamba-ssm and a GPU are present.

``mode="auto"``: mamba-ssm's kernel for CUDA tensors when importable; else, on a GPU, ``chunked`` only where its
working memory (:func:`scan_memory_bytes`, about ``chunk`` times the sequential scan's) fits this scan's share of the
free GPU memory, with the chunk halved down to 4 before falling back to ``sequential`` (:func:`choose_scan_mode`;
GPU speeds not measured yet: no GPU was lent while this was written); ``sequential`` on the CPU (measured fastest
there). The choice is made once per module and shape (one memory query), and ``scan_chunk`` is a setting
(:func:`configure_scans`, the train config's ``scan_chunk``, ``motiongen generate --scan-chunk``).
The scan always runs in float32 with autocast off. Frames where ``delta`` is 0 leave the state untouched:
masking delta on padded frames makes a scan (in either direction) independent of padding.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["selective_scan", "selective_scan_reference", "SelectiveSSM", "SCAN_MODES", "DEFAULT_CHUNK",
           "compile_inference_scan", "choose_scan_mode", "scan_memory_bytes", "configure_scans"]

SCAN_MODES = ("auto", "sequential", "chunked", "loop", "parallel", "cuda")
DEFAULT_CHUNK = 16

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


def _loop(dA, dBx, C):
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


def _chunked(delta, A, u, B, C, chunk: int):
    """SSD-style chunked scan (see the module docstring). delta, u = delta * x: (Bt, L, Dn); B, C: (Bt, L, N)."""
    Bt, L, Dn = delta.shape
    N = A.shape[1]
    T = max(1, min(int(chunk), L))
    pad = (-L) % T
    if pad:  # delta = 0 and no input on the padding: the state passes through, later frames are cut
        delta, u = F.pad(delta, (0, 0, 0, pad)), F.pad(u, (0, 0, 0, pad))
        B, C = F.pad(B, (0, 0, 0, pad)), F.pad(C, (0, 0, 0, pad))
    nC = (L + pad) // T
    la = delta.view(Bt, nC, T, Dn, 1) * A                               # log-decays, <= 0
    S = la.cumsum(2)                                                    # (Bt, nC, T, Dn, N), from chunk start
    Bc, Cc, uc = B.view(Bt, nC, T, 1, N), C.view(Bt, nC, T, N), u.view(Bt, nC, T, Dn, 1)
    # within each chunk: h_t = sum_{s<=t} exp(S_t - S_s) B_s u_s, all t at once. S_t - S_s is summed directly
    # over s < r <= t (Mamba-2's segsum) rather than subtracted, which would lose digits once |S| is large.
    ones = torch.ones(T, T, dtype=torch.bool, device=delta.device)
    after = ones.tril(-1)[:, :, None, None]                              # r > s (rows r, columns s)
    seg = torch.where(after, la.unsqueeze(3), 0.0).cumsum(2)            # (Bt, nC, t, s, Dn, N): S_t - S_s
    W = torch.exp(torch.where(ones.tril()[:, :, None, None], seg, -math.inf))
    h_in = torch.einsum("bctsdn,bcsdn->bctdn", W, Bc * uc)               # states from this chunk's inputs
    # carry across chunks: the state entering chunk c, then its decay to every frame of c
    decay_end, local_end = torch.exp(S[:, :, -1]), h_in[:, :, -1]
    state = delta.new_zeros(Bt, Dn, N)
    entering = []
    for c in range(nC):
        entering.append(state)
        state = decay_end[:, c] * state + local_end[:, c]
    h = h_in + torch.exp(S) * torch.stack(entering, 1)[:, :, None]
    y = torch.einsum("bctdn,bctn->bctd", h, Cc)
    return y.reshape(Bt, nC * T, Dn)[:, :L]


def _time_major(*tensors):
    return [t.transpose(0, 1).contiguous() for t in tensors]


class _FusedSequentialScan(torch.autograd.Function):
    """The ``sequential`` scan: one autograd node; time-major (L, Bt, Dn, N) buffers; one in-place multiply-add
    per frame, forward (h_t = A_bar_t h_{t-1} + B_bar_t x_t) and backward (the adjoint recurrence
    g_t = dL/dh_t + A_bar_{t+1} g_{t+1}), with closed-form gradients for delta, A, B, C, x and D.

    Reductions over the state or channel axis are batched matrix products on contiguous buffers. The states and
    decays are kept for the backward pass (two (L, Bt, Dn, N) tensors per scan): recomputing them block by block
    saved memory but cost a third more time on the CPU.
    """

    @staticmethod
    def forward(ctx, x, delta, A, B, C, D):
        xt, dt, Bm, Cm = _time_major(x, delta, B, C)                      # (L, Bt, .)
        dA = torch.mul(dt.unsqueeze(-1), A).exp_()                        # (L, Bt, Dn, N)
        H = (dt * xt).unsqueeze(-1) * Bm.unsqueeze(2)                     # starts as B_bar x, becomes h
        for t in range(1, H.shape[0]):
            H[t].addcmul_(dA[t], H[t - 1])
        y = torch.matmul(H, Cm.unsqueeze(-1)).squeeze(-1).addcmul_(xt, D)
        if any(ctx.needs_input_grad):                                   # grad mode is off in here
            ctx.save_for_backward(x, delta, A, B, C, D, H, dA)
        return y.transpose(0, 1)

    @staticmethod
    def backward(ctx, gy):
        x, delta, A, B, C, D, H, dA = ctx.saved_tensors
        xt, dt, Bm, Cm, gy = _time_major(x, delta, B, C, gy)
        G = gy.unsqueeze(-1) * Cm.unsqueeze(2)                            # dL/dh_t from y_t, then the adjoint
        for t in range(G.shape[0] - 2, -1, -1):
            G[t].addcmul_(dA[t + 1], G[t + 1])
        ut = dt * xt
        g_u = torch.matmul(G, Bm.unsqueeze(-1)).squeeze(-1)               # (L, Bt, Dn)
        g_B = torch.matmul(ut.unsqueeze(-2), G).squeeze(-2)               # (L, Bt, N)
        g_C = torch.matmul(gy.unsqueeze(-2), H).squeeze(-2)
        # dL/d(delta_t A) = g_t h_{t-1} A_bar_t (zero at t = 0), written into the adjoint's buffer (the saved
        # tensors stay intact for a second backward)
        g_la = G
        g_la[1:].mul_(dA[1:]).mul_(H[:-1])
        g_la[0].zero_()
        g_delta = (g_la * A).sum(-1).addcmul_(g_u, xt)
        g_A = (g_la * dt.unsqueeze(-1)).sum((0, 1))
        g_x = g_u * dt + gy * D
        g_D = (gy * xt).sum((0, 1))
        return (g_x.transpose(0, 1), g_delta.transpose(0, 1), g_A, g_B.transpose(0, 1), g_C.transpose(0, 1), g_D)


COMPILE_BLOCK = 16        # frames per compiled block of the inference scan
_compiled_block_fn = None
_compile_inference = False


def compile_inference_scan(enabled: bool = True) -> None:
    """Run sampling-time (no-grad, CPU or GPU) scans through a ``torch.compile``-d block of 16 frames.

    Measured (``benchmarks/scan_speed.py --batch 2 --length 80 --channels 1024 --chunks 4 --skip-models
    --compile``): 4.0 ms against 5.4 ms for the fused scan on a 2-core CPU, after ~20 s of compiling on the first
    call. Hence off by default, on with ``motiongen generate --compile``; training uses the fused scan.
    """
    global _compile_inference
    _compile_inference = bool(enabled)


def _scan_block(dt, ut, Bm, Cm, A, h):
    """One block of the recurrence, written for inductor to fuse: (T, Bt, Dn) inputs, state h (Bt, Dn, N)."""
    dA = torch.exp(dt.unsqueeze(-1) * A)
    bx = ut.unsqueeze(-1) * Bm.unsqueeze(2)
    ys = []
    for t in range(dt.shape[0]):
        h = dA[t] * h + bx[t]
        ys.append((h * Cm[t].unsqueeze(1)).sum(-1))
    return torch.stack(ys), h


def _compiled_scan(x, delta, A, B, C, D):
    global _compiled_block_fn
    if _compiled_block_fn is None:
        _compiled_block_fn = torch.compile(_scan_block, dynamic=True)
    Bt, L, Dn = x.shape
    pad = (-L) % COMPILE_BLOCK                 # delta = 0, no input: the padding leaves the state alone
    xt, dt, Bm, Cm = _time_major(F.pad(x, (0, 0, 0, pad)), F.pad(delta, (0, 0, 0, pad)),
                                 F.pad(B, (0, 0, 0, pad)), F.pad(C, (0, 0, 0, pad)))
    ut = dt * xt
    h = x.new_zeros(Bt, Dn, A.shape[1])
    ys = []
    for s in range(0, L + pad, COMPILE_BLOCK):
        e = s + COMPILE_BLOCK
        y, h = _compiled_block_fn(dt[s:e], ut[s:e], Bm[s:e], Cm[s:e], A, h)
        ys.append(y)
    return (torch.cat(ys)[:L] + xt[:L] * D).transpose(0, 1)


def scan_memory_bytes(mode: str, batch: int, length: int, channels: int, state: int, chunk: int = DEFAULT_CHUNK,
                      training: bool = True) -> int:
    """Float32 working memory of one scan over (batch, length, channels) with ``state`` states, in bytes.

    Counted from the code above in units of one (batch, length, channels, state) tensor ``u``:
    ``sequential`` keeps 2 (the states and the decays, saved for backward); ``chunked`` builds the intra-chunk
    weights W and the segment sums (Bt, nC, T, T, Dn, N) -- ``chunk`` units each, at most 3 alive at once -- plus
    about 4 units of states and decays; ``parallel`` keeps 2 units per doubling pass (log2 L passes) when training;
    ``loop`` about 3 units; ``cuda`` (mamba-ssm) keeps only (B, L, Dn)-sized tensors, counted as 1 unit.
    Without gradients the intermediates of one scan are freed before the next, which the caller's budget reflects."""
    unit = 4 * batch * length * channels * state
    T = max(1, min(int(chunk), length))
    padded = -(-length // T) * T
    if mode == "sequential":
        return 2 * unit
    if mode == "chunked":
        return (3 * T * padded * unit) // length + 4 * unit
    if mode == "parallel":
        return 2 * unit * (max(1, math.ceil(math.log2(max(2, length)))) if training else 2)
    if mode == "loop":
        return 3 * unit
    if mode == "cuda":
        return unit
    raise ValueError(f"scan mode must be one of {', '.join(SCAN_MODES)}, got '{mode}'")


def choose_scan_mode(batch: int, length: int, channels: int, state: int, *, device_type: str, free_bytes: int | None,
                     training: bool, share: float = 1.0, chunk: int = DEFAULT_CHUNK,
                     mamba_available: bool = False) -> tuple[str, int]:
    """``auto``'s choice ``(mode, chunk)`` for one scan: never a mode whose memory does not fit.

    CPU: ``sequential``. GPU: mamba-ssm's kernel when installed; else ``chunked`` if
    ``scan_memory_bytes(chunked) <= share * free_bytes`` (``share``: this scan's part of the free memory -- the
    caller passes 1 / number of scans of the model when training, since all of them keep their tensors for the
    backward pass, and 1/2 without gradients), trying ``chunk``, chunk/2, ... down to 4; else ``sequential``,
    the smallest of the pure-PyTorch scans. ``free_bytes=None`` (unknown) means ``sequential``."""
    if device_type != "cuda":
        return "sequential", chunk
    if mamba_available:
        return "cuda", chunk
    if free_bytes is None:
        return "sequential", chunk
    budget = share * free_bytes
    c = int(chunk)
    while c >= 4:
        if scan_memory_bytes("chunked", batch, length, channels, state, c, training) <= budget:
            return "chunked", c
        c //= 2
    return "sequential", chunk


def _free_cuda_bytes(device: torch.device) -> int | None:
    """Free memory on ``device``: the driver's free bytes plus what PyTorch's allocator holds unused."""
    try:
        free, _total = torch.cuda.mem_get_info(device)
        return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))
    except Exception:  # pragma: no cover - no CUDA
        return None


def _resolve_mode(mode: str, x: torch.Tensor, state: int = 16, chunk: int = DEFAULT_CHUNK) -> tuple[str, int]:
    if mode == "auto":
        if x.is_cuda:       # a direct call: this scan alone may take half the free memory
            Bt, L, Dn = x.shape
            return choose_scan_mode(Bt, L, Dn, state, device_type="cuda", free_bytes=_free_cuda_bytes(x.device),
                                    training=torch.is_grad_enabled(), share=0.5, chunk=chunk,
                                    mamba_available=_mamba_scan_fn is not None)
        return "sequential", chunk
    if mode not in SCAN_MODES:
        raise ValueError(f"scan mode must be one of {', '.join(SCAN_MODES)}, got '{mode}'")
    return mode, chunk


def configure_scans(model: nn.Module, mode: str | None = None, chunk: int | None = None) -> int:
    """Set the scan mode and/or chunk length of every :class:`SelectiveSSM` in ``model`` (None leaves it);
    returns how many there are. Each one's ``auto`` share of free memory becomes 1 / that number."""
    ssms = [m for m in model.modules() if isinstance(m, SelectiveSSM)]
    if mode is not None and mode not in SCAN_MODES:
        raise ValueError(f"scan mode must be one of {', '.join(SCAN_MODES)}, got '{mode}'")
    if chunk is not None and (isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1):
        raise ValueError(f"scan chunk must be a positive integer, got {chunk!r}")
    for m in ssms:
        if mode is not None:
            m.scan_mode = mode
        if chunk is not None:
            m.scan_chunk = chunk
        m.scan_share = 1.0 / max(1, len(ssms))
        m._auto_choice.clear()
    return len(ssms)


def selective_scan(x, delta, A, B, C, D, reverse: bool = False, mode: str = "auto", chunk: int = DEFAULT_CHUNK):
    """y for the selective SSM. x, delta: (Bt, L, Dn); A: (Dn, N) (negative reals); B, C: (Bt, L, N); D: (Dn,).

    ``reverse`` scans from the last frame to the first (equal to flipping input and output of a forward scan).
    ``chunk`` is the chunk length of the ``chunked`` mode. Computed in float32 whatever the autocast state; the
    result has x's dtype.
    """
    if reverse:
        y = selective_scan(x.flip(1), delta.flip(1), A, B.flip(1), C.flip(1), D, False, mode, chunk)
        return y.flip(1)
    mode, chunk = _resolve_mode(mode, x, A.shape[1], chunk)
    out_dtype = x.dtype
    with torch.autocast(device_type=x.device.type, enabled=False):
        x, delta, A, B, C, D = (t.float() for t in (x, delta, A, B, C, D))
        if mode == "cuda":
            if _mamba_scan_fn is None or not x.is_cuda:
                raise RuntimeError("mode='cuda' needs the mamba-ssm package and CUDA tensors")
            y = _mamba_scan_fn(x.transpose(1, 2).contiguous(), delta.transpose(1, 2).contiguous(),
                               A.contiguous(), B.transpose(1, 2).contiguous(), C.transpose(1, 2).contiguous(),
                               D, delta_softplus=False)
            return y.transpose(1, 2).to(out_dtype)
        if mode == "sequential" and _compile_inference and not torch.is_grad_enabled():
            return _compiled_scan(x, delta, A, B, C, D).to(out_dtype)
        if mode == "sequential":
            return _FusedSequentialScan.apply(x, delta, A, B, C, D).to(out_dtype)
        if mode == "chunked":
            return (_chunked(delta, A, delta * x, B, C, chunk) + x * D).to(out_dtype)
        dA = torch.exp(delta.unsqueeze(-1) * A)                         # (Bt, L, Dn, N)
        dBx = (delta * x).unsqueeze(-1) * B.unsqueeze(2)                # (Bt, L, Dn, N)
        y = _loop(dA, dBx, C) if mode == "loop" else _parallel(dA, dBx, C)
        return (y + x * D).to(out_dtype)


class SelectiveSSM(nn.Module):
    """The selection mechanism of eq. 2: delta = softplus(W_dt(W_x x)), B = W_B x, C = W_C x; A = -exp(A_log).

    Initialisation follows Mamba (A_n = n, dt in [1e-3, 1e-1] log-uniform, D = 1).
    """

    def __init__(self, d_inner: int, d_state: int = 16, dt_rank: int | None = None, scan_mode: str = "auto",
                 scan_chunk: int = DEFAULT_CHUNK):
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
        self.scan_chunk = scan_chunk
        self.scan_share = 1.0 / 16         # this scan's part of free GPU memory (configure_scans sets 1 / count)
        self._auto_choice: dict = {}       # (shape, grad, device) -> (mode, chunk), for mode "auto" on a GPU

    def resolved_scan(self, x: torch.Tensor) -> tuple[str, int]:
        """The (mode, chunk) this module uses for input ``x``; ``auto`` on a GPU is decided once per shape from
        the free memory (:func:`choose_scan_mode`)."""
        if self.scan_mode != "auto" or not x.is_cuda:
            return _resolve_mode(self.scan_mode, x, self.d_state, self.scan_chunk)
        grad = torch.is_grad_enabled()
        key = (tuple(x.shape), grad, str(x.device))
        if key not in self._auto_choice:
            Bt, L, Dn = x.shape
            self._auto_choice[key] = choose_scan_mode(
                Bt, L, Dn, self.d_state, device_type="cuda", free_bytes=_free_cuda_bytes(x.device), training=grad,
                share=self.scan_share if grad else 0.5, chunk=self.scan_chunk,
                mamba_available=_mamba_scan_fn is not None)
        return self._auto_choice[key]

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None, reverse: bool = False) -> torch.Tensor:
        """x (Bt, L, d_inner); mask (Bt, L) valid frames (padded frames do not touch the state)."""
        dbc = self.x_proj(x)
        dt, B, C = torch.split(dbc, [self.dt_rank, self.d_state, self.d_state], dim=-1)
        delta = F.softplus(self.dt_proj(dt))
        if mask is not None:
            delta = delta * mask[..., None].to(delta.dtype)
        A = -torch.exp(self.A_log.float())
        mode, chunk = self.resolved_scan(x)
        return selective_scan(x, delta, A, B, C, self.D, reverse, mode, chunk)
