"""Print how faithfully motiongen reproduces the official HumanML3D representation and round-trips BVH.

    python benchmarks/fidelity.py [--shared ../shared]

Prints: features -> joints error on the 7 real motions; joints -> features error per slice on 012314 (all frames,
and frames more than 60 from the end); joints -> features -> joints error; BVH write -> read error (metres).
"""
import argparse
import tempfile
from pathlib import Path

import numpy as np

from motiongen.motion.bvh import BVH_JOINT_NAMES_22, read_bvh, write_bvh
from motiongen.motion.features import joints_to_features, recover_joints_from_features
from motiongen.skeleton import HUMANML3D

IDS = ["000000", "007005", "009548", "011673", "012314", "M010655", "M010968"]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=str(Path(__file__).resolve().parents[2] / "shared"))
    d = Path(ap.parse_args().shared) / "data" / "humanml3d"
    vecs = {i: np.load(d / "new_joint_vecs" / f"{i}.npy") for i in IDS}
    joints = {i: np.load(d / "new_joints" / f"{i}.npy") for i in IDS}
    err = max(np.abs(recover_joints_from_features(vecs[i]) - joints[i]).max() for i in IDS)
    print(f"features -> joints, max error over 7 motions: {err:.2e} m")
    feats, processed = joints_to_features(joints["012314"])
    n = len(feats)
    print("joints -> features on 012314, max error per slice (all frames | frames > 60 from the end):")
    for name, sl in HUMANML3D.layout.slices.items():
        a = np.abs(feats[:, sl] - vecs["012314"][:n, sl]).max()
        b = np.abs(feats[: n - 60, sl] - vecs["012314"][: n - 60, sl]).max()
        print(f"  {name:22s} {a:.1e} | {b:.1e}")
    rt = max(np.abs(recover_joints_from_features(joints_to_features(joints[i])[0])
                    - joints_to_features(joints[i])[1][:-1]).max() for i in IDS)
    print(f"joints -> features -> joints, max error over 7 motions: {rt:.1e} m")
    worst = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for i in IDS:
            write_bvh(Path(tmp) / "m.bvh", joints[i])
            pos, names = read_bvh(Path(tmp) / "m.bvh").world_positions()
            worst = max(worst, np.abs(pos[:, [names.index(n) for n in BVH_JOINT_NAMES_22]] / 100 - joints[i]).max())
    print(f"BVH write -> read, max error over 7 motions: {worst:.1e} m")


if __name__ == "__main__":
    main()
