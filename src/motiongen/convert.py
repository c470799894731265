"""Conversions between BVH, joints .npy (T, J, 3), features .npy (T, 263|251) and previews (.mp4/.gif)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io_utils import atomic_save_npy
from .motion.bvh import write_bvh
from .motion.readers import read_skeletal_motion
from .motion.features import joints_to_features, recover_joints_from_features
from .motion.render import render_motion
from .motion.retarget import retarget_bvh
from .skeleton import HUMANML3D, get_skeleton

__all__ = ["load_motion", "convert", "LoadedMotion"]


@dataclass
class LoadedMotion:
    joints: np.ndarray          # (T, J, 3) metres, Y up
    fps: float
    kind: str                   # "bvh", "skeletal" (ASF/AMC, DeepMimic, ASE), "joints" or "features"
    notes: list[str]


def load_motion(path: str, rig: str | None = None, fps: float = 20.0, units: str | None = None,
                up: str = "y") -> LoadedMotion:
    """Read any supported input as joints. ``path`` may be ``archive.zip::member.bvh``."""
    p = Path(path.split("::")[0])
    if not p.exists():
        raise FileNotFoundError(f"input not found: {p}")
    if p.is_dir():
        raise ValueError(f"{p}: is a directory; give a .bvh or .npy file")
    name = path.lower()
    if name.endswith((".bvh", ".amc", ".npz", ".txt", ".json")):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = retarget_bvh(read_skeletal_motion(path), rig, fps=fps, units=units, up=up)
        if not np.isfinite(res.joints).all():
            raise ValueError(f"{path}: the retargeted joints contain NaN or infinite values (a degenerate rig?)")
        notes = [f"rig: {res.preset}; units: {res.units}; resampled to {fps:g} fps"]
        notes += [str(w.message) for w in caught]
        return LoadedMotion(res.joints, fps, "bvh" if name.endswith(".bvh") else "skeletal", notes)
    if name.endswith(".npy"):
        try:
            arr = np.load(p, allow_pickle=False)
        except ValueError as e:
            raise ValueError(f"{p}: not a plain numeric .npy file ({e})") from None
        if arr.ndim == 3 and arr.shape[-1] == 3 and arr.shape[1] in (22, 21):
            kind = "joints"
            joints = arr.astype(np.float64)
        elif arr.ndim == 2 and arr.shape[-1] in (263, 251):
            kind = "features"
            joints = recover_joints_from_features(arr.astype(np.float32)).astype(np.float64)
        else:
            raise ValueError(f"{p}: expected joints (T, 22|21, 3) or features (T, 263|251), got shape {arr.shape}")
        if not np.isfinite(joints).all():
            raise ValueError(f"{p}: contains NaN or infinite values")
        return LoadedMotion(joints, fps, kind, [f"read {kind} {arr.shape}"])
    raise ValueError(f"{path}: unsupported input; expected .bvh, .amc (its .asf beside it), a DeepMimic .txt/.json, "
                     f"an ASE .npz (each also as archive.zip::member) or joints/features .npy")


def convert(src: str, dst: str, rig: str | None = None, fps: float = 20.0, to: str | None = None,
            units: str | None = None, up: str = "y") -> list[str]:
    """Convert ``src`` to ``dst`` (by extension; ``to`` = joints|features for .npy). Returns notes for the user."""
    out = Path(dst)
    ext = out.suffix.lower()
    if ext not in (".bvh", ".glb", ".npy", ".mp4", ".gif"):
        raise ValueError(f"{dst}: unsupported output; expected .bvh, .glb, .npy, .mp4 or .gif")
    motion = load_motion(src, rig=rig, fps=fps, units=units, up=up)
    notes = list(motion.notes)
    if ext == ".bvh":
        if motion.joints.shape[1] != 22:
            raise ValueError(f"{src}: BVH output needs the 22-joint HumanML3D layout, got {motion.joints.shape[1]} joints")
        write_bvh(out, motion.joints, fps=motion.fps)
    elif ext == ".glb":
        if motion.joints.shape[1] != 22:
            raise ValueError(f"{src}: GLB output needs the 22-joint HumanML3D layout, got {motion.joints.shape[1]} joints")
        from .motion.gltf import write_glb
        write_glb(out, motion.joints, fps=motion.fps, name=Path(src).stem)
    elif ext in (".mp4", ".gif"):
        render_motion(motion.joints, out, fps=motion.fps, title=Path(src).name)
    else:
        target = to or ("features" if motion.kind == "joints" else "joints")
        if target == "joints":
            atomic_save_npy(out, motion.joints.astype(np.float32))
        elif target == "features":
            spec = get_skeleton(motion.joints.shape[1])
            if spec is not HUMANML3D:
                raise ValueError("features output is supported for the 22-joint layout (KIT needs its template)")
            feats, _ = joints_to_features(motion.joints, spec)
            if not np.isfinite(feats).all():
                raise ValueError(f"{src}: the features came out NaN or infinite (zero-length bones or a frozen "
                                 f"skeleton?); nothing was written")
            atomic_save_npy(out, feats.astype(np.float32))
        else:
            raise ValueError(f"--to: expected 'joints' or 'features', got {target!r}")
        notes.append(f"wrote {target}")
    notes.append(f"wrote {out}")
    return notes
