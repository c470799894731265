"""Forward + backward time of one selective scan, sequential vs parallel, at a training-like size.

    python benchmarks/scan_speed.py [--batch 32] [--length 197] [--channels 256] [--state 16] [--device cpu]
"""
from __future__ import annotations

import argparse
import time

import torch

from motiongen.models.histf.ssm import selective_scan


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--length", type=int, default=197)
    ap.add_argument("--channels", type=int, default=256)
    ap.add_argument("--state", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    dev = torch.device(a.device)
    g = torch.Generator().manual_seed(0)
    shape = (a.batch, a.length, a.channels)
    print(f"device {dev}, torch {torch.__version__}, {torch.get_num_threads()} threads; B={a.batch} L={a.length} "
          f"D={a.channels} N={a.state}")
    for mode in ("sequential", "parallel"):
        x = torch.randn(shape, generator=g).to(dev).requires_grad_()
        delta = (torch.rand(shape, generator=g) * 0.1).to(dev)
        A = -torch.rand(a.channels, a.state, generator=g).to(dev)
        B = torch.randn(a.batch, a.length, a.state, generator=g).to(dev)
        C = torch.randn(a.batch, a.length, a.state, generator=g).to(dev)
        D = torch.randn(a.channels, generator=g).to(dev)
        t0 = time.perf_counter()
        y = selective_scan(x, delta, A, B, C, D, mode=mode)
        t1 = time.perf_counter()
        y.sum().backward()
        t2 = time.perf_counter()
        print(f"{mode:<11} forward {t1 - t0:.2f} s, backward {t2 - t1:.2f} s")


if __name__ == "__main__":
    main()
