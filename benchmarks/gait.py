"""Why generated walks shuffle: the contact channels against the feet, in the training data and in the model's raw
output, and the gait under different sampling settings (docs/feet.md).

1. Contact channels vs the motion. For every foot joint (ankles, toes) and frame: is the channel on, and is the
   joint planted (within 5 cm of its lowest height in the clip and under 0.5 m/s horizontally)? Printed: the share
   of channel-on frames that are not planted (of them, how many move faster than 0.5 m/s, how many are more than
   5 cm up), and the share of planted frames whose channel is off. For the corpus's train split (real) and for
   the raw output (the model's own channels against its own joints).
2. The gait of raw walks under sampler / steps / guidance / the x0 band limit: toes within 5 cm of the floor, the
   toes' 95th height percentile (how high a foot lifts), the stance speed (GMD's skate speed: the toes' mean speed
   while under 5 cm), our and GMD's skating ratios, against the real walks.

    PYTHONPATH=src python benchmarks/gait.py --corpus /tmp/feet-corpus                  # ~1 min on 2 CPU cores
    PYTHONPATH=src python benchmarks/gait.py --corpus /tmp/feet-corpus --clips 200 --walks 12
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from motiongen.evaluate.physical import foot_metrics
from motiongen.motion.cleanup import contacts_from_features
from motiongen.motion.features import recover_joints_from_features
from motiongen.skeleton import HUMANML3D

FEET = list(HUMANML3D.left_foot_index) + list(HUMANML3D.right_foot_index)     # contact-channel order


def channel_agreement(features: np.ndarray, joints: np.ndarray, fps: float = 20.0) -> dict[str, float]:
    """Counts (not shares) for pooling: channel on / planted / on-but-moving / on-but-up / planted-but-off."""
    chan = contacts_from_features(features)[: len(joints) - 1]
    f = joints[:, FEET]
    h = f[:-1, :, 1] - f[:, :, 1].min(0)
    v = np.linalg.norm(np.diff(f[..., [0, 2]], axis=0), axis=-1) * fps
    planted = (h < 0.05) & (v < 0.5)
    return {"frames": chan.size, "on": int(chan.sum()), "planted": int(planted.sum()),
            "on_not_planted": int((chan & ~planted).sum()), "on_fast": int((chan & (v > 0.5)).sum()),
            "on_up": int((chan & (h > 0.05)).sum()), "planted_off": int((planted & ~chan).sum())}


def pooled(rows: list[dict]) -> dict[str, float]:
    s = {k: sum(r[k] for r in rows) for k in rows[0]}
    return {"channel on": s["on"] / s["frames"], "planted": s["planted"] / s["frames"],
            "on, not planted": s["on_not_planted"] / max(s["on"], 1),
            "  on, > 0.5 m/s": s["on_fast"] / max(s["on"], 1), "  on, > 5 cm up": s["on_up"] / max(s["on"], 1),
            "planted, off": s["planted_off"] / max(s["planted"], 1)}


def gait(joints_list) -> dict[str, float]:
    ms = [foot_metrics(j) for j in joints_list]
    toe_p95 = [float(np.percentile(j[:, [FEET[1], FEET[3]], 1], 95)) for j in joints_list]
    return {"toes < 5 cm": np.mean([m["feet_low_share"] for m in ms]), "toe p95 height cm": 100 * np.mean(toe_p95),
            "stance speed cm/s": np.mean([m["skate_speed_cm_s"] for m in ms]),
            "skating": np.mean([m["skating"] for m in ms]), "skating_gmd": np.mean([m["skating_gmd"] for m in ms])}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, type=Path)
    ap.add_argument("--model", default=None)
    ap.add_argument("--clips", type=int, default=120, help="train clips for the channel check (default 120)")
    ap.add_argument("--walks", type=int, default=6, help="real walks (test split) and prompts (default 6)")
    a = ap.parse_args(argv)
    if not (a.corpus / "train.txt").is_file():
        print(f"error: --corpus {a.corpus}: no train.txt (build one with motiongen data build)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(Path(__file__).parent))
    from feet import first_caption, pick_clips

    from motiongen.pipeline import MotionPipeline, Prompt
    train = (a.corpus / "train.txt").read_text().split()
    step = max(1, len(train) // a.clips)
    real_rows = []
    for sid in train[::step][: a.clips]:
        feats = np.load(a.corpus / "new_joint_vecs" / f"{sid}.npy")
        real_rows.append(channel_agreement(feats, recover_joints_from_features(feats)))
    walks = pick_clips(a.corpus, a.walks)["walks"]
    real_walks, prompts = [], []
    for sid in walks:
        feats = np.load(a.corpus / "new_joint_vecs" / f"{sid}.npy")
        real_walks.append(recover_joints_from_features(feats))
        prompts.append(Prompt(first_caption(a.corpus / "texts" / f"{sid}.txt"), min(len(feats) / 20, 6.0)))
    pipe = MotionPipeline.from_pretrained(a.model)
    settings = {"default": {}, "guidance 1": {"guidance_scale": 1.0}, "guidance 5": {"guidance_scale": 5.0},
                "ddim 50": {"sampler": "ddim", "steps": 50}, "no x0 band limit": {"lowpass": 0.0}}
    table, gen_rows = {}, []
    base_lowpass = pipe.diffusion.x0_lowpass_hz
    for name, kw in settings.items():
        pipe.diffusion.x0_lowpass_hz = kw.pop("lowpass", base_lowpass)
        ms = pipe.generate(prompts, seed=0, cleanup=False, literal=True, **kw)
        joints = [pipe.joints_for(m.features, cleanup=False)[0] for m in ms]
        table[name] = gait(joints)
        if name == "default":
            gen_rows = [channel_agreement(m.features, j) for m, j in zip(ms, joints)]
    pipe.diffusion.x0_lowpass_hz = base_lowpass
    table["real walks"] = gait(real_walks)
    print(f"contact channels vs the feet (shares; {len(real_rows)} train clips, {len(gen_rows)} raw walks)")
    pr, pg = pooled(real_rows), pooled(gen_rows)
    print(f"  {'':18s}{'real (train)':>14s}{'raw output':>12s}")
    for k in pr:
        print(f"  {k:18s}{pr[k]:14.3f}{pg[k]:12.3f}")
    print(f"\nraw walks ({len(prompts)} prompts from test-split walk captions, seed 0) vs the real walks")
    cols = list(next(iter(table.values())))
    print(f"  {'':18s}" + "".join(f"{c:>19s}" for c in cols))
    for name, row in table.items():
        print(f"  {name:18s}" + "".join(f"{row[c]:19.3f}" for c in cols))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
