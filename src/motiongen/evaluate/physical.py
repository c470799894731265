"""Physical plausibility of generated joints (no evaluator needed). Joints (T, J, 3) in metres, Y up, 20 fps.

* foot skating ratio: among frames where a foot (ankle or toe) is near the floor (height < 5 cm, as in GMD /
  OmniControl), the fraction where it slides faster than 2.5 cm per frame horizontally;
* jitter: mean magnitude of the third time derivative of all joint positions (m / s^3);
* floor penetration: mean depth below the floor of the lowest joint, over frames where it is below (m);
* floating: mean height of the lowest joint above the floor over frames where no foot is near it (m);
* foot_skating_gmd: GMD / OmniControl's skating ratio (:func:`skating_ratio_gmd`), comparable with MDM's 0.094.
The floor is y = 0 (the HumanML3D convention our features decode to).

:func:`foot_metrics` adds what animators check on feet, including GMD / OmniControl's skating ratio
(:func:`skating_ratio_gmd`), toe acceleration and the legs' share of power above 4 Hz.
"""
from __future__ import annotations

import numpy as np

from ..skeleton import HUMANML3D, SkeletonSpec

__all__ = ["physical_metrics", "skating_ratio_gmd", "leg_high_freq_share", "foot_metrics"]


def physical_metrics(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D, fps: float = 20.0,
                     contact_height: float = 0.05, skate_speed: float = 0.025) -> dict[str, float]:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[-1] != 3 or len(j) < 4:
        raise ValueError(f"joints: expected (T >= 4, J, 3), got {j.shape}")
    feet = list(spec.left_foot_index) + list(spec.right_foot_index)
    fh = j[:, feet, 1]                                             # (T, 4)
    step = np.linalg.norm(np.diff(j[:, feet][:, :, [0, 2]], axis=0), axis=-1)   # (T-1, 4) horizontal
    near = (fh[1:] < contact_height) & (fh[:-1] < contact_height)
    skating = float((step[near] > skate_speed).mean()) if near.any() else 0.0
    jerk = np.diff(j, n=3, axis=0) * fps ** 3
    lowest = j[:, :, 1].min(1)
    below = lowest < 0
    penetration = float(-lowest[below].mean()) if below.any() else 0.0
    air = ~(fh < contact_height).any(1)
    floating = float(lowest[air].mean()) if air.any() else 0.0
    return {"foot_skating": skating, "foot_skating_gmd": skating_ratio_gmd(j, spec, fps)[0],
            "jitter": float(np.linalg.norm(jerk, axis=-1).mean()), "penetration": penetration, "floating": floating}


def skating_ratio_gmd(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D, fps: float = 20.0,
                      height: float = 0.05, speed: float = 0.5, window: int = 5) -> tuple[float, float]:
    """Foot skating as GMD (Karunratanakul et al. 2023) and OmniControl (Xie et al. 2024) measure it, after their
    ``calculate_skating_ratio`` (OmniControl's ``utils/metrics.py``): the toes (HumanML3D joints 10, 11); a toe is
    in contact between two frames when it is below ``height`` (5 cm) in both; a frame pair skates when, for either
    toe, it is in contact and its horizontal speed exceeds ``speed`` (0.5 m/s) both in that pair and averaged over a
    ``window``-frame uniform filter (``scipy.ndimage.uniform_filter1d``, mode 'constant'). Returns (the share of
    all T-1 frame pairs that skate -- the figure MDM reports as 0.094 and OmniControl as 0.055 --, the mean
    window-averaged speed of toes in contact, in m/s)."""
    from scipy.ndimage import uniform_filter1d
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[-1] != 3 or len(j) < 2:
        raise ValueError(f"joints: expected (T >= 2, J, 3), got {j.shape}")
    toes = [spec.left_foot_index[1], spec.right_foot_index[1]]
    feet = j[:, toes]                                                       # (T, 2, 3)
    vel = np.linalg.norm(np.diff(feet[..., [0, 2]], axis=0), axis=-1) * fps  # (T-1, 2)
    vel_avg = uniform_filter1d(vel, size=window, axis=0, mode="constant", origin=0)
    contact = (feet[:-1, :, 1] < height) & (feet[1:, :, 1] < height)
    skating = (contact & (vel > speed) & (vel_avg > speed)).any(1)
    skate_speed = float(vel_avg[contact].mean()) if contact.any() else 0.0
    return float(skating.mean()), skate_speed


def leg_high_freq_share(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D, fps: float = 20.0,
                        cutoff_hz: float = 4.0) -> float:
    """Share of the legs' motion power above ``cutoff_hz``: knee, ankle and toe positions relative to the pelvis,
    each coordinate linearly detrended, summed over the legs (real mocap: a few percent)."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[-1] != 3 or len(j) < 8:
        raise ValueError(f"joints: expected (T >= 8, J, 3), got {j.shape}")
    legs = [spec.joint_index(f"{side}_{part}") for side in ("left", "right") for part in ("knee", "ankle", "foot")]
    sig = (j[:, legs] - j[:, :1]).reshape(len(j), -1)
    t = np.arange(len(sig), dtype=np.float64)[:, None]
    A = np.concatenate([t, np.ones_like(t)], axis=1)
    coef, *_ = np.linalg.lstsq(A, sig, rcond=None)
    power = np.abs(np.fft.rfft(sig - A @ coef, axis=0)) ** 2
    freqs = np.fft.rfftfreq(len(sig), 1.0 / fps)
    total = power[1:].sum()
    return float(power[freqs > cutoff_hz].sum() / total) if total > 0 else 0.0


def foot_metrics(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D, fps: float = 20.0) -> dict[str, float]:
    """What animators check on feet (benchmarks/feet.py), joints (T >= 8, J, 3) in metres, Y up, floor y = 0:

    * ``skating``: our ratio (:func:`physical_metrics`: feet near the floor sliding > 2.5 cm per frame);
    * ``skating_gmd``, ``skate_speed_cm_s``: GMD / OmniControl's ratio and the toes' mean speed while in contact
      (:func:`skating_ratio_gmd`);
    * ``penetration_cm``: deepest point below the floor over the clip (0 if none); ``floating_cm``: mean height of
      the lowest joint over frames where no foot is within 5 cm of the floor (:func:`physical_metrics`);
    * ``toe_acc_peak``, ``toe_acc_mean``: the toes' acceleration (second difference, m/s^2), peak and mean;
    * ``leg_high_freq``: :func:`leg_high_freq_share` above 4 Hz;
    * ``feet_low_share``: share of toe-frames within 5 cm of the floor; ``airborne_share``: share of frames with
      both toes more than 5 cm up;
    * ``foot_jump_cm``: the biggest per-frame move of any foot joint."""
    j = np.asarray(joints, dtype=np.float64)
    phys = physical_metrics(j, spec, fps)
    gmd, speed = skating_ratio_gmd(j, spec, fps)
    toes = [spec.left_foot_index[1], spec.right_foot_index[1]]
    feet = list(spec.left_foot_index) + list(spec.right_foot_index)
    acc = np.linalg.norm(np.diff(j[:, toes], n=2, axis=0), axis=-1) * fps ** 2
    th = j[:, toes, 1]
    return {"skating": phys["foot_skating"], "skating_gmd": gmd, "skate_speed_cm_s": 100 * speed,
            "penetration_cm": 100 * max(0.0, -float(j[..., 1].min())), "floating_cm": 100 * phys["floating"],
            "toe_acc_peak": float(acc.max()), "toe_acc_mean": float(acc.mean()),
            "leg_high_freq": leg_high_freq_share(j, spec, fps),
            "feet_low_share": float((th < 0.05).mean()), "airborne_share": float((th > 0.05).all(1).mean()),
            "foot_jump_cm": 100 * float(np.linalg.norm(np.diff(j[:, feet], axis=0), axis=-1).max())}
