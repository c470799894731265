"""DeepMimic motion clips (``data/motions/*.txt``, JSON) read into a :class:`~.bvh.BVH`.

A DeepMimic frame is ``[dt, root position xyz (m, Y up), root rotation wxyz, chest, neck, right hip, right knee,
right ankle, right shoulder, right elbow, left hip, left knee, left ankle, left shoulder, left elbow]``, the
spherical joints as quaternions (w, x, y, z) and the knees and elbows as one angle (radians, about the joint's local
z axis). The ``humanoid3d`` character faces +X with its right side at +Z; its joint offsets come from
``data/characters/humanoid3d.txt`` (:data:`HUMANOID3D_OFFSETS` holds that file's values, so a clip converts on
its own).

The character has no wrist, toe or head-top joints, so three points are derived, as End Sites fixed to a body:

* wrist (``right_elbow_End``): the character's own fixed ``right_wrist`` joint, 0.259 m down the forearm;
* ball of the foot (``right_ankle_End``): 0.11 m forward of and 0.05 m below the ankle in the foot's frame -- the
  front third and the sole of the foot box (``humanoid3d.txt``: a 0.177 x 0.055 box whose centre sits 0.045 m
  forward and 0.0225 m below the ankle);
* head (``neck_End``): 0.12 m up the neck's frame, between the neck joint and the centre of the head sphere
  (0.175 m), about where the SMPL head joint sits.
"""
from __future__ import annotations

import json
import os

import numpy as np
from scipy.spatial.transform import Rotation

from .asf import ASFError, read_text
from .bvh import BVH

__all__ = ["DeepMimicError", "read_deepmimic", "parse_deepmimic", "HUMANOID3D_JOINTS", "HUMANOID3D_OFFSETS",
           "DERIVED_POINTS"]


class DeepMimicError(ASFError):
    """A malformed DeepMimic motion file."""


# (name, parent, kind) in frame order; kind: 4 = quaternion, 1 = revolute angle about local z
HUMANOID3D_JOINTS = (
    ("root", -1, 4), ("chest", 0, 4), ("neck", 1, 4), ("right_hip", 0, 4), ("right_knee", 3, 1),
    ("right_ankle", 4, 4), ("right_shoulder", 1, 4), ("right_elbow", 6, 1), ("left_hip", 0, 4),
    ("left_knee", 8, 1), ("left_ankle", 9, 4), ("left_shoulder", 1, 4), ("left_elbow", 11, 1),
)
HUMANOID3D_OFFSETS = {   # AttachX/Y/Z of data/characters/humanoid3d.txt, metres, in the parent's frame
    "root": (0.0, 0.0, 0.0), "chest": (0.0, 0.236151, 0.0), "neck": (0.0, 0.223894, 0.0),
    "right_hip": (0.0, 0.0, 0.084887), "right_knee": (0.0, -0.421546, 0.0), "right_ankle": (0.0, -0.40987, 0.0),
    "right_shoulder": (-0.02405, 0.2435, 0.18311), "right_elbow": (0.0, -0.274788, 0.0),
    "left_hip": (0.0, 0.0, -0.084887), "left_knee": (0.0, -0.421546, 0.0), "left_ankle": (0.0, -0.40987, 0.0),
    "left_shoulder": (-0.02405, 0.2435, -0.18311), "left_elbow": (0.0, -0.274788, 0.0),
}
DERIVED_POINTS = {   # End Sites (see the module docstring), in the named joint's frame
    "right_elbow": (0.0, -0.258947, 0.0), "left_elbow": (0.0, -0.258947, 0.0),
    "right_ankle": (0.11, -0.05, 0.0), "left_ankle": (0.11, -0.05, 0.0), "neck": (0.0, 0.12, 0.0),
}
_FRAME_LEN = 1 + 3 + sum(k for _, _, k in HUMANOID3D_JOINTS)


def _wxyz_to_rotation(q: np.ndarray, what: str, source: str) -> Rotation:
    n = np.linalg.norm(q, axis=-1)
    if not (n > 1e-6).all():
        raise DeepMimicError(f"{source}: {what}: a zero quaternion (expected unit w, x, y, z)")
    return Rotation.from_quat(q[:, [1, 2, 3, 0]] / n[:, None])


def parse_deepmimic(text: str, source: str = "<deepmimic>") -> BVH:
    """Parse a DeepMimic motion (JSON with ``Frames``) of the humanoid3d character (:data:`HUMANOID3D_OFFSETS`)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise DeepMimicError(f"{source}: not a DeepMimic motion (invalid JSON: {e.msg}, line {e.lineno})") from None
    frames = doc.get("Frames") if isinstance(doc, dict) else None
    if not isinstance(frames, list) or not frames:
        raise DeepMimicError(f"{source}: not a DeepMimic motion (expected a JSON object with a non-empty 'Frames' list)")
    for k, fr in enumerate(frames):
        if not isinstance(fr, list) or len(fr) != _FRAME_LEN:
            got = len(fr) if isinstance(fr, list) else type(fr).__name__
            raise DeepMimicError(f"{source}: Frames[{k}]: expected {_FRAME_LEN} numbers (dt, root position, "
                                 f"root and joint rotations of the humanoid3d character), got {got}")
    try:
        data = np.asarray(frames, dtype=np.float64)
    except (TypeError, ValueError):
        raise DeepMimicError(f"{source}: Frames: every value must be a number") from None
    if not np.isfinite(data).all():
        raise DeepMimicError(f"{source}: Frames: contains NaN or infinite values")
    dts = data[:-1, 0] if len(data) > 1 else data[:, 0]
    dts = dts[dts > 0]
    if not len(dts):
        raise DeepMimicError(f"{source}: Frames: every frame duration (first value) is zero")
    frame_time = float(np.median(dts))
    offs = HUMANOID3D_OFFSETS
    f = len(data)
    col = 4
    locals_: list[np.ndarray] = []
    for name, _, kind in HUMANOID3D_JOINTS:
        if kind == 4:
            locals_.append(_wxyz_to_rotation(data[:, col:col + 4], name, source).as_euler("ZXY", degrees=True))
            col += 4
        else:
            locals_.append(Rotation.from_euler("z", data[:, col:col + 1]).as_euler("ZXY", degrees=True))
            col += 1
    names = [n for n, _, _ in HUMANOID3D_JOINTS]
    parents = [p for _, p, _ in HUMANOID3D_JOINTS]
    channels = [["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]]
    channels += [["Zrotation", "Xrotation", "Yrotation"] for _ in names[1:]]
    motion = np.concatenate([data[:, 1:4]] + [e.reshape(f, 3) for e in locals_], axis=1)
    end_sites = {names.index(n): np.array(v) for n, v in DERIVED_POINTS.items()}
    return BVH(names, parents, np.array([offs[n] for n in names], dtype=np.float64), channels, end_sites,
               frame_time, motion, source)


def read_deepmimic(path: str | os.PathLike) -> BVH:
    """Read a DeepMimic motion (path or ``archive.zip::member``) of the humanoid3d character."""
    text, source = read_text(str(path))
    return parse_deepmimic(text, source)
