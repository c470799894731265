"""AITS (average inference time per sentence, batch 1, loading excluded) and batched throughput per model.

    python benchmarks/aits.py --models DIR [DIR ...] [--steps 10 15 50] [--sentences 10] [--device cpu|cuda]
                              [--compile]

For each model and step count: AITS over --sentences different sentences of 4 s (196 frames with --seconds 9.8),
each model's own sampler, and throughput in motions/s for a batch of --batch motions. Prints the machine.
``--compile`` runs HiSTF's sampling scan through torch.compile (the warm-up sentence pays the compile time, which
is printed apart). A model may be a packaged name (``histf``).
"""
from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from motiongen.evaluate.runner import aits
from motiongen.pipeline import MotionPipeline

SENTENCES = ["a person walks forward", "someone jumps twice", "a man waves with his right hand",
             "a person sits down on a chair", "the person turns around and walks back", "a woman dances happily",
             "someone kicks with the left leg", "a person runs in a circle", "a person bows",
             "the man raises both arms above his head", "a person crouches and stands up",
             "someone throws a ball"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="+", required=True)
    ap.add_argument("--steps", nargs="+", type=int, default=[10, 15, 50])
    ap.add_argument("--sentences", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--compile", action="store_true")
    args = ap.parse_args()
    if args.compile:
        from motiongen.models.histf.ssm import compile_inference_scan
        compile_inference_scan(True)
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    print(f"device: {dev} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cpus; {args.seconds:g} s motions")
    print(f"{'model':<24} {'sampler':<8} {'steps':>5} {'AITS (s)':>9} {'motions/s (batch ' + str(args.batch) + ')':>22}")
    texts = (SENTENCES * 10)[:args.sentences]
    for mdir in args.models:
        pipe = MotionPipeline.from_pretrained(mdir, device=args.device)
        sampler = pipe.info.get("sampling", {}).get("sampler") or pipe.denoiser.default_sampler[0]
        if args.compile:
            t0 = time.perf_counter()
            pipe.generate(texts[0], args.seconds, sampler=sampler, steps=args.steps[0])
            print(f"{os.path.basename(os.path.normpath(mdir))}: first generate with compiling "
                  f"{time.perf_counter() - t0:.1f} s")
        for steps in args.steps:
            s = "ddim" if sampler == "ddpm" else sampler
            t = aits(pipe, texts, args.seconds, sampler=s, steps=steps)
            t0 = time.perf_counter()
            pipe.generate(texts[:1] * args.batch, args.seconds, sampler=s, steps=steps, batch_size=args.batch)
            tput = args.batch / (time.perf_counter() - t0)
            print(f"{os.path.basename(os.path.normpath(mdir)):<24} {s:<8} {steps:>5} {t:>9.3f} {tput:>22.2f}")


if __name__ == "__main__":
    main()
