"""One entry point for every skeletal motion format motiongen reads; each returns a :class:`~.bvh.BVH` object
(skeleton + local rotations), which :func:`~.retarget.retarget_bvh` maps to the 22-joint HumanML3D layout.

* ``.bvh`` (or ``archive.zip::member.bvh``): :func:`~.bvh.read_bvh`
* ``.amc`` with its ``.asf`` beside it (Acclaim: CMU, HDM05): :func:`~.asf.read_asf_amc`
* ``.txt`` / ``.json`` DeepMimic clips: :func:`~.deepmimic.read_deepmimic`
* ``.npz`` ASE / poselib motions: :func:`~.ase.read_ase_npz`
"""
from __future__ import annotations

from .bvh import BVH, read_bvh

__all__ = ["read_skeletal_motion", "SKELETAL_EXTENSIONS"]

SKELETAL_EXTENSIONS = (".bvh", ".amc", ".txt", ".json", ".npz")


def read_skeletal_motion(path: str, asf: str | None = None, amc_fps: float = 120.0) -> BVH:
    """Read ``path`` (a file or ``archive.zip::member``) by its extension; ``asf`` names an AMC's skeleton."""
    name = str(path).lower()
    if name.endswith(".bvh"):
        return read_bvh(path)
    if name.endswith(".amc"):
        from .asf import read_asf_amc
        return read_asf_amc(asf, path, fps=amc_fps) if asf else read_asf_amc(path, fps=amc_fps)
    if name.endswith((".txt", ".json")):
        from .deepmimic import read_deepmimic
        return read_deepmimic(path)
    if name.endswith(".npz"):
        from .ase import read_ase_npz
        return read_ase_npz(path)
    raise ValueError(f"{path}: unsupported motion format; expected one of {', '.join(SKELETAL_EXTENSIONS)}")
