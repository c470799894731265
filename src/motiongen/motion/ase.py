"""ASE / poselib motions (the sword-and-shield set, repackaged as ``.npz``) read into a :class:`~.bvh.BVH`.

An ``.npz`` holds ``rotation_xyzw`` (T, J, 4) local joint rotations, ``root_translation`` (T, 3) metres,
``node_names``, ``parent_indices``, ``local_translation`` (J, 3) offsets and ``fps``, with **Z up** (the character
faces +X, left at +Y). The reader drops the prop nodes (``sword``, ``shield``: leaves), turns the world to Y up
(a -90 degree turn about X applied to the root), and derives two points the body lacks, as End Sites: the ball of
the foot (0.11 m forward, 0.05 m below the ankle in the foot's frame, as for the DeepMimic humanoid it is built on)
and the head (0.12 m up the head node, which sits at the base of the neck).
"""
from __future__ import annotations

import io
import os
import zipfile

import numpy as np
from scipy.spatial.transform import Rotation

from .asf import ASFError
from .bvh import BVH, read_source_bytes

__all__ = ["ASEError", "read_ase_npz", "PROP_NODES"]

PROP_NODES = ("sword", "shield")
_DERIVED = {"right_foot": (0.11, 0.0, -0.05), "left_foot": (0.11, 0.0, -0.05), "head": (0.0, 0.0, 0.12)}
_Z_TO_Y = Rotation.from_euler("x", -90, degrees=True)
_KEYS = ("rotation_xyzw", "root_translation", "node_names", "parent_indices", "local_translation", "fps")


class ASEError(ASFError):
    """A malformed ASE motion file."""


def _load(path: str):
    data, source = read_source_bytes(path, error=ASEError, what="motion", zip_is_archive=False)
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as npz:
            missing = [k for k in _KEYS if k not in npz.files]
            if missing:
                raise ASEError(f"{source}: not an ASE motion .npz (missing {', '.join(missing)}; expected "
                               f"{', '.join(_KEYS)})")
            return {k: npz[k] for k in _KEYS}, source
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise ASEError(f"{source}: cannot read it as an .npz ({e})") from None


def read_ase_npz(path: str | os.PathLike) -> BVH:
    """Read an ASE motion (path or ``archive.zip::member.npz``) as a Y-up BVH object without the props."""
    d, source = _load(str(path))
    rot, root, names = d["rotation_xyzw"], d["root_translation"], [str(n) for n in d["node_names"]]
    parents, offsets, fps = d["parent_indices"].astype(int), d["local_translation"].astype(np.float64), float(d["fps"])
    j = len(names)
    if rot.ndim != 3 or rot.shape[1:] != (j, 4) or root.shape != (rot.shape[0], 3) or offsets.shape != (j, 3) \
            or parents.shape != (j,):
        raise ASEError(f"{source}: inconsistent shapes: rotation_xyzw {rot.shape}, root_translation {root.shape}, "
                       f"local_translation {offsets.shape}, parent_indices {parents.shape} for {j} nodes")
    if not (np.isfinite(fps) and fps > 0):
        raise ASEError(f"{source}: fps: expected a positive number, got {fps}")
    if not (np.isfinite(rot).all() and np.isfinite(root).all()):
        raise ASEError(f"{source}: contains NaN or infinite values")
    norms = np.linalg.norm(rot, axis=-1)
    if not (norms > 1e-6).all():
        raise ASEError(f"{source}: rotation_xyzw: a zero quaternion (expected unit x, y, z, w)")
    keep = [k for k, n in enumerate(names) if n not in PROP_NODES]
    for k in keep:
        if parents[k] >= 0 and parents[k] not in keep:
            raise ASEError(f"{source}: node {names[k]!r} hangs below a prop node; cannot drop the props")
    new_index = {old: new for new, old in enumerate(keep)}
    t = rot.shape[0]
    q = Rotation.from_quat((rot / norms[..., None]).reshape(-1, 4))
    euler = q.as_euler("ZXY", degrees=True).reshape(t, j, 3)
    root_rot = (_Z_TO_Y * Rotation.from_quat(rot[:, 0] / norms[:, 0, None])).as_euler("ZXY", degrees=True)
    euler[:, 0] = root_rot
    root_pos = _Z_TO_Y.apply(root)
    cols = [root_pos] + [euler[:, k] for k in keep]
    channels = [["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]]
    channels += [["Zrotation", "Xrotation", "Yrotation"] for _ in keep[1:]]
    kept_names = [names[k] for k in keep]
    end_sites = {kept_names.index(n): np.array(v) for n, v in _DERIVED.items() if n in kept_names}
    return BVH(kept_names, [new_index[parents[k]] if parents[k] >= 0 else -1 for k in keep], offsets[keep],
               channels, end_sites, 1.0 / fps, np.concatenate(cols, axis=1), source)
