"""Export cleanup: the post-process animators expect from generated motion (a light filter, foot locking, leg IK).

First the joint trajectories get a light Gaussian filter over time (``smooth_sigma`` = 1 frame at 20 fps: it
keeps 82% of a 2 Hz movement and 45% at 4 Hz, and removes frame-to-frame jitter; real mocap has under 1% of its
power above 4 Hz). Then the feet:

Where the motion's own foot-contact channels (HumanML3D features 259-262, one per ankle and toe) say a foot is on
the ground, the foot is pinned to one place: its mean position over that contact run, laid on the floor if it
hovers within ``floor_snap`` of it. The pin blends in and out over ``blend`` frames. The hip, the knee and the
ankle are then re-solved with analytic two-bone IK, with the thigh and shin lengths fixed to the motion's median
bone lengths (so the leg's bones are exactly constant) and the knee kept in the plane of its original bend; the toe
follows the ankle rigidly at the median foot length, or is pinned when it is the toe that touches.

The model's raw output is untouched (``motion.npy``); this changes only the joints that are exported (joints.npy,
BVH, previews). ``motiongen generate --no-cleanup`` turns it off; ``benchmarks/motion_quality.py`` reports raw and
cleaned output apart.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import HUMANML3D, SkeletonSpec

__all__ = ["clean_foot_contacts", "contacts_from_features", "leg_chains"]


def contacts_from_features(features: np.ndarray, spec: SkeletonSpec = HUMANML3D) -> np.ndarray:
    """(T, 4) bool: left ankle, left toe, right ankle, right toe on the ground (the features' contact channels)."""
    f = np.asarray(features)
    return f[:, spec.layout.slices["foot_contact"]] > 0.5


def leg_chains(spec: SkeletonSpec = HUMANML3D) -> list[tuple[int, int, int, int]]:
    """(hip, knee, ankle, toe) joint indices of the left and the right leg, in contact-channel order."""
    out = []
    for ankle, toe in (spec.left_foot_index, spec.right_foot_index):
        chain = next(c for c in spec.kinematic_chain if ankle in c and toe in c)
        i = chain.index(ankle)
        out.append((chain[i - 2], chain[i - 1], ankle, toe))
    return out


def _runs(flags: np.ndarray, min_len: int) -> list[tuple[int, int]]:
    runs, start = [], None
    for t, f in enumerate(list(flags) + [False]):
        if f and start is None:
            start = t
        elif not f and start is not None:
            if t - start >= min_len:
                runs.append((start, t))
            start = None
    return runs


def _pin(track: np.ndarray, runs, blend: int, floor_snap: float) -> tuple[np.ndarray, np.ndarray]:
    """Blend ``track`` (T, 3) towards one fixed point per run; returns the target track and the pin weight (T,)."""
    T = len(track)
    target = track.copy()
    weight = np.zeros(T)
    point = np.zeros((T, 3))
    for a, b in runs:
        p = track[a:b].mean(0)
        if p[1] < floor_snap:
            p[1] = max(0.0, track[a:b, 1].min())
        lo, hi = max(0, a - blend), min(T, b + blend)
        for t in range(lo, hi):
            d = 0 if a <= t < b else (a - t if t < a else t - b + 1)
            w = 1.0 - d / (blend + 1)
            if w > weight[t]:
                weight[t], point[t] = w, p
    return target * (1 - weight[:, None]) + point * weight[:, None], weight


def _two_bone_ik(hip, knee, target, l1, l2):
    """Knee (T, 3) and reached ankle (T, 3) for a hip, a wanted ankle and fixed lengths; bend plane from knee."""
    d = target - hip
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4)
    ankle = hip + u * dist
    pole = knee - hip
    pole = pole - (pole * u).sum(-1, keepdims=True) * u
    n = np.linalg.norm(pole, axis=-1, keepdims=True)
    fallback = np.cross(u, np.array([1.0, 0.0, 0.0]))          # knees bend forward (+Z) for a leg along -Y
    fallback /= np.maximum(np.linalg.norm(fallback, axis=-1, keepdims=True), 1e-9)
    pole = np.where(n > 1e-6, pole / np.maximum(n, 1e-9), fallback)
    cos_a = np.clip((l1 ** 2 + dist ** 2 - l2 ** 2) / (2 * l1 * dist), -1.0, 1.0)
    sin_a = np.sqrt(1 - cos_a ** 2)
    return hip + u * l1 * cos_a + pole * l1 * sin_a, ankle


def clean_foot_contacts(joints: np.ndarray, contacts: np.ndarray, spec: SkeletonSpec = HUMANML3D,
                        blend: int = 3, min_run: int = 2, floor_snap: float = 0.08,
                        smooth_sigma: float = 1.0) -> np.ndarray:
    """Joints (T, J, 3) filtered, with feet locked where ``contacts`` (T, 4) say so and legs re-solved by IK
    (module doc). ``smooth_sigma=0`` skips the filter."""
    j = np.array(joints, dtype=np.float64, copy=True)
    c = np.asarray(contacts, dtype=bool)
    if j.ndim != 3 or j.shape[1] != spec.num_joints or j.shape[2] != 3:
        raise ValueError(f"joints: expected (T, {spec.num_joints}, 3), got {j.shape}")
    if c.shape != (len(j), 4):
        raise ValueError(f"contacts: expected ({len(j)}, 4), got {c.shape}")
    if not np.isfinite(j).all():
        raise ValueError("joints contain NaN or infinite values")
    if smooth_sigma > 0 and len(j) > 2:
        from scipy.ndimage import gaussian_filter1d
        j = gaussian_filter1d(j, smooth_sigma, axis=0, mode="nearest")
    for side, (hip, knee, ankle, toe) in enumerate(leg_chains(spec)):
        ankle_on, toe_on = c[:, 2 * side], c[:, 2 * side + 1]
        if not (ankle_on | toe_on).any():
            continue
        l1 = float(np.median(np.linalg.norm(j[:, knee] - j[:, hip], axis=-1)))
        l2 = float(np.median(np.linalg.norm(j[:, ankle] - j[:, knee], axis=-1)))
        l3 = float(np.median(np.linalg.norm(j[:, toe] - j[:, ankle], axis=-1)))
        foot = j[:, toe] - j[:, ankle]
        a_target, _ = _pin(j[:, ankle], _runs(ankle_on, min_run), blend, floor_snap)
        t_target, t_weight = _pin(j[:, toe], _runs(toe_on, min_run), blend, floor_snap)
        new_knee, new_ankle = _two_bone_ik(j[:, hip], j[:, knee], a_target, l1, l2)
        # the toe: pinned where it touches, else carried rigidly by the ankle; always at the foot's length
        toe_pos = np.where(t_weight[:, None] > 0, t_target, new_ankle + foot)
        v = toe_pos - new_ankle
        v /= np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
        j[:, knee], j[:, ankle], j[:, toe] = new_knee, new_ankle, new_ankle + v * l3
    return j.astype(np.asarray(joints).dtype, copy=False)
