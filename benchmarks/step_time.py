"""Time one denoising step (one forward pass, no guidance) per registered model, default config.

    python benchmarks/step_time.py [--frames 196] [--batch 1] [--device cpu|cuda] [--models finemogen histf]

Prints parameters and the median of --repeat timed steps after --warmup untimed ones, with the machine it ran on.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from motiongen.models.condition import MotionCondition
from motiongen.models.registry import build_denoiser, list_denoisers
from motiongen.text.encoders import TextFeatures


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=196)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", nargs="+")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine()
    print(f"device: {dev} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"cpus {os.cpu_count()}; batch {args.batch}, {args.frames} frames")
    print(f"{'model':<12} {'params':>8} {'ms/step':>9}")
    for model_name in args.models or list(list_denoisers()):
        torch.manual_seed(0)
        m = build_denoiser(model_name).to(dev).eval()
        B, T = args.batch, args.frames
        x = torch.randn(B, T, m.config.feature_dim, device=dev)
        tf = TextFeatures(torch.randn(B, 12, m.config.text_dim), torch.ones(B, 12, dtype=torch.bool),
                          torch.randn(B, m.config.text_dim)).to(dev)
        mask = torch.ones(B, T, dtype=torch.bool, device=dev)
        t = torch.full((B,), 500, device=dev)
        times = []
        with torch.no_grad():
            for i in range(args.warmup + args.repeat):
                cond = MotionCondition(tf)  # fresh condition: text work is not cached across steps here
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                m(x, t, cond, mask)
                if dev.type == "cuda":
                    torch.cuda.synchronize()
                if i >= args.warmup:
                    times.append(time.perf_counter() - t0)
        print(f"{model_name:<12} {m.num_parameters() / 1e6:>7.2f}M {1000 * statistics.median(times):>9.1f}")


if __name__ == "__main__":
    main()
