"""Choosing the x0 band limit's cutoff on the validation split: real clips passed through the filter of
motiongen.diffusion.bandlimit at several cutoffs, and (``--model``) a model sampled at each cutoff on the same
clips' captions and lengths, measured as benchmarks/motion_quality.py measures.

    python benchmarks/bandlimit_real.py [--data corpus] [--split val] [--max-clips 64] [--cutoffs 3 3.5 4 4.5 5]
                                        [--model DIR] [--samples 2] [--jerk-target 2]

The rule: the highest cutoff at which the model's raw jerk is within ``--jerk-target`` times the real clips'
(the quality target of the README), printed as "chosen cutoff". The split defaults to val so that the test split
stays untouched by the choice (the 4 Hz of the packaged models was first chosen on test clips).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from motion_quality import load_clips  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="corpus")
    ap.add_argument("--split", default="val")
    ap.add_argument("--max-clips", type=int, default=64)
    ap.add_argument("--cutoffs", type=float, nargs="+", default=[3.0, 3.5, 4.0, 4.5, 5.0])
    ap.add_argument("--model", default=None, help="also sample this model folder at each cutoff (default: the "
                                                  "shipped model; 'none' for the real clips only)")
    ap.add_argument("--samples", type=int, default=2, help="seeds per clip for the model")
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    ap.add_argument("--jerk-target", type=float, default=2.0)
    args = ap.parse_args(argv)
    from motiongen.diffusion.bandlimit import lowpass_frames
    from motiongen.evaluate.quality import motion_quality
    from motiongen.motion.features import recover_joints_from_features
    from motiongen.skeleton import HUMANML3D
    clips = load_clips(args.data, args.split, args.max_clips)
    contact = HUMANML3D.layout.slices["foot_contact"]
    keys = [("jerk", "{:.1f}"), ("high_freq", "{:.2%}"), ("foot_skating", "{:.3f}"), ("bone_cv", "{:.2%}"),
            ("floating", "{:.3f}"), ("penetration", "{:.4f}")]
    print(f"command: python benchmarks/bandlimit_real.py {' '.join(sys.argv[1:] if argv is None else argv)}")
    print(f"{len(clips)} real clips of the {args.split} split")
    print("| cutoff | " + " | ".join(k for k, _ in keys) + " |")
    print("|---|" + "---|" * len(keys))
    for fc in [0.0] + list(args.cutoffs):
        rows = []
        for c in clips:
            f = torch.as_tensor(c["features"], dtype=torch.float64)[None]
            if fc:
                f = lowpass_frames(f, None, 20.0, fc, contact)
            rows.append(motion_quality(recover_joints_from_features(f[0].numpy())))
        label = "none (real)" if not fc else f"{fc:g} Hz"
        print(f"| {label} | " + " | ".join(fmt.format(np.mean([r[k] for r in rows])) for k, fmt in keys) + " |")
        if not fc:
            real_jerk = float(np.mean([r["jerk"] for r in rows]))
    if args.model == "none":
        return 0
    from motiongen.pipeline import MotionPipeline
    pipe = MotionPipeline.from_pretrained(args.model)
    print(f"\nmodel {pipe.model_dir}, raw output (no export cleanup), {args.samples} seed(s) per clip, "
          f"{args.split} captions and lengths; jerk relative to the real clips above ({real_jerk:.1f})")
    print("| model band limit | jerk vs real | " + " | ".join(k for k, _ in keys[1:]) + " |")
    print("|---|---|" + "---|" * (len(keys) - 1))
    chosen = None
    for fc in [0.0] + list(args.cutoffs):
        pipe.diffusion.x0_lowpass_hz = fc
        rows = []
        for i, c in enumerate(clips):
            for k in range(args.samples):
                [m] = pipe.generate(c["caption"], len(c["features"]) / 20.0, seed=1000 * k + i, steps=args.steps,
                                    cleanup=False, literal=True)
                rows.append(motion_quality(m.joints))
        ratio = float(np.mean([r["jerk"] for r in rows])) / real_jerk
        if fc and ratio <= args.jerk_target:
            chosen = fc if chosen is None else max(chosen, fc)
        label = "none" if not fc else f"{fc:g} Hz"
        print(f"| {label} | {ratio:.2f}x | " + " | ".join(fmt.format(np.mean([r[k] for r in rows]))
                                                        for k, fmt in keys[1:]) + " |", flush=True)
    print(f"chosen cutoff: {chosen:g} Hz (the highest with raw jerk within {args.jerk_target:g}x real on the "
          f"{args.split} split)" if chosen else f"chosen cutoff: none of {args.cutoffs} meets {args.jerk_target:g}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
