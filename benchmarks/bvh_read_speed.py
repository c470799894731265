"""Time the BVH reader on a long file: a real motion written by our BVH writer and repeated.

    python benchmarks/bvh_read_speed.py [--repeat 250]

Reads ../shared/data's HumanML3D sample 012314, repeats it --repeat times, writes it as BVH and times read_bvh.
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from motiongen.motion.bvh import read_bvh, write_bvh
from motiongen.motion.features import recover_joints_from_features

SAMPLE = Path(__file__).resolve().parents[2] / "shared" / "data" / "humanml3d" / "new_joint_vecs" / "012314.npy"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=250)
    args = ap.parse_args(argv)
    joints = np.concatenate([recover_joints_from_features(np.load(SAMPLE))] * args.repeat)
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "long.bvh"
        write_bvh(path, joints)
        t0 = time.perf_counter()
        bvh = read_bvh(path)
        dt = time.perf_counter() - t0
        print(f"{path.stat().st_size / 1e6:.1f} MB, {bvh.num_frames} frames, {bvh.num_joints} joints: read in {dt:.2f} s")


if __name__ == "__main__":
    main()
