"""Motion-quality measures for animation use (no evaluator network needed). Joints (T, J, 3), metres, Y up, 20 fps.

* ``jerk``: mean magnitude of the third time derivative of the joint positions (m/s^3);
* ``high_freq``: share of the motion's power above 4 Hz -- joint positions relative to the pelvis plus the pelvis
  trajectory, each coordinate linearly detrended -- (human motion has almost none: about 2% in mocap);
* ``bone_cv``: mean over bones of std/mean of the bone's length over time (0 for a rigid skeleton);
* ``root_speed``: mean horizontal speed of the pelvis (m/s); ``drift``: horizontal distance between the first and
  the last pelvis position (m), the figure that matters for actions that should stay in place;
* :func:`spread`: mean pairwise distance between motions (per-joint, per-frame, after a 5-frame moving average so
  that shaking does not count as variety), used for seed spread vs. the spread of real clips sharing a caption;
* plus the physical metrics of :mod:`.physical` (foot skating, floor penetration, floating).
"""
from __future__ import annotations

import itertools
import re

import numpy as np

from ..skeleton import HUMANML3D, SkeletonSpec
from .actions import action_of_caption
from .physical import physical_metrics

__all__ = ["motion_quality", "spread", "is_locomotion", "LOCOMOTION_WORDS", "action_check"]

LOCOMOTION_WORDS = ("walk", "run", "jog", "dash", "sprint", "step", "turn", "move", "go", "limp", "stroll", "hop",
                    "jump", "skip", "march", "trot", "wander", "stride", "strut", "shuffle", "crawl", "amble",
                    "trek", "hurr", "stagger", "sidestep", "backward", "forward", "ahead", "toward", "circle")


def is_locomotion(caption: str) -> bool:
    """Whether a caption asks for travelling (else the action should stay in place)."""
    words = re.findall(r"[a-z]+", caption.lower())
    return any(w.startswith(k) for w in words for k in LOCOMOTION_WORDS)


def _high_freq_share(joints: np.ndarray, fps: float, cutoff: float) -> float:
    rel = joints - joints[:, :1]
    sig = np.concatenate([rel[:, 1:].reshape(len(joints), -1), joints[:, 0]], axis=1)      # (T, C)
    t = np.arange(len(sig))[:, None]
    A = np.concatenate([t, np.ones_like(t)], axis=1).astype(np.float64)
    coef, *_ = np.linalg.lstsq(A, sig, rcond=None)
    sig = sig - A @ coef
    power = np.abs(np.fft.rfft(sig, axis=0)) ** 2
    freqs = np.fft.rfftfreq(len(sig), 1.0 / fps)
    total = power[1:].sum()
    return float(power[freqs > cutoff].sum() / total) if total > 0 else 0.0


def motion_quality(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D, fps: float = 20.0,
                   cutoff_hz: float = 4.0) -> dict[str, float]:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1:] != (spec.num_joints, 3) or len(j) < 8:
        raise ValueError(f"joints: expected (T >= 8, {spec.num_joints}, 3), got {j.shape}")
    out = physical_metrics(j, spec, fps)
    jerk = np.diff(j, n=3, axis=0) * fps ** 3
    out["jerk"] = float(np.linalg.norm(jerk, axis=-1).mean())
    out["high_freq"] = _high_freq_share(j, fps, cutoff_hz)
    parents = spec.parents
    cvs = []
    for child, parent in enumerate(parents):
        if parent < 0:
            continue
        length = np.linalg.norm(j[:, child] - j[:, parent], axis=-1)
        cvs.append(length.std() / max(length.mean(), 1e-9))
    out["bone_cv"] = float(np.mean(cvs))
    root = j[:, 0, [0, 2]]
    out["root_speed"] = float(np.linalg.norm(np.diff(root, axis=0), axis=-1).mean() * fps)
    out["drift"] = float(np.linalg.norm(root[-1] - root[0]))
    return out


def _smooth(j: np.ndarray, k: int = 5) -> np.ndarray:
    pad = np.concatenate([np.repeat(j[:1], k // 2, 0), j, np.repeat(j[-1:], k // 2, 0)])
    c = np.cumsum(np.concatenate([np.zeros_like(pad[:1]), pad]), axis=0)
    return (c[k:] - c[:-k]) / k


def spread(motions: list[np.ndarray]) -> float:
    """Mean pairwise distance (m per joint per frame) between low-passed motions, over their common length."""
    if len(motions) < 2:
        raise ValueError("spread needs at least two motions")
    n = min(len(m) for m in motions)
    sm = [_smooth(np.asarray(m, np.float64)[:n]) for m in motions]
    return float(np.mean([np.linalg.norm(a - b, axis=-1).mean() for a, b in itertools.combinations(sm, 2)]))


def _yaw_change(j: np.ndarray, spec: SkeletonSpec) -> float:
    """Signed heading change (degrees, + = to the person's left) from the hips' across-vector."""
    lh, rh = spec.joint_index("left_hip"), spec.joint_index("right_hip")
    across = j[:, lh] - j[:, rh]
    fwd = np.stack([-across[:, 2], across[:, 0]], axis=-1)          # (x, z) forward = up x across, on the floor
    ang = np.unwrap(np.arctan2(fwd[:, 0], fwd[:, 1]))
    return float(np.degrees(ang[-1] - ang[0]))


def action_check(caption: str, joints: np.ndarray, spec: SkeletonSpec = HUMANML3D, fps: float = 20.0):
    """A rule-based check that a motion does what its (original) caption says, or None when no rule applies; the
    action and side are the caption's by :func:`motiongen.evaluate.actions.action_of_caption`:

    * turns: the heading changes by more than 45 degrees in the named direction;
    * travelling (walk, run, jog, dash ...): the pelvis moves at more than 0.4 m/s on average;
    * raising a hand / both hands: the named wrist(s) rise above the head at some frame;
    * waving with a hand / both hands: the named wrist(s) are above the shoulder for at least a fifth of the frames.
    It is a coarse proxy for semantics, independent of any learned evaluator (used for wording robustness)."""
    c = caption.lower()
    j = np.asarray(joints, dtype=np.float64)
    action, side = action_of_caption(c)
    head = spec.joint_index("head")
    wrists = {"left": [spec.joint_index("left_wrist")], "right": [spec.joint_index("right_wrist")]}
    wrists["both"] = wrists["left"] + wrists["right"]
    shoulders = {"left": [spec.joint_index("left_shoulder")], "right": [spec.joint_index("right_shoulder")]}
    shoulders["both"] = shoulders["left"] + shoulders["right"]
    if action == "turn" and side in ("left", "right"):
        yaw = _yaw_change(j, spec)
        return bool(yaw > 45) if side == "left" else bool(yaw < -45)
    if action == "raise hands" and side:
        return bool(all((j[:, w, 1] > j[:, head, 1]).any() for w in wrists[side]))
    if action == "wave" and side:
        return bool(all(((j[:, w, 1] > j[:, s, 1]).mean() >= 0.2) for w, s in zip(wrists[side], shoulders[side])))
    if is_locomotion(c) and not re.search(r"\b(in place|on the spot)\b", c):
        root = j[:, 0, [0, 2]]
        return bool(np.linalg.norm(np.diff(root, axis=0), axis=-1).mean() * fps > 0.4)
    return None
