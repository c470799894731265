"""Selective-scan speed: every scan mode, forward and forward + backward, over batch sizes and widths, with the
chunk length of the chunked scan swept; then whole HiSTF models (a training step and a sampling step).

    python benchmarks/scan_speed.py                          # the full sweep (a few minutes on 2 cores)
    python benchmarks/scan_speed.py --batch 1 8 --channels 256 --chunks 8 16 --device cuda
    python benchmarks/scan_speed.py --skip-scans             # only the model-level figures
    python benchmarks/scan_speed.py --batch 2 --length 80 --channels 1024 --chunks 4 --skip-models --compile

"channels" is the scan's width (d_inner = 2 x the block width: 1024 at the paper's width 512). Each figure is the
median of --repeat runs after one warm-up. Cases whose largest tensor would exceed --max-gb are skipped and say so.
Model-level: one training step (forward, loss, backward; AdamW excluded) of the CPU comparison config and one
denoising forward at paper size, with the old per-frame autograd loop ("loop") against the default path.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import torch

from motiongen.models.histf.ssm import selective_scan


def _sync(dev):
    if dev.type == "cuda":
        torch.cuda.synchronize()


def _time(fn, dev, repeat):
    fn()
    out = []
    for _ in range(repeat):
        _sync(dev)
        t0 = time.perf_counter()
        fn()
        _sync(dev)
        out.append(time.perf_counter() - t0)
    return statistics.median(out)


def _scan_case(dev, batch, length, channels, state, mode, chunk, backward):
    g = torch.Generator().manual_seed(0)
    shape = (batch, length, channels)
    x = torch.randn(shape, generator=g).to(dev).requires_grad_(backward)
    delta = (torch.rand(shape, generator=g) * 0.1).to(dev).requires_grad_(backward)
    A = (-torch.rand(channels, state, generator=g) * state).to(dev).requires_grad_(backward)
    B = torch.randn(batch, length, state, generator=g).to(dev).requires_grad_(backward)
    C = torch.randn(batch, length, state, generator=g).to(dev).requires_grad_(backward)
    D = torch.randn(channels, generator=g).to(dev).requires_grad_(backward)

    def run():
        if backward:
            selective_scan(x, delta, A, B, C, D, mode=mode, chunk=chunk).sum().backward()
        else:
            with torch.no_grad():
                selective_scan(x, delta, A, B, C, D, mode=mode, chunk=chunk)
    return run


def scans(a, dev):
    print(f"{'batch':>5} {'width':>5} {'mode':<12} {'fwd ms':>9} {'fwd+bwd ms':>11}")
    for batch in a.batch:
        for channels in a.channels:
            cases = [("loop", 0), ("sequential", 0), ("parallel", 0)] + [("chunked", c) for c in a.chunks]
            if dev.type == "cuda":
                cases.append(("cuda", 0))
            if a.compile:
                cases.append(("compiled", 0))
            for mode, chunk in cases:
                factor = {"chunked": 3 * chunk, "parallel": 6}.get(mode, 3)     # live (B, L, D, N) tensors
                gb = factor * batch * a.length * channels * a.state * 4 / 2 ** 30
                label = f"{mode}" + (f"/{chunk}" if chunk else "")
                if gb > a.max_gb:
                    print(f"{batch:>5} {channels:>5} {label:<12} {'skipped: ~%.1f GB' % gb:>21}")
                    continue
                if mode == "compiled":          # the sampling scan through torch.compile: forward only
                    from motiongen.models.histf.ssm import compile_inference_scan
                    compile_inference_scan(True)
                    run = _scan_case(dev, batch, a.length, channels, a.state, "sequential", 0, False)
                    t0 = time.perf_counter()
                    run()
                    first = time.perf_counter() - t0
                    fwd = _time(run, dev, a.repeat)
                    compile_inference_scan(False)
                    print(f"{batch:>5} {channels:>5} {label:<12} {1000 * fwd:>9.1f} {'-':>11}   "
                          f"(first call, compiling: {first:.1f} s)", flush=True)
                    continue
                try:
                    fwd = _time(_scan_case(dev, batch, a.length, channels, a.state, mode, chunk, False), dev,
                                a.repeat)
                    both = _time(_scan_case(dev, batch, a.length, channels, a.state, mode, chunk, True), dev,
                                 a.repeat)
                except RuntimeError as err:          # e.g. cuda mode without mamba-ssm
                    print(f"{batch:>5} {channels:>5} {label:<12} unavailable: {str(err).splitlines()[0]}")
                    continue
                print(f"{batch:>5} {channels:>5} {label:<12} {1000 * fwd:>9.1f} {1000 * both:>11.1f}", flush=True)


def models(a, dev):
    from motiongen.models.condition import MotionCondition
    from motiongen.models.registry import build_denoiser
    from motiongen.text.encoders import TextFeatures
    from motiongen.train.trainer import load_train_config

    cpu_cfg = load_train_config(a.train_config)
    print(f"\nmodel level ({a.train_config}: training step at batch {cpu_cfg.batch_size}, {a.length - 1} frames; "
          f"paper size: one denoising forward at batch 2 (guidance), {a.frames_infer} frames)")
    print(f"{'case':<34} {'scan':<12} {'ms':>8}")
    for label, cfg, batch, frames, train in (
            ("training step, comparison config", cpu_cfg.model_config, cpu_cfg.batch_size, a.length - 1, True),
            ("denoising forward, paper size", {}, 2, a.frames_infer, False)):
        for mode in ("loop", "sequential") + (("chunked",) if dev.type == "cuda" else ()):
            torch.manual_seed(0)
            m = build_denoiser("histf", **{**cfg, "scan_mode": mode}).to(dev)
            m.train(train)
            x = torch.randn(batch, frames, m.config.feature_dim, device=dev)
            tf = TextFeatures(torch.randn(batch, 12, m.config.text_dim), torch.ones(batch, 12, dtype=torch.bool),
                              torch.randn(batch, m.config.text_dim)).to(dev)
            mask = torch.ones(batch, frames, dtype=torch.bool, device=dev)
            t = torch.full((batch,), 500, device=dev)

            def step():
                if train:
                    m.zero_grad(set_to_none=True)
                    ((m(x, t, MotionCondition(tf), mask) - x) ** 2).mean().backward()
                else:
                    with torch.no_grad():
                        m(x, t, MotionCondition(tf), mask)
            ms = 1000 * _time(step, dev, a.repeat)
            print(f"{label:<34} {mode:<12} {ms:>8.1f}   ({m.num_parameters() / 1e6:.2f}M parameters)", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, nargs="+", default=[1, 8, 32])
    ap.add_argument("--length", type=int, default=197, help="scan length: 196 frames + the condition token")
    ap.add_argument("--channels", type=int, nargs="+", default=[256, 1024])
    ap.add_argument("--state", type=int, default=16)
    ap.add_argument("--chunks", type=int, nargs="+", default=[4, 8, 16, 32])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--max-gb", type=float, default=4.0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-scans", action="store_true")
    ap.add_argument("--skip-models", action="store_true")
    ap.add_argument("--compile", action="store_true", help="add the torch.compile-d sampling scan (forward only)")
    ap.add_argument("--train-config", default="configs/histf_cpu_small.toml")
    ap.add_argument("--frames-infer", type=int, default=80, help="frames of the paper-size forward (4 s)")
    a = ap.parse_args()
    dev = torch.device(a.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {dev} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cpus; L={a.length} N={a.state}")
    if not a.skip_scans:
        scans(a, dev)
    if not a.skip_models:
        models(a, dev)


if __name__ == "__main__":
    main()
