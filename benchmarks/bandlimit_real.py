"""What the x0 band limit would do to real motion: real test clips of the corpus passed through the filter of
motiongen.diffusion.bandlimit at several cutoffs, then measured as benchmarks/motion_quality.py measures.

    python benchmarks/bandlimit_real.py [--data corpus] [--max-clips 64] [--cutoffs 3 4 5 6]

A cutoff is safe when real motion keeps its figures through it (the shipped model uses 5 Hz).
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
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-clips", type=int, default=64)
    ap.add_argument("--cutoffs", type=float, nargs="+", default=[3.0, 4.0, 5.0, 6.0])
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
