"""Is the CPU selective scan bound by its Python/tensor overhead or by its arithmetic? A compiled kernel with no
intermediate tensors (numba, one (batch, channel) recurrence per thread) against motiongen's fused sequential scan.

    pip install numba   # not a motiongen dependency
    python benchmarks/scan_numba.py [--batch 2 8] [--length 196] [--channels 1024] [--state 16] [--threads 1]

If the two take about the same time, the scan's cost is its B x L x D x N exponentials and multiply-adds, and no
CPU kernel can make it several times faster (docs/histf.md).
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[2, 8])
    ap.add_argument("--length", type=int, default=196)
    ap.add_argument("--channels", type=int, default=1024)
    ap.add_argument("--state", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    try:
        import numba
        from numba import njit, prange
    except ImportError:
        print("this benchmark needs numba: pip install numba", file=sys.stderr)
        return 2
    from motiongen.models.histf.ssm import selective_scan

    @njit(parallel=True, cache=False)
    def scan_forward(x, delta, A, B, C, D, y):
        Bt, L, Dn = x.shape
        N = A.shape[1]
        for i in prange(Bt * Dn):
            b, d = i // Dn, i % Dn
            h = np.zeros(N, np.float32)
            for t in range(L):
                dt = delta[b, t, d]
                u = dt * x[b, t, d]
                acc = 0.0
                for n in range(N):
                    h[n] = np.exp(dt * A[d, n]) * h[n] + u * B[b, t, n]
                    acc += h[n] * C[b, t, n]
                y[b, t, d] = acc + D[d] * x[b, t, d]

    torch.set_num_threads(args.threads)
    numba.set_num_threads(min(args.threads, numba.config.NUMBA_NUM_THREADS))
    print(f"command: python benchmarks/scan_numba.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print("| batch | length | channels | state | numba kernel (ms) | fused sequential scan (ms) | max difference |")
    print("|---|---|---|---|---|---|---|")
    for bt in args.batch:
        g = torch.Generator().manual_seed(0)
        shape = (bt, args.length, args.channels)
        x, delta = torch.randn(shape, generator=g), torch.rand(shape, generator=g) * 0.1
        A = -torch.rand(args.channels, args.state, generator=g) * 4
        Bm = torch.randn(bt, args.length, args.state, generator=g)
        Cm = torch.randn(bt, args.length, args.state, generator=g)
        D = torch.randn(args.channels, generator=g)
        y = np.empty(shape, np.float32)
        arrays = [a.numpy() for a in (x, delta, A, Bm, Cm, D)]
        scan_forward(*arrays, y)                                    # compile
        with torch.no_grad():
            ref = selective_scan(x, delta, A, Bm, Cm, D, mode="sequential")
            times = []
            for fn in (lambda: scan_forward(*arrays, y), lambda: selective_scan(x, delta, A, Bm, Cm, D, mode="sequential")):
                fn()
                t0 = time.perf_counter()
                for _ in range(args.repeat):
                    fn()
                times.append((time.perf_counter() - t0) / args.repeat * 1e3)
        diff = float((torch.from_numpy(y) - ref).abs().max())
        print(f"| {bt} | {args.length} | {args.channels} | {args.state} | {times[0]:.1f} | {times[1]:.1f} | {diff:.1e} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
