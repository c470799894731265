"""Control over where a motion starts, where it goes and how long it lasts, for every model.

* **Continuation** (``prefix``): the given motion's features are held on the first frames while the rest is
  sampled (inpainting, :class:`~motiongen.diffusion.sampling.Inpainting`), so the result starts with it and
  continues it. Only the last ``prefix_seconds`` of a long prefix are in the sampling window; the output holds the
  whole prefix and the continuation.
* **Key poses** (``keyframes``) and **paths** (``trajectory``): at every denoising step the x0 estimate is
  *projected* onto the constraints (:func:`project_features`): the root's heading and position corrections at the
  constrained frames are spread linearly over the frames between them (root yaw velocity and root XZ velocity
  channels), and at a key frame the root height and the rotation-invariant joint positions are set to the key
  pose. The model then denoises around the projected estimate, so the frames between move with the constraint;
  after the last step the constraints hold to float precision.
* **Long motion** (:func:`plan_windows`): models that read plans compose the stages themselves up to their
  ``max_frames``; beyond that, and for the other models, windows overlap by ``overlap`` frames, each holding its
  first frames to the end of the previous window (the continuation mechanism), and are joined in feature space,
  where the root is integrated from velocities, so the seams carry no jump in position or heading.

Coordinates: the model's frame starts at the origin facing +Z. Key poses and path points are in the output's
frame; when a key pose sits at frame 0, or a path is given, the output is placed (a yaw and a floor translation,
:attr:`MotionControl.placement`) so that frame 0 stands where they say, and the constraints are mapped into the
model's frame for the projection.
"""
from __future__ import annotations

import csv
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .skeleton import HUMANML3D, SkeletonSpec

__all__ = ["ControlError", "KeyPose", "MotionControl", "load_prefix", "load_keyframes", "load_trajectory",
           "project_features", "heading_of_pose", "place_joints", "plan_windows", "text_sets_facing"]

MAX_CONTROL_FILE = 64 * 2 ** 20
MAX_KEYFRAMES = 1000
MAX_WAYPOINTS = 100_000


class ControlError(ValueError):
    """A control input (prefix, keyframes, path) that cannot be used; the message names the file and field."""


@dataclass
class KeyPose:
    frame: int
    joints: np.ndarray            # (J, 3) metres, in the output's frame


@dataclass
class MotionControl:
    """Everything that constrains one generated motion (see the module docstring)."""

    prefix: np.ndarray | None = None              # (P, D) de-normalised features held on the first P frames
    keyposes: list[KeyPose] = field(default_factory=list)
    trajectory: np.ndarray | None = None          # (T, 2) root XZ per frame, in the output's frame
    follow_facing: bool = True                    # the body faces along the path
    placement: tuple[float, float, float] = (0.0, 0.0, 0.0)   # (x, z, yaw radians) of the model frame's origin

    @property
    def held_frames(self) -> int:
        return 0 if self.prefix is None else int(len(self.prefix))

    @property
    def active(self) -> bool:
        return self.prefix is not None or bool(self.keyposes) or self.trajectory is not None


# ---- reading control inputs ------------------------------------------------------------------------------------

def _check_file(path, what: str) -> Path:
    p = Path(path)
    if not p.exists():
        raise ControlError(f"{what}: file not found: {p}")
    if p.is_file() and p.stat().st_size > MAX_CONTROL_FILE:
        raise ControlError(f"{what}: {p} is larger than {MAX_CONTROL_FILE >> 20} MiB")
    return p


def _motion_joints(path: str, what: str, fps: float) -> np.ndarray:
    """Joints (T, J, 3) from a BVH (any supported rig), a joints/features .npy, or an output folder."""
    from .convert import load_motion
    from .motion.features import recover_joints_from_features
    p = _check_file(path.split("::")[0], what)
    if p.is_dir():
        feats = p / "motion.npy"
        if not feats.is_file():
            raise ControlError(f"{what}: {p} is a folder without motion.npy (not a motiongen output folder)")
        return recover_joints_from_features(np.load(feats, allow_pickle=False).astype(np.float32))
    try:
        return load_motion(path, fps=fps).joints
    except (ValueError, KeyError) as e:
        raise ControlError(f"{what}: {e}") from None


def _features_from_joints(joints: np.ndarray, what: str, spec: SkeletonSpec) -> tuple[np.ndarray, np.ndarray]:
    from .motion.features import joints_to_features
    if spec is not HUMANML3D or joints.shape[1] != HUMANML3D.num_joints:
        raise ControlError(f"{what}: motions for control must have the 22-joint HumanML3D layout, got "
                           f"{joints.shape[1]} joints")
    try:
        feats, positions = joints_to_features(np.asarray(joints, np.float64), spec)
    except ValueError as e:
        raise ControlError(f"{what}: {e}") from None
    if not np.isfinite(feats).all():
        raise ControlError(f"{what}: the motion's features came out NaN (zero-length bones or a frozen skeleton?)")
    return feats.astype(np.float32), positions


def _with_one_more_frame(joints: np.ndarray, what: str) -> np.ndarray:
    """Joints (T, J, 3) with one frame extrapolated at the end (the last frame's velocity, never below the lowest
    real joint), so that HumanML3D features, which give T-1 frames for T joints, hold all T frames of the motion."""
    joints = np.asarray(joints, np.float64)
    if len(joints) < 2:
        raise ControlError(f"{what}: the motion has {len(joints)} frame(s); at least 2 are needed")
    extra = 2.0 * joints[-1] - joints[-2]
    extra[:, 1] = np.maximum(extra[:, 1], joints[..., 1].min())      # the floor stays where it is
    return np.concatenate([joints, extra[None]])


def load_prefix(path: str | os.PathLike, spec: SkeletonSpec = HUMANML3D, fps: float = 20.0) -> np.ndarray:
    """The motion to continue, as de-normalised features (T, D): from a BVH of any supported rig, a joints .npy
    (T, 22, 3), a features .npy (T, 263) or an earlier output folder (its motion.npy). A motion of T frames gives T
    feature frames (see :func:`_with_one_more_frame`)."""
    path = str(path)
    p = _check_file(path.split("::")[0], "--prefix")
    if p.is_dir():
        feats_path = p / "motion.npy"
        if not feats_path.is_file():
            raise ControlError(f"--prefix: {p} is a folder without motion.npy (not a motiongen output folder)")
        feats = np.load(feats_path, allow_pickle=False)
    elif path.lower().endswith(".npy"):
        try:
            arr = np.load(p, allow_pickle=False)
        except ValueError as e:
            raise ControlError(f"--prefix: {p}: not a plain numeric .npy file ({e})") from None
        if arr.ndim == 2 and arr.shape[1] == spec.feature_dim:
            feats = arr
        elif arr.ndim == 3 and arr.shape[1:] == (spec.num_joints, 3):
            if not np.isfinite(arr).all():
                raise ControlError(f"--prefix: {p} contains NaN or infinite values")
            feats, _ = _features_from_joints(_with_one_more_frame(arr, f"--prefix {p}"), f"--prefix {p}", spec)
        else:
            raise ControlError(f"--prefix: {p}: expected joints (T, {spec.num_joints}, 3) or features "
                               f"(T, {spec.feature_dim}), got shape {arr.shape}")
    else:
        joints = _with_one_more_frame(_motion_joints(path, "--prefix", fps), f"--prefix {path}")
        feats, _ = _features_from_joints(joints, f"--prefix {path}", spec)
    feats = np.asarray(feats, np.float32)
    if feats.ndim != 2 or feats.shape[1] != spec.feature_dim:
        raise ControlError(f"--prefix: expected features (T, {spec.feature_dim}), got shape {feats.shape}")
    if len(feats) < 2:
        raise ControlError(f"--prefix: the motion has {len(feats)} frame(s); at least 2 are needed")
    if not np.isfinite(feats).all():
        raise ControlError("--prefix: the motion contains NaN or infinite values")
    return feats


def _read_json(path, what: str):
    p = _check_file(path, what)
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ControlError(f"{what}: {p} is not valid JSON ({e})") from None


def _number(v, where: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ControlError(f"{where}: expected a finite number, got {v!r}")
    return float(v)


def load_keyframes(path: str | os.PathLike, seconds: float, fps: float = 20.0,
                   spec: SkeletonSpec = HUMANML3D) -> list[KeyPose]:
    """Key poses from JSON: ``{"keyframes": [...]}`` or a list, each entry with ``time`` (seconds) and either
    ``joints`` ((22, 3) metres, Y up, in the output's frame) or ``file`` (BVH, joints .npy, features .npy or an
    output folder) and ``frame`` (that file's frame at 20 fps). A pose from a file is taken as that motion's
    processed frame (HumanML3D proportions, on the floor, its first frame at the origin facing +Z); ``root``
    ([x, z]) moves it. Times must lie within the motion's duration."""
    data = _read_json(path, "--keyframes")
    base = Path(path).parent
    entries = data.get("keyframes") if isinstance(data, dict) else data
    if not isinstance(entries, list) or not entries:
        raise ControlError(f"--keyframes: {path}: expected a list of key poses (or {{\"keyframes\": [...]}})")
    if len(entries) > MAX_KEYFRAMES:
        raise ControlError(f"--keyframes: at most {MAX_KEYFRAMES} key poses, got {len(entries)}")
    total = int(round(seconds * fps))
    poses: dict[int, KeyPose] = {}
    for i, e in enumerate(entries):
        where = f"--keyframes: {path}: keyframes[{i}]"
        if not isinstance(e, dict):
            raise ControlError(f"{where}: expected an object with 'time' and 'joints' or 'file'")
        if "time" not in e:
            raise ControlError(f"{where}.time: missing (seconds from the start)")
        t = _number(e["time"], f"{where}.time")
        if t < 0 or t > seconds + 1e-6:
            raise ControlError(f"{where}.time: {t:g} s is outside the motion (0 to {seconds:g} s)")
        frame = min(total - 1, int(round(t * fps)))
        if "joints" in e:
            try:
                joints = np.asarray(e["joints"], dtype=np.float64)
            except (TypeError, ValueError):
                raise ControlError(f"{where}.joints: expected {spec.num_joints} [x, y, z] triples") from None
            if joints.shape != (spec.num_joints, 3):
                raise ControlError(f"{where}.joints: expected shape ({spec.num_joints}, 3), got {joints.shape}")
        elif "file" in e:
            if not isinstance(e["file"], str):
                raise ControlError(f"{where}.file: expected a path")
            src = e["file"] if os.path.isabs(e["file"]) else str(base / e["file"])
            fr = e.get("frame", 0)
            if isinstance(fr, bool) or not isinstance(fr, int):
                raise ControlError(f"{where}.frame: expected a frame number, got {fr!r}")
            _, positions = _features_from_joints(_motion_joints(src, where, fps), where, spec)
            if not 0 <= fr < len(positions):
                raise ControlError(f"{where}.frame: {fr} is outside {src} (0 to {len(positions) - 1})")
            joints = positions[fr].copy()
        else:
            raise ControlError(f"{where}: give 'joints' or 'file' (and 'frame')")
        if not np.isfinite(joints).all():
            raise ControlError(f"{where}: the pose contains NaN or infinite values")
        if "root" in e:
            r = e["root"]
            if not isinstance(r, list) or len(r) != 2:
                raise ControlError(f"{where}.root: expected [x, z]")
            dx, dz = (_number(v, f"{where}.root") for v in r)
            joints = joints + np.array([dx - joints[0, 0], 0.0, dz - joints[0, 2]])
        if frame in poses:
            raise ControlError(f"{where}.time: another key pose already sits on frame {frame}")
        poses[frame] = KeyPose(frame, joints)
    return [poses[k] for k in sorted(poses)]


TRAJECTORY_COLUMNS = ("x", "z", "t")


def _trajectory_header(header: list[str], p) -> list[int]:
    """Column indices of x, z (and t) from a CSV header, in any order; an unknown or repeated name is refused."""
    names = [c.strip().lower() for c in header]
    for name in names:
        if name not in TRAJECTORY_COLUMNS:
            raise ControlError(f"--trajectory: {p}: unknown column '{name}' in the header; expected the columns "
                               "x, z and optionally t (seconds), in any order")
    if len(set(names)) != len(names):
        raise ControlError(f"--trajectory: {p}: the header names a column twice: {','.join(names)}")
    if "x" not in names or "z" not in names:
        raise ControlError(f"--trajectory: {p}: the header must name the columns x and z (and optionally t), "
                           f"got {','.join(names)}")
    return [names.index(c) for c in TRAJECTORY_COLUMNS if c in names]


def load_trajectory(path: str | os.PathLike, seconds: float, fps: float = 20.0) -> np.ndarray:
    """A path for the root as (T, 2) XZ per frame. JSON: ``{"points": [[x, z], ...], "times": [...]}`` or a list
    of ``[x, z]`` / ``[x, z, t]``; CSV: a header naming the columns x, z and optionally t in any order (``t,x,z``),
    or no header and the columns x, z[, t] in that order; an unknown header is refused. Without times the
    path is walked at constant speed over the whole duration; with times, the root holds the first point before
    the first time and the last after the last."""
    p = _check_file(path, "--trajectory")
    times = None
    if p.suffix.lower() == ".csv":
        try:
            rows = list(csv.reader(p.read_text(encoding="utf-8").splitlines()))
        except UnicodeDecodeError:
            raise ControlError(f"--trajectory: {p} is not a text CSV") from None
        rows = [r for r in rows if r and any(c.strip() for c in r)]
        order = None                                                    # columns as x, z[, t]
        if rows and not re.match(r"^\s*[-+.\d]", rows[0][0]):
            order = _trajectory_header(rows[0], p)
            rows = rows[1:]
        pts = []
        for i, r in enumerate(rows):
            try:
                vals = [float(c) for c in r]
            except ValueError:
                raise ControlError(f"--trajectory: {p}: row {i + 1} is not numbers: {r}") from None
            if order is not None:
                if len(vals) != len(order):
                    raise ControlError(f"--trajectory: {p}: row {i + 1} has {len(vals)} values; the header "
                                       f"names {len(order)} columns")
                vals = [vals[k] for k in order]
            pts.append(vals)
    else:
        data = _read_json(p, "--trajectory")
        if isinstance(data, dict):
            pts = data.get("points")
            times = data.get("times")
        else:
            pts = data
    if not isinstance(pts, list) or len(pts) < 2:
        n = len(pts) if isinstance(pts, list) else 0
        raise ControlError(f"--trajectory: {p}: a path needs at least 2 points, got {n}")
    if len(pts) > MAX_WAYPOINTS:
        raise ControlError(f"--trajectory: at most {MAX_WAYPOINTS} points, got {len(pts)}")
    widths = {len(q) if isinstance(q, list) else -1 for q in pts}
    if widths not in ({2}, {3}):
        raise ControlError(f"--trajectory: {p}: every point must be [x, z] or [x, z, t] (all alike)")
    arr = np.asarray([[_number(v, f"--trajectory: {p}: point {i + 1}") for v in q] for i, q in enumerate(pts)])
    xz = arr[:, :2]
    if arr.shape[1] == 3:
        times = arr[:, 2]
    if times is not None:
        if not isinstance(times, (list, np.ndarray)) or len(times) != len(xz):
            raise ControlError(f"--trajectory: {p}: 'times' must give one time per point")
        times = np.asarray([_number(v, f"--trajectory: {p}: times") for v in times])
        if (np.diff(times) <= 0).any():
            raise ControlError(f"--trajectory: {p}: times must increase")
        if times[0] < 0 or times[-1] > seconds + 1e-6:
            raise ControlError(f"--trajectory: {p}: times run from {times[0]:g} to {times[-1]:g} s, outside the "
                               f"motion (0 to {seconds:g} s)")
    else:
        seg = np.linalg.norm(np.diff(xz, axis=0), axis=1)
        if seg.sum() <= 1e-9:
            raise ControlError(f"--trajectory: {p}: all points are the same; give times to stand still")
        times = np.concatenate([[0.0], np.cumsum(seg)]) / seg.sum() * seconds
    frames = int(round(seconds * fps))
    t = np.arange(frames) / fps
    return np.stack([np.interp(t, times, xz[:, 0]), np.interp(t, times, xz[:, 1])], axis=1)


_FACING_WORDS = re.compile(r"\b(backwards?|sideways|side ?steps?|strafes?|moonwalks?|facing|faces|turned away)\b",
                           re.IGNORECASE)


def text_sets_facing(text: str) -> bool:
    """Whether a sentence says which way the body faces while it moves (then a path does not turn the body)."""
    return bool(_FACING_WORDS.search(text or ""))


# ---- geometry ------------------------------------------------------------------------------------------------

def heading_of_pose(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D) -> float:
    """The yaw (radians, 0 = facing +Z, positive towards +X) of a pose (J, 3), from hips and shoulders as
    HumanML3D computes the facing direction."""
    r_hip, l_hip, sdr_r, sdr_l = spec.face_joint_index
    across = (joints[r_hip] - joints[l_hip]) + (joints[sdr_r] - joints[sdr_l])
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    return float(math.atan2(forward[0], forward[2]))


def _yaw_matrix(yaw: float) -> np.ndarray:
    c, s = math.cos(yaw), math.sin(yaw)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])   # +Z turns towards +X for yaw > 0


def place_joints(joints: np.ndarray, placement) -> np.ndarray:
    """Model frame -> output frame: yaw about Y, then a floor translation (x, z)."""
    x, z, yaw = placement
    if x == 0 and z == 0 and yaw == 0:
        return joints
    out = np.asarray(joints, np.float64) @ _yaw_matrix(yaw).T
    out[..., 0] += x
    out[..., 2] += z
    return out.astype(np.asarray(joints).dtype, copy=False)


def _to_model_frame(points: np.ndarray, placement) -> np.ndarray:
    x, z, yaw = placement
    p = np.asarray(points, np.float64).copy()
    p[..., 0] -= x
    p[..., 2] -= z
    return p @ _yaw_matrix(yaw)          # inverse rotation (orthogonal)


def finalize_control(ctl: MotionControl, texts: str, frames: int, spec: SkeletonSpec = HUMANML3D) -> MotionControl:
    """Choose the placement (frame 0 where a path or a frame-0 key pose says) and check frame ranges."""
    for kp in ctl.keyposes:
        if not 0 <= kp.frame < frames:
            raise ControlError(f"--keyframes: a key pose on frame {kp.frame} is outside the motion ({frames} frames)")
        if ctl.prefix is not None and kp.frame < len(ctl.prefix):
            raise ControlError(f"--keyframes: a key pose on frame {kp.frame} falls inside the prefix "
                               f"({len(ctl.prefix)} frames); key poses must come after it")
    if ctl.trajectory is not None and len(ctl.trajectory) != frames:
        raise ControlError(f"--trajectory: the path covers {len(ctl.trajectory)} frames, the motion {frames}")
    if ctl.prefix is not None:
        return ctl                       # the prefix defines the frame
    ctl.follow_facing = ctl.follow_facing and not text_sets_facing(texts)
    first = ctl.keyposes[0] if ctl.keyposes and ctl.keyposes[0].frame == 0 else None
    if first is not None:
        ctl.placement = (float(first.joints[0, 0]), float(first.joints[0, 2]), heading_of_pose(first.joints, spec))
    elif ctl.trajectory is not None:
        path = ctl.trajectory
        yaw = 0.0
        if ctl.follow_facing:
            far = np.linalg.norm(path - path[0], axis=1)
            ahead = int(np.argmax(far > 0.05)) if (far > 0.05).any() else 0
            if ahead:
                d = path[ahead] - path[0]
                yaw = float(math.atan2(d[0], d[1]))
        ctl.placement = (float(path[0, 0]), float(path[0, 1]), yaw)
    return ctl


# ---- the projection ------------------------------------------------------------------------------------------

def _heading_from_features(f: torch.Tensor) -> torch.Tensor:
    """The model's heading angle per frame (HumanML3D's half-angle convention; yaw = -2 * angle)."""
    angle = torch.zeros_like(f[:, 0])
    angle[1:] = torch.cumsum(f[:-1, 0], 0)
    return angle


def _interpolate(frames, values: torch.Tensor, T: int, start: int) -> torch.Tensor:
    """Piecewise-linear (T, C) through (frame, value) anchors, zero up to ``start`` - 1, held after the last.
    ``frames`` increase; vectorised, since the sampler calls it at every step (a path anchors every frame)."""
    dev, dt = values.device, values.dtype
    anchors = torch.cat([torch.tensor([start - 1], device=dev), torch.as_tensor(frames, device=dev).long()])
    vals = torch.cat([torch.zeros_like(values[:1]), values], 0)
    t = torch.arange(T, device=dev)
    hi = torch.searchsorted(anchors, t).clamp(1, len(anchors) - 1)          # first anchor >= t
    lo = hi - 1
    w = ((t - anchors[lo]).to(dt) / (anchors[hi] - anchors[lo]).clamp(min=1).to(dt)).clamp(0, 1)[:, None]
    out = vals[lo] * (1 - w) + vals[hi] * w
    out[t <= anchors[0]] = 0
    out[t > anchors[-1]] = vals[-1]
    return out


def _wrap_half_angle(a: torch.Tensor) -> torch.Tensor:
    """Wrap the heading's half-angle to (-pi/2, pi/2] (the full turn is 2 * angle)."""
    return a - math.pi * torch.round(a / math.pi)


def project_features(f: torch.Tensor, ctl: MotionControl, spec: SkeletonSpec = HUMANML3D) -> torch.Tensor:
    """Project one motion's de-normalised features (T, D) onto its key poses and path (module docstring).

    Frames of the prefix are never changed. Returns a new tensor.
    """
    from .motion.quaternion import qinv, qrot
    f = f.clone()
    T = f.shape[0]
    start = max(1, ctl.held_frames)          # frame 0 (and the prefix) is fixed by the representation
    posed = [(kp.frame, _to_model_frame(kp.joints, ctl.placement)) for kp in ctl.keyposes
             if ctl.held_frames <= kp.frame < T]                   # a frame-0 key pose: by the placement
    keys_model = [(k, j) for k, j in posed if k >= start]
    dev, dt = f.device, f.dtype
    # 1. heading
    angle = _heading_from_features(f)
    path = None
    if ctl.trajectory is not None:                                   # the path in the model's frame, (T, 2)
        path = torch.as_tensor(_to_model_frame(np.stack([ctl.trajectory[:, 0], np.zeros(T), ctl.trajectory[:, 1]],
                                                        1), ctl.placement)[:, [0, 2]], dtype=dt, device=dev)
    if path is not None and ctl.follow_facing:
        step = torch.zeros_like(path)
        step[:-1] = path[1:] - path[:-1]
        step[-1] = step[-2] if T > 1 else step[-1]
        speed = step.norm(dim=1)
        moving = speed > 0.2 / 20.0                                   # faster than 0.2 m/s
        yaw = torch.atan2(step[:, 0], step[:, 1])
        target = -0.5 * yaw                                           # the model's half-angle
        delta = _wrap_half_angle(target - angle)
        frames = torch.nonzero(moving[start:]).flatten() + start
        if len(frames):
            d = delta[frames]
            d = torch.cumsum(torch.cat([d[:1], _wrap_half_angle(d[1:] - d[:-1])]), 0)   # continuous
            correction = _interpolate(frames, d[:, None], T, start)[:, 0]
            angle = angle + correction
    elif keys_model:
        targets = torch.tensor([-0.5 * heading_of_pose(j, spec) for _, j in keys_model], dtype=dt, device=dev)
        frames = [k for k, _ in keys_model]
        d = _wrap_half_angle(targets - angle[frames])
        d = torch.cumsum(torch.cat([d[:1], _wrap_half_angle(d[1:] - d[:-1])]), 0)
        angle = angle + _interpolate(frames, d[:, None], T, start)[:, 0]
    s0 = start - 1                        # the velocities into frame `start` sit on frame start - 1
    f[s0:-1, 0] = (angle[1:] - angle[:-1])[s0:]
    # 2. root position on the floor, integrated with the new heading
    quat = torch.zeros(T, 4, dtype=dt, device=dev)
    quat[:, 0], quat[:, 2] = torch.cos(angle), torch.sin(angle)
    inv = qinv(quat)
    vel = torch.zeros(T, 3, dtype=dt, device=dev)
    vel[1:, 0], vel[1:, 2] = f[:-1, 1], f[:-1, 2]
    pos = torch.cumsum(qrot(inv, vel), 0)                              # (T, 3), y unused
    target_xz, frames = None, []
    if path is not None:
        frames = list(range(start, T))
        target_xz = path[start:]
    elif keys_model:
        frames = [k for k, _ in keys_model]
        target_xz = torch.tensor(np.array([j[0, [0, 2]] for _, j in keys_model]), dtype=dt, device=dev)
    if frames:
        err = target_xz - pos[frames][:, [0, 2]]
        corr = _interpolate(frames, err, T, start)
        new = pos.clone()
        new[:, 0] += corr[:, 0]
        new[:, 2] += corr[:, 1]
        step = torch.zeros_like(new)
        step[1:] = new[1:] - new[:-1]
        local = qrot(quat, step)                                      # velocities in the next frame's heading
        f[s0:-1, 1], f[s0:-1, 2] = local[1 + s0:, 0], local[1 + s0:, 2]
        pos = new
    # 3. key poses: root height and rotation-invariant joint positions
    J = spec.num_joints
    for k, j in posed:
        jt = torch.as_tensor(j, dtype=dt, device=dev)
        rel = jt[1:] - torch.stack([jt[0, 0], torch.zeros((), dtype=dt, device=dev), jt[0, 2]])
        ric = qrot(quat[k].expand(J - 1, 4), rel)
        f[k, 3] = jt[0, 1]
        f[k, 4:4 + (J - 1) * 3] = ric.reshape(-1)
    return f


class ControlProjection:
    """The sampler's hook (duck-typed like :class:`~motiongen.diffusion.sampling.Inpainting`): hold prefixes
    and project each row's normalised x0 estimate onto its controls."""

    def __init__(self, controls: list[MotionControl | None], mean: np.ndarray, std: np.ndarray,
                 spec: SkeletonSpec = HUMANML3D, lengths: list[int] | None = None):
        self.controls = controls
        self.lengths = lengths
        self.mean = torch.as_tensor(np.asarray(mean, np.float32))
        self.std = torch.as_tensor(np.asarray(std, np.float32))
        self.spec = spec

    def apply(self, x0: torch.Tensor) -> torch.Tensor:
        out = x0.clone()
        mean, std = self.mean.to(x0.device, x0.dtype), self.std.to(x0.device, x0.dtype)
        for r, ctl in enumerate(self.controls):
            if ctl is None or not ctl.active:
                continue
            f = x0[r] * (std + 1e-8) + mean
            if ctl.prefix is not None:
                n = min(len(ctl.prefix), f.shape[0])
                f[:n] = torch.as_tensor(ctl.prefix[:n], dtype=f.dtype, device=f.device)
            if ctl.keyposes or ctl.trajectory is not None:
                T = f.shape[0] if self.lengths is None else int(self.lengths[r])
                f[:T] = project_features(f[:T], ctl, self.spec)
            out[r] = (f - mean) / (std + 1e-8)
        return out


# ---- long motion ---------------------------------------------------------------------------------------------

def stage_windows(stage_frames: list[int], max_frames: int, overlap: int,
                  context: int = 0) -> list[tuple[int, int]]:
    """Sampling windows ``(start, end)`` for a model that reads one sentence per window: each stage gets its own
    windows, so every stage's sentence is generated over its own frames. A window after the first starts
    ``overlap`` frames before its stage (frames made already, held); the first holds all ``context`` frames
    before the stages (a prefix's last frames). A stage longer than a window is split into windows of its own.
    ``stage_frames`` are the stages' lengths, after ``context`` frames."""
    if overlap >= max_frames // 2:
        raise ControlError(f"the window overlap ({overlap} frames) must be under half the model's window "
                           f"({max_frames} frames)")
    if context >= max_frames:
        raise ControlError(f"the held context ({context} frames) must be under the model's window "
                           f"({max_frames} frames)")
    windows: list[tuple[int, int]] = []
    s0 = int(context)
    for n in stage_frames:
        s1 = s0 + int(n)
        start = 0 if not windows else max(0, s0 - overlap)
        while True:
            if s1 - start <= max_frames:
                windows.append((start, s1))
                break
            end = start + max_frames
            if s1 - (end - overlap) < max_frames // 2:      # never a stub window: split the rest evenly
                end = (start + s1 + overlap) // 2
            windows.append((start, end))
            start = end - overlap
        s0 = s1
    return windows


def plan_windows(stage_frames: list[int], max_frames: int, overlap: int) -> list[tuple[int, int]]:
    """Cut a motion of stages into sampling windows ``(start, end)`` of at most ``max_frames`` frames, each
    after the first starting ``overlap`` frames before the previous one ends, with window ends on stage
    boundaries where a stage fits (a stage longer than a window is split)."""
    total = int(sum(stage_frames))
    if total <= max_frames:
        return [(0, total)]
    if overlap >= max_frames // 2:
        raise ControlError(f"the window overlap ({overlap} frames) must be under half the model's window "
                           f"({max_frames} frames)")
    bounds = np.cumsum([0] + list(stage_frames))
    windows, start = [], 0
    while True:
        limit = start + max_frames
        if limit >= total:
            windows.append((min(start, max(0, total - max_frames // 2)), total))   # never a stub window
            return windows
        fits = [int(b) for b in bounds if start + overlap < b <= limit]
        end = fits[-1] if fits and fits[-1] - start >= max_frames // 2 else limit
        windows.append((start, end))
        start = end - overlap
