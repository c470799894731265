"""The README's headline prompt with a model: how far the figure walks and how much of the time it waves.

    python benchmarks/headline.py [--model DIR] [--seeds 0 1 2 3]

Prints, per seed, the pelvis's horizontal travel in 4 s and the share of frames with the left wrist above the
left shoulder, for the sentence read as a plan (the default) and read literally, and for a plan whose stage
sentence is the whole sentence (what motiongen.compound avoids).
"""
from __future__ import annotations

import argparse

import numpy as np

TEXT = "a person walks forward and waves with the left hand"


def figures(joints: np.ndarray) -> tuple[float, float]:
    travel = float(np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]))
    return travel, float((joints[:, 20, 1] > joints[:, 16, 1]).mean())     # left wrist above the left shoulder


READINGS = ("as a plan (default)", "literally (--literal)", "plan with the whole sentence")


def measure(pipe, seeds=(0,)) -> list[tuple[str, int, float, float]]:
    """(reading, seed, travel in m, share of frames waving) for each reading and seed; what main prints and what
    tests/test_shipped_model.py checks the README's Quick start against."""
    from motiongen.plan import Plan
    whole = Plan.from_dict({"stages": [{"text": TEXT, "seconds": 4,
                                        "parts": {"left_arm": "a person waves with the left hand"}}]})
    rows = []
    for seed in seeds:
        for label, prompt, literal in zip(READINGS, (TEXT, TEXT, whole), (False, True, False)):
            [m] = pipe.generate(prompt, 4.0, seed=seed, literal=literal)
            rows.append((label, seed, *figures(m.joints)))
    return rows


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--seeds", nargs="+", type=int, default=[0])
    args = ap.parse_args(argv)
    from motiongen.pipeline import MotionPipeline
    pipe = MotionPipeline.from_pretrained(args.model)
    print(f"'{TEXT}', 4 s")
    print(f"{'reading':<34} {'seed':>4} {'travel m':>9} {'left wave':>10}")
    for label, seed, travel, wave in measure(pipe, args.seeds):
        print(f"{label:<34} {seed:>4} {travel:>9.2f} {wave:>10.0%}")


if __name__ == "__main__":
    main()
