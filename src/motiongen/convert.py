"""Conversions between BVH, joints .npy (T, J, 3), features .npy (T, 263|251) and previews (.mp4/.gif)."""
from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .io_utils import atomic_save_npy, check_output_file
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
        raise ValueError(f"{p}: is a directory; give a motion file (.bvh, .amc, .txt, .npz or .npy)")
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
            units: str | None = None, up: str = "y", overwrite: bool = False) -> list[str]:
    """Convert ``src`` to ``dst`` (by extension; ``to`` = joints|features for .npy). Returns notes for the user.
    An existing ``dst`` is replaced only with ``overwrite`` (and never when it is a folder or the input itself)."""
    out = Path(dst)
    ext = out.suffix.lower()
    if ext not in (".bvh", ".glb", ".npy", ".mp4", ".gif"):
        raise ValueError(f"{dst}: unsupported output; expected .bvh, .glb, .npy, .mp4 or .gif")
    check_output_file(out, overwrite, [src], flag="output")
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


def load_any_motion(path: str, fps: float = 20.0) -> LoadedMotion:
    """Like :func:`load_motion`, and also an output folder of ``motiongen generate`` (its joints.npy)."""
    p = Path(path.split("::")[0])
    if p.is_dir():
        joints_path = p / "joints.npy"
        if not joints_path.is_file():
            samples = sorted(p.glob("sample_*/joints.npy"))
            hint = f" (it holds {len(samples)} samples: name one, e.g. {samples[0].parent})" if samples else ""
            raise ValueError(f"{p}: a folder without joints.npy (not a motiongen output folder){hint}")
        arr = np.load(joints_path, allow_pickle=False)
        if arr.ndim != 3 or arr.shape[1:] != (22, 3) or not np.isfinite(arr).all():
            raise ValueError(f"{joints_path}: expected finite joints (T, 22, 3), got shape {arr.shape}")
        import json
        meta_fps = fps
        try:
            meta_fps = float(json.loads((p / "meta.json").read_text()).get("fps", fps))
        except (OSError, ValueError, TypeError, AttributeError):
            pass
        return LoadedMotion(arr.astype(np.float64), meta_fps, "joints", [f"read {joints_path}"])
    return load_motion(path, fps=fps)


def retarget_to_character_file(motion: str, character: str, out: str, bone_map: str | None = None,
                               rest: str = "rest", units: str | None = None, up: str = "y",
                               plant_feet: bool = True, overwrite: bool = False) -> list[str]:
    """``motiongen retarget``: MOTION onto CHARACTER's own skeleton, written to OUT (.bvh or .glb)."""
    from .motion.character import read_character, retarget_to_character, write_character_bvh, write_character_glb
    ext = Path(out).suffix.lower()
    if ext not in (".bvh", ".glb"):
        raise ValueError(f"--out {out}: expected a .bvh or .glb file")
    check_output_file(out, overwrite, [motion, character, bone_map])
    src = load_any_motion(motion)
    if src.joints.shape[1] != 22:
        raise ValueError(f"{motion}: retargeting needs the 22-joint HumanML3D layout, got {src.joints.shape[1]} joints")
    ch = read_character(character, rest=rest, units=units, up=up)
    res = retarget_to_character(src.joints, src.fps, ch, bone_map, plant_feet=plant_feet)
    if ext == ".bvh":
        write_character_bvh(out, res)
    else:
        write_character_glb(out, res, name=Path(motion.rstrip("/")).stem or "motiongen")
    return character_notes(res) + [f"wrote {out}"]


def character_notes(res) -> list[str]:
    """What the user should know about a retargeting: the map, the scale, and the bones left at rest."""
    ch = res.character
    notes = [f"character {ch.source}: {ch.num_joints} bones, {len(res.mapping)} of our 22 joints mapped by "
             f"{res.how}; units {ch.units}; motion scaled by {res.scale:.3f} (leg length)"]
    if res.unmapped:
        notes.append(f"left at rest ({len(res.unmapped)}): " + ", ".join(res.unmapped))
    return notes
