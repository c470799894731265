"""Physical plausibility of generated joints (no evaluator needed). Joints (T, J, 3) in metres, Y up, 20 fps.

* foot skating ratio: among frames where a foot (ankle or toe) is near the floor (height < 5 cm, as in GMD /
  OmniControl), the fraction where it slides faster than 2.5 cm per frame horizontally;
* jitter: mean magnitude of the third time derivative of all joint positions (m / s^3);
* floor penetration: mean depth below the floor of the lowest joint, over frames where it is below (m);
* floating: mean height of the lowest joint above the floor over frames where no foot is near it (m).
The floor is y = 0 (the HumanML3D convention our features decode to).
"""
from __future__ import annotations

import numpy as np

from ..skeleton import HUMANML3D, SkeletonSpec

__all__ = ["physical_metrics"]


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
    return {"foot_skating": skating, "jitter": float(np.linalg.norm(jerk, axis=-1).mean()),
            "penetration": penetration, "floating": floating}
