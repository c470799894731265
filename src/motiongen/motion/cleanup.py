"""The export's foot pass: foot locking as animation tools do it (MotionBuilder-style foot planting).

:func:`plant_feet` takes joints (T, J, 3) (metres, Y up, floor y = 0) and returns them with planted feet:

1. **Contacts from the motion itself** (:func:`detect_contacts`), per ankle and per toe: a joint is on the ground
   when it is low (height above its own rest height, the clip's 5th height percentile) and slow (horizontal
   speed), with hysteresis (stricter bars to start a contact than to keep one). The speed bar is also relative:
   a share of the foot's own peak speed within half a second, capped (a generated foot that slides through its
   stance slows down without stopping). The model's contact channels (HumanML3D features 259-262) are only a
   hint: where they say "contact", the looser keep-bars also start one. Breaks of up to ``max_gap`` frames are
   closed (no step is that short) and contacts shorter than ``min_contact`` frames dropped.
2. **Locks eased in and out**: each contact run holds its joint at one point (the run's positions averaged with
   weights 1 / speed, so mostly where the foot is slowest; never below the floor). The lock weight is 1 inside
   the run and falls to 0 over ``ease`` frames either side along a smoothstep (C1, no steps); neighbouring runs
   share the gap between them. Outside full locks the correction (locked minus original) is low-passed
   (Gaussian, ``smooth_sigma`` frames), so the pass adds no frame-to-frame motion of its own.
3. **Root height**: the whole body is raised just enough that no joint goes below the floor, and lowered just
   enough (at most ``max_root_drop``) that a locked ankle stays within reach of the hip (after the IK, whatever a tilted foot still puts
   below the floor raises the body once more). Both offsets are smooth envelopes (a running max, then a Gaussian
   no wider than it, so the envelope never falls below the requirement).
4. **Two-bone leg IK** (hip -> knee -> ankle, analytic): thigh and shin at the motion's median lengths (bones
   exactly constant), the knee in the plane of its own original bend (the pole is the original knee, so a knee
   that bends sideways or backwards keeps doing so); the toe at the median foot length, pointing at its locked
   point or, when unlocked, along the original foot.

Apart from the whole body's height, only knees, ankles and toes move; the root's horizontal path is untouched. The model's raw
output is untouched too (``motion.npy``); this changes the exported joints (joints.npy, BVH, GLB, previews, the
studio: all of them take :meth:`motiongen.pipeline.MotionPipeline.joints_for`). ``motiongen generate
--no-cleanup`` turns it off; ``benchmarks/feet.py`` measures raw, exported and real motion side by side.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d, maximum_filter1d

from ..skeleton import HUMANML3D, SkeletonSpec

__all__ = ["FootSettings", "plant_feet", "detect_contacts", "contacts_from_features", "leg_chains",
           "lock_weights", "two_bone_ik"]


@dataclass(frozen=True)
class FootSettings:
    """Thresholds of the foot pass (metres, m/s, frames at the motion's fps)."""

    start_height: float = 0.05      # a contact starts below this height above the joint's rest height ...
    start_speed: float = 0.35       # ... and below this horizontal speed
    keep_height: float = 0.08       # and lasts while below these (hysteresis)
    ankle_height: tuple = (0.03, 0.05)   # the ankle's start / keep heights (the heel leaves the floor first)
    keep_speed: float = 0.6
    relative_start: float = 0.35    # ... or below this share of the foot's own peak speed within +-0.5 s
    relative_keep: float = 0.5      #     (generated feet that slide through stance slow down but do not stop)
    max_start_speed: float = 1.0    # caps of the relative bars (a foot faster than this is not standing)
    max_keep_speed: float = 1.4
    min_contact: int = 3            # shorter contacts are dropped
    max_gap: int = 3                # shorter breaks in a contact are closed
    ease: int = 3                   # frames over which a lock eases in and out
    vertical_ease_power: float = 3.0  # the height eases by the weight cubed (later in, sooner out)
    smooth_sigma: float = 1.0       # Gaussian (frames) on the correction outside full locks
    hold_distance: float = 0.06     # a lock moves its foot by up to this exactly (m), then ...
    max_correction: float = 0.15    # ... saturates towards this: a foot that drifts further slides (no pops)
    root_sigma: float = 2.0         # Gaussian (frames) of the root-height envelope
    max_root_drop: float = 0.0      # the most the root may be lowered for a locked ankle's reach (m; 0 = never) ...
    reach_slack: float = 0.01       # ... beyond the first centimetre (m)
    floor: float = 0.0


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


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of the True runs."""
    f = np.concatenate([[False], np.asarray(flags, bool), [False]])
    edges = np.flatnonzero(f[1:] != f[:-1])
    return list(zip(edges[::2].tolist(), edges[1::2].tolist()))


def _foot_joints(spec: SkeletonSpec) -> list[int]:
    return [spec.left_foot_index[0], spec.left_foot_index[1], spec.right_foot_index[0], spec.right_foot_index[1]]


def detect_contacts(joints: np.ndarray, hint: np.ndarray | None = None, spec: SkeletonSpec = HUMANML3D,
                    fps: float | None = None, settings: FootSettings = FootSettings()) -> np.ndarray:
    """(T, 4) bool contacts (left ankle, left toe, right ankle, right toe) from height and speed with hysteresis,
    the ``hint`` (T, 4) bool (the model's contact channels) lowering the bar to start one (module doc).
    ``fps``: the skeleton's own frame rate unless given (KIT-ML is 12.5 fps)."""
    fps = spec.fps if fps is None else fps
    j = np.asarray(joints, dtype=np.float64)
    s = settings
    feet = _foot_joints(spec)
    h = j[:, feet, 1] - s.floor                                                     # (T, 4)
    rest = np.clip(np.percentile(h, 5, axis=0), 0.0, None)
    rest = np.minimum(rest, np.array([0.12, 0.05, 0.12, 0.05]))   # a joint this high at rest is off the floor
    h = h - rest
    speed = np.linalg.norm(np.gradient(j[:, feet][..., [0, 2]], axis=0), axis=-1) * fps if len(j) > 1 \
        else np.zeros_like(h)
    if len(j) > 2:
        speed = gaussian_filter1d(speed, 0.7, axis=0, mode="nearest")
    hint = np.zeros_like(h, bool) if hint is None else np.asarray(hint, bool)
    peak = maximum_filter1d(speed, size=max(1, int(round(fps))) | 1, axis=0, mode="nearest")
    h_start = np.array([s.ankle_height[0], s.start_height, s.ankle_height[0], s.start_height])
    h_keep = np.array([s.ankle_height[1], s.keep_height, s.ankle_height[1], s.keep_height])
    start = (h < h_start) & (speed < np.clip(s.relative_start * peak, s.start_speed, s.max_start_speed))
    keep = (h < h_keep) & (speed < np.clip(s.relative_keep * peak, s.keep_speed, s.max_keep_speed))
    start |= hint & keep
    out = np.zeros_like(h, bool)
    for k in range(4):
        on = False
        for t in range(len(j)):
            on = bool(keep[t, k]) if on else bool(start[t, k])
            out[t, k] = on
        for a, b in _runs(~out[:, k]):                   # close short gaps (no step is that short)
            if b - a <= s.max_gap and a > 0 and b < len(j):
                out[a:b, k] = True
        for a, b in _runs(out[:, k]):
            if b - a < s.min_contact:
                out[a:b, k] = False
    return out


def _smoothstep(x: np.ndarray) -> np.ndarray:
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def lock_weights(flags: np.ndarray, ease: int) -> list[tuple[int, int, np.ndarray]]:
    """Per contact run: (start, end, weight (T,)), the weight 1 in the run and easing to 0 over up to ``ease``
    frames either side (fewer where the gap to the next run is short: the two share it, so weights never sum
    past 1)."""
    runs = _runs(flags)
    T = len(flags)
    out = []
    for i, (a, b) in enumerate(runs):
        gap_before = a - runs[i - 1][1] if i > 0 else None
        gap_after = runs[i + 1][0] - b if i + 1 < len(runs) else None
        r_in = ease if gap_before is None else min(ease, gap_before // 2)           # the gap: the later run
        r_out = ease if gap_after is None else min(ease, gap_after - gap_after // 2)  # gets its floor half
        t = np.arange(T)
        w = np.zeros(T)
        w[a:b] = 1.0
        if r_in > 0:
            m = (t >= a - r_in) & (t < a)
            w[m] = _smoothstep((t[m] - (a - r_in - 1)) / (r_in + 1))
        if r_out > 0:
            m = (t >= b) & (t < b + r_out)
            w[m] = _smoothstep(((b + r_out) - t[m]) / (r_out + 1))
        out.append((a, b, w))
    return out


def _locked_track(track: np.ndarray, flags: np.ndarray, s: FootSettings, fps: float) -> tuple[np.ndarray, np.ndarray]:
    """``track`` (T, 3) with its contact runs held (eased, module doc); returns it and the total lock weight.

    A run's point is its positions' mean weighted by 1 / (speed + 5 cm/s): where the foot really stands still
    (real motion) that frame's position, where it slides evenly (generated motion) the middle of the slide, so
    that the correction at either end is smallest."""
    correction = np.zeros_like(track)
    total = np.zeros(len(track))
    speed = np.linalg.norm(np.gradient(track[:, [0, 2]], axis=0), axis=-1) * fps
    for a, b, w in lock_weights(flags, s.ease):
        k = 1.0 / (speed[a:b] + 0.05)
        p = (track[a:b] * k[:, None]).sum(0) / k.sum()
        p[1] = max(p[1], s.floor)
        wv = np.stack([w, w ** s.vertical_ease_power, w], axis=-1)  # height eases in later and out sooner
        correction += wv * (p - track)
        total += w
    total = np.minimum(total, 1.0)
    correction = _soft_clamp(correction, s.hold_distance, s.max_correction)
    if len(track) > 2 and s.smooth_sigma > 0:
        smooth = gaussian_filter1d(correction, s.smooth_sigma, axis=0, mode="nearest")
        full = (total >= 1.0)[:, None]
        correction = np.where(full, correction, smooth)
    return track + correction, total


def _soft_clamp(v: np.ndarray, knee: float, limit: float) -> np.ndarray:
    """Vectors (T, 3) unchanged up to length ``knee``, then smoothly (C1, tanh) saturating towards ``limit``."""
    if not np.isfinite(limit) or limit <= knee:
        return v
    n = np.linalg.norm(v, axis=-1, keepdims=True)
    squashed = knee + (limit - knee) * np.tanh((n - knee) / (limit - knee))
    return np.where(n > knee, v * squashed / np.maximum(n, 1e-12), v)


def _envelope(x: np.ndarray, sigma: float) -> np.ndarray:
    """A smooth curve >= ``x`` everywhere: a running max as wide as the Gaussian's support, then the Gaussian."""
    if sigma <= 0 or len(x) < 3:
        return np.array(x, dtype=np.float64)
    radius = int(3.0 * sigma + 0.5)
    wide = maximum_filter1d(x, size=2 * radius + 1, mode="nearest")
    return np.maximum(gaussian_filter1d(wide, sigma, mode="nearest", truncate=3.0), x)


def two_bone_ik(hip, knee, target, l1, l2, max_reach=None):
    """Analytic two-bone leg IK: knee (T, 3) and reached ankle (T, 3) for hips (T, 3), wanted ankles (T, 3) and
    bone lengths ``l1`` (thigh), ``l2`` (shin) (scalars or (T, 1)); the bend plane (pole) from the original knee.
    The ankle reaches at most ``max_reach`` from the hip (default: ``l1 + l2`` less 0.1 mm)."""
    d = target - hip
    dist = np.linalg.norm(d, axis=-1, keepdims=True)
    u = d / np.maximum(dist, 1e-9)
    dist = np.clip(dist, abs(l1 - l2) + 1e-4, l1 + l2 - 1e-4 if max_reach is None else max_reach)
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


def plant_feet(joints: np.ndarray, hint: np.ndarray | None = None, spec: SkeletonSpec = HUMANML3D,
               fps: float | None = None, settings: FootSettings = FootSettings(),
               contacts: np.ndarray | None = None) -> np.ndarray:
    """Joints (T, J, 3) with planted feet (module doc). ``hint``: the model's contact channels (T, 4) bool;
    ``contacts``: use these (T, 4) instead of detecting them. ``fps``: the skeleton's own unless given."""
    fps = spec.fps if fps is None else fps
    j = np.array(joints, dtype=np.float64, copy=True)
    s = settings
    if j.ndim != 3 or j.shape[1] != spec.num_joints or j.shape[2] != 3:
        raise ValueError(f"joints: expected (T, {spec.num_joints}, 3), got {j.shape}")
    for name, arr in (("hint", hint), ("contacts", contacts)):
        if arr is not None and np.shape(arr) != (len(j), 4):
            raise ValueError(f"{name}: expected ({len(j)}, 4), got {np.shape(arr)}")
    if not np.isfinite(j).all():
        raise ValueError("joints contain NaN or infinite values")
    if len(j) < 2:
        return j.astype(np.asarray(joints).dtype, copy=False)
    c = detect_contacts(j, hint, spec, fps, s) if contacts is None else np.asarray(contacts, bool)
    chains = leg_chains(spec)
    lengths = []
    targets = []
    for side, (hip, knee, ankle, toe) in enumerate(chains):
        lengths.append(tuple(float(np.median(np.linalg.norm(j[:, b] - j[:, a], axis=-1)))
                             for a, b in ((hip, knee), (knee, ankle), (ankle, toe))))
        a_t, a_w = _locked_track(j[:, ankle], c[:, 2 * side], s, fps)
        t_t, t_w = _locked_track(j[:, toe], c[:, 2 * side + 1], s, fps)
        targets.append((a_t, a_w, t_t, t_w))

    # the root's height: up so that nothing goes through the floor, down so that locked ankles stay in reach
    lowest = j[:, :, 1].min(1)                  # (the locked points are never below the floor themselves)
    raise_by = _envelope(np.maximum(s.floor - lowest, 0.0), s.root_sigma)
    lower_by = np.zeros(len(j))
    free_lowest = np.delete(j[:, :, 1], _foot_joints(spec), axis=1).min(1)   # what moves with the root
    for (hip, _, ankle, toe), (l1, l2, _), (a_t, a_w, _, t_w) in zip(chains, lengths, targets):
        free_lowest = np.minimum(free_lowest, np.where(a_w < 0.999, j[:, ankle, 1], np.inf))
        free_lowest = np.minimum(free_lowest, np.where(t_w < 0.999, j[:, toe, 1], np.inf))
        # only the locked share of the target stays put when the root moves; the rest moves along with it
        hip_pos = j[:, hip] + raise_by[:, None] * np.array([0.0, 1.0, 0.0])
        tgt = a_t + ((1 - a_w) * raise_by)[:, None] * np.array([0.0, 1.0, 0.0])
        # the leg may stretch as far as it did in the motion itself (real legs straighten at push-off), no further
        own = np.linalg.norm(j[:, ankle] - j[:, hip], axis=-1)
        reach = np.maximum(0.995 * (l1 + l2), np.minimum(own, l1 + l2 - 1e-4))
        dh2 = ((hip_pos - tgt)[:, [0, 2]] ** 2).sum(-1)
        dv = hip_pos[:, 1] - tgt[:, 1]
        need = dv - np.sqrt(np.maximum(reach ** 2 - dh2, 0.0))      # lowering that brings the ankle in reach
        # (a locked ankle may fall short by ``reach_slack``: real motion then keeps its own height)
        need = np.where(np.sqrt(dh2 + dv ** 2) > reach, np.maximum(need - s.reach_slack, 0.0) * a_w, 0.0)
        lower_by = np.maximum(lower_by, need)
    lower_by = _envelope(np.minimum(lower_by, s.max_root_drop), s.root_sigma)
    # the floor is a hard limit, reach a wish: lower only as far as the free-moving joints stay above the floor
    allowed = -_envelope(-np.maximum(raise_by + free_lowest - s.floor, 0.0), s.root_sigma)
    dy = raise_by - np.clip(np.minimum(lower_by, allowed), 0.0, None)
    j[:, :, 1] += dy[:, None]

    for (hip, knee, ankle, toe), (l1, l2, l3), (a_t, a_w, t_t, t_w) in zip(chains, lengths, targets):
        up = dy[:, None] * np.array([0.0, 1.0, 0.0])
        a_goal = a_t + (1 - a_w)[:, None] * up               # unlocked share moves with the root
        t_goal = t_t + (1 - t_w)[:, None] * up
        foot = j[:, toe] - j[:, ankle]
        new_knee, new_ankle = two_bone_ik(j[:, hip], j[:, knee], a_goal, l1, l2)
        # the toe: towards its locked point as much as it is locked, else carried along the original foot
        toe_pos = t_w[:, None] * t_goal + (1 - t_w)[:, None] * (new_ankle + foot)
        v = toe_pos - new_ankle
        v /= np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-9)
        j[:, knee], j[:, ankle], j[:, toe] = new_knee, new_ankle, new_ankle + v * l3
    # what the IK's reach and a locked ankle's tilted foot left below the floor: the body up by as much (smoothly)
    j[:, :, 1] += _envelope(np.maximum(s.floor - j[:, :, 1].min(1), 0.0), s.root_sigma)[:, None]
    return j.astype(np.asarray(joints).dtype, copy=False)
