"""Retargeting onto real rigs as characters: per rig, over real HumanML3D motions, print the bone map, the scale,
how closely the end effectors follow the source (correlation of pelvis-relative trajectories), the ankles' and
toes' slide during the source's contacts against the source's, and the round trip onto our own skeleton.

    PYTHONPATH=src python benchmarks/character_retarget.py [--data ../shared/data]
"""
from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from motiongen.motion.bvh import BVH_JOINT_NAMES_22, read_bvh, write_bvh
from motiongen.motion.character import read_character, retarget_to_character, write_character_bvh
from motiongen.motion.cleanup import detect_contacts

MOTIONS = ["000000", "007005", "009548", "011673", "012314", "M010655", "M010968"]


def rigs(data: Path) -> dict[str, str]:
    extra = data / "extra-mocap"
    return {
        "bandai (22)": f"{data}/bvh/bandai-namco/dataset-1/data.zip::data/dataset-1_bow_active_001.bvh",
        "cmu (31)": f"{data}/bvh/cmu/01_01.bvh",
        "iclone (100)": f"{data}/bvh/cmu-iclone/001_01.bvh",
        "snu (22)": f"{extra}/snu-martial-arts/data.zip::mrl.motion.critical/data/martial_arts_compact/motion/16_08_1.bvh",
        "m21 (21)": f"{extra}/m21-style/data.zip::m21_data/content/box-1.bvh",
    }


def slide(joints: np.ndarray, contacts: np.ndarray, channels) -> float:
    out = []
    for c in channels:
        j = (7, 10, 8, 11)[c]
        v = np.linalg.norm(np.diff(joints[:, j][:, [0, 2]], axis=0), axis=-1) * 20.0
        out.append(v[contacts[1:, c]])
    return float(np.concatenate(out).mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data"))
    args = ap.parse_args()
    data = Path(args.data)
    motions = {m: np.load(data / "humanml3d" / "new_joints" / f"{m}.npy").astype(np.float64) for m in MOTIONS}
    print(f"{len(motions)} HumanML3D motions ({', '.join(MOTIONS)}), 20 fps")
    print(f"{'rig':<14} {'map':<16} {'joints':>6} {'scale':>6} {'corr med/min':>12} {'ankle slide':>11} "
          f"{'toe slide':>9} {'(no IK)':>8}")
    for name, path in rigs(data).items():
        ch = read_character(path)
        corr, ank, toe, toe_free = [], [], [], []
        for joints in motions.values():
            res = retarget_to_character(joints, 20.0, ch)
            free = retarget_to_character(joints, 20.0, ch, plant_feet=False)
            ours = res.points() / res.scale                 # our 22 joints on the character (m21: wrists extended)
            ours_free = free.points() / free.scale
            for k in (7, 8, 15, 20, 21):
                if k not in res.mapping:
                    continue
                a, b = joints[:, k] - joints[:, 0], ours[:, k] - ours[:, 0]
                corr += [np.corrcoef(a[:, x], b[:, x])[0, 1] for x in range(3) if a[:, x].std() > 0.03]
            c = detect_contacts(joints, fps=20.0)
            ank.append(slide(ours, c, (0, 2)) / slide(joints, c, (0, 2)))
            toe.append(slide(ours, c, (1, 3)) / slide(joints, c, (1, 3)))
            toe_free.append(slide(ours_free, c, (1, 3)) / slide(joints, c, (1, 3)))
        print(f"{name:<14} {res.how:<16} {len(res.mapping):>6} {res.scale:>6.3f} {np.median(corr):>6.3f}/{min(corr):.3f} "
              f"{np.mean(ank):>10.3f}x {np.mean(toe):>8.3f}x {np.mean(toe_free):>7.3f}x")
    # round trip: our own 22-joint BVH as the character
    errs, errs_ik = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for joints in motions.values():
            write_bvh(Path(tmp) / "ours.bvh", joints)
            ch = read_character(Path(tmp) / "ours.bvh")
            for plant, bucket in ((False, errs), (True, errs_ik)):
                write_character_bvh(Path(tmp) / "back.bvh", retarget_to_character(joints, 20.0, ch, plant_feet=plant))
                pos, names = read_bvh(Path(tmp) / "back.bvh").world_positions()
                pos = pos[:, [names.index(n) for n in BVH_JOINT_NAMES_22]] * ch.base_scale
                bucket.append(np.linalg.norm(pos - joints, axis=-1))
    e, ei = np.concatenate([x.ravel() for x in errs]), np.concatenate([x.ravel() for x in errs_ik])
    print(f"round trip onto our own skeleton, re-read as BVH: mean {100 * e.mean():.4f} cm, max {100 * e.max():.4f} cm "
          f"without leg IK; with it (the feet held as the source holds them): mean {100 * ei.mean():.2f} cm, max "
          f"{100 * ei.max():.1f} cm")


if __name__ == "__main__":
    main()
