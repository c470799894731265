"""Fine-grained part texts read from the motion itself: which body parts keep still (FineMoGen sec. 3.3).

FineMoGen conditions each body part on its own sentence (the paper's fine-grained descriptions, written per stage
and part by an LLM for its HuMMan-MoGen set). Our corpora have one caption per clip, so without part texts every
part reads the whole sentence in training, and a part text given at sampling ("the legs stand still") takes a
path the weights never trained (`benchmarks/gesture_causes.py`: the legs of a wave moved as much with it as
without). These are the part texts we can state from the motion without an LLM: a part that keeps still.

Training (``part_texts`` in the trainer's config) gives, with that probability per drawn clip, the still parts
their sentence below and every other part the clip's caption; sampling gives them to a one-clause arm gesture
(:func:`motiongen.compound.plan_from_sentence` with ``still_parts=True``) when the model was trained so.

What "still" means (measured on the broad corpus's train split, ``python benchmarks/gesture_causes.py --data``):
the legs of real in-place gestures move at 0.01-0.04 m/s (90th percentile 0.06), those of walks 0.4-1.7 m/s; the
idle wrist of a one-handed wave moves 0.10 m/s relative to the pelvis (90th percentile 0.3), the waving one 1.0.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import SkeletonSpec

__all__ = ["STILL_LEGS_TEXT", "STILL_ARM_TEXT", "LEG_STILL_SPEED", "ROOT_STILL_DRIFT", "ARM_STILL_SPEED",
           "still_parts"]

STILL_LEGS_TEXT = "a person stands still on both feet."
STILL_ARM_TEXT = "a person keeps this arm still."
LEG_STILL_SPEED = 0.08      # m/s: mean horizontal speed of the knees and ankles
ROOT_STILL_DRIFT = 0.2      # m: the pelvis's horizontal travel over the clip
ARM_STILL_SPEED = 0.25      # m/s: mean speed of the wrist relative to the pelvis (root-relative positions)


def still_parts(features: np.ndarray, spec: SkeletonSpec) -> dict[str, str]:
    """Part -> text for the FineMoGen parts of one de-normalised (T, D) feature clip that keep still.

    Legs and pelvis are still together (knees and ankles slow and the pelvis staying put); an arm is still when its
    wrist hardly moves relative to the pelvis while the legs are still (in locomotion the arms swing with the gait,
    which the caption describes). Returns {} for clips shorter than 2 frames or without a HumanML3D-like layout.
    """
    if features.ndim != 2 or len(features) < 2 or features.shape[1] != spec.feature_dim:
        return {}
    names = spec.joint_names
    try:
        legs = [names.index(n) for n in ("left_knee", "right_knee", "left_ankle", "right_ankle")]
        wrists = {"left_arm": names.index("left_wrist"), "right_arm": names.index("right_wrist")}
    except ValueError:
        return {}
    s = spec.layout.slices
    fps = spec.fps
    vel = features[:, s["local_velocity"]].reshape(len(features), spec.num_joints, 3)
    leg_speed = float(np.linalg.norm(vel[1:, legs][..., [0, 2]], axis=-1).mean() * fps)
    root_path = features[:, s["root_linear_velocity"]].sum(axis=0)          # per-frame xz steps, root frame
    drift = float(np.linalg.norm(root_path))
    if leg_speed >= LEG_STILL_SPEED or drift >= ROOT_STILL_DRIFT:
        return {}
    out = {"left_leg": STILL_LEGS_TEXT, "right_leg": STILL_LEGS_TEXT, "pelvis": STILL_LEGS_TEXT}
    ric = features[:, s["ric"]].reshape(len(features), spec.num_joints - 1, 3)
    for part, j in wrists.items():
        speed = float(np.linalg.norm(np.diff(ric[:, j - 1], axis=0), axis=-1).mean() * fps)
        if speed < ARM_STILL_SPEED:
            out[part] = STILL_ARM_TEXT
    return out
