"""Do in-place gestures move the legs more with stronger text guidance? (issue 30, item 2)

    python benchmarks/gesture_guidance.py [--model DIR] [--guidance 1 2.5 5 8] [--samples 3]

For three gesture sentences and several seeds, prints the mean horizontal speed of the knees and ankles and the
root's displacement over 4 s at each guidance scale. Real in-place gestures of the corpus: about 0.01 m/s and 2 cm
(`python benchmarks/actions.py --data corpus --real-only` prints the real figures per action).
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

PROMPTS = ["a person waves with the right hand", "a person raises both hands", "someone waves the left hand"]
LEG_JOINTS = [4, 5, 7, 8]        # knees and ankles (motiongen.skeleton HumanML3D order)


def leg_speed_and_drift(joints: np.ndarray, fps: float = 20.0) -> tuple[float, float]:
    legs = joints[:, LEG_JOINTS][..., [0, 2]]
    speed = float(np.linalg.norm(np.diff(legs, axis=0), axis=-1).mean() * fps)
    drift = float(np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]))
    return speed, drift


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--guidance", type=float, nargs="+", default=[1.0, 2.5, 5.0, 8.0])
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    import motiongen
    pipe = motiongen.MotionPipeline.from_pretrained(args.model)
    print(f"model: {args.model or 'shipped'}; {len(PROMPTS)} sentences x {args.samples} seeds, {args.seconds:g} s")
    for g in args.guidance:
        rows = [leg_speed_and_drift(m.joints) for p in PROMPTS
                for m in pipe.generate([p], seconds=args.seconds, seed=0, num_samples=args.samples, guidance_scale=g)]
        r = np.array(rows)
        print(f"guidance {g:g}: knee/ankle speed {r[:, 0].mean():.3f} m/s, root drift {r[:, 1].mean():.2f} m")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
