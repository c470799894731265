"""Acclaim ASF/AMC (the format CMU and HDM05 distribute their mocap in), read into a :class:`~.bvh.BVH`.

An ASF file describes the skeleton: per bone a rest ``direction`` and ``length`` (global, rest pose), an ``axis``
(Euler angles of the bone's local frame ``C``) and its ``dof``; an AMC file gives per frame the root position and
rotation and each bone's dof values (degrees). A bone's world rotation is ``W = W_parent C M C^-1`` with ``M`` the
rotation of its dof values (rx, ry, rz composed as R_z R_y R_x, as Acclaim's own tools and the CMU amc2bvh do),
and its end is its start plus ``W (direction x length)``.

The result is an ordinary BVH object: one BVH joint per bone, placed at the bone's *start* (its parent's end),
with identity rest rotations, so its OFFSET is the parent bone's rest vector; each leaf bone's end is an End Site
(``<bone>_End``). So ``lfemur`` is the hip, ``ltibia`` the knee, ``lfoot`` the ankle and ``ltoes`` the ball of the
foot, exactly like the BVH files CMU converted from these ASF/AMC pairs. Lengths stay in the file's units (CMU and
HDM05: ``length 0.45``, i.e. 1/0.45 inch); :func:`~.retarget.retarget_bvh` infers or takes the unit.
"""
from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from .bvh import BVH, BVHError, read_source_bytes

__all__ = ["ASFError", "ASFSkeleton", "parse_asf", "parse_amc", "read_asf_amc", "find_asf", "read_text"]


class ASFError(BVHError):
    """A malformed ASF or AMC file; the message names the file and the line or bone."""


@dataclass
class ASFBone:
    name: str
    direction: np.ndarray
    length: float
    axis: np.ndarray          # degrees
    axis_order: str
    dof: list[str]


@dataclass
class ASFSkeleton:
    bones: dict[str, ASFBone]
    children: dict[str, list[str]]
    root_order: list[str]
    root_axis: str
    root_position: np.ndarray
    root_orientation: np.ndarray
    length_unit: float        # ``:units length`` (0.45 for CMU / HDM05)
    degrees: bool
    source: str


def read_text(path: str) -> tuple[str, str]:
    """(text, source name) of a file or of ``archive.zip::member``; Latin-1 fallback (HDM05 comments)."""
    data, source = read_source_bytes(path, error=ASFError, what="motion")
    try:
        return data.decode("utf-8"), source
    except UnicodeDecodeError:
        return data.decode("latin-1"), source


def _fail(source: str, line: int | None, msg: str) -> ASFError:
    return ASFError(f"{source}, line {line}: {msg}" if line is not None else f"{source}: {msg}")


def _floats(toks: list[str], n: int, source: str, line: int, what: str) -> np.ndarray:
    try:
        vals = np.array([float(t) for t in toks[:n]])
    except ValueError:
        raise _fail(source, line, f"{what} needs {n} numbers, got {' '.join(toks)!r}") from None
    if len(vals) != n or not np.isfinite(vals).all():
        raise _fail(source, line, f"{what} needs {n} finite numbers, got {' '.join(toks)!r}")
    return vals


def parse_asf(text: str, source: str = "<asf>") -> ASFSkeleton:
    """Parse ASF text; errors name ``source`` and the line."""
    lines = text.splitlines()
    if not any(l.strip().startswith(":bonedata") for l in lines):
        raise _fail(source, None, "not an ASF file (no :bonedata section)")
    section = None
    bones: dict[str, ASFBone] = {}
    children: dict[str, list[str]] = {"root": []}
    cur: dict | None = None
    root_order, root_axis = ["TX", "TY", "TZ", "RX", "RY", "RZ"], "XYZ"
    root_pos, root_ori = np.zeros(3), np.zeros(3)
    length_unit, degrees = 1.0, True
    for i, raw in enumerate(lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        toks = line.split()
        if toks[0].startswith(":"):
            section = toks[0][1:].lower()
            continue
        key = toks[0].lower()
        if section == "units":
            if key == "length":
                length_unit = float(_floats(toks[1:], 1, source, i, "length")[0])
            elif key == "angle":
                degrees = toks[1].lower().startswith("deg")
        elif section == "root":
            if key == "order":
                root_order = [t.upper() for t in toks[1:]]
            elif key == "axis":
                root_axis = toks[1].upper()
            elif key == "position":
                root_pos = _floats(toks[1:], 3, source, i, "root position")
            elif key == "orientation":
                root_ori = _floats(toks[1:], 3, source, i, "root orientation")
        elif section == "bonedata":
            if key == "begin":
                cur = {"line": i, "dof": [], "axis": np.zeros(3), "order": "XYZ"}
            elif key == "end":
                if cur is None:
                    raise _fail(source, i, "'end' without 'begin'")
                for need in ("name", "direction", "length"):
                    if need not in cur:
                        raise _fail(source, cur["line"], f"bone without {need!r}")
                if cur["name"] in bones:
                    raise _fail(source, i, f"duplicate bone name {cur['name']!r}")
                d = cur["direction"]
                n = np.linalg.norm(d)
                bones[cur["name"]] = ASFBone(cur["name"], d / n if n > 0 else d, cur["length"], cur["axis"],
                                             cur["order"], cur["dof"])
                cur = None
            elif cur is None:
                raise _fail(source, i, f"{toks[0]!r} outside a bone's begin/end")
            elif key == "name":
                cur["name"] = toks[1] if len(toks) > 1 else ""
            elif key == "direction":
                cur["direction"] = _floats(toks[1:], 3, source, i, "direction")
            elif key == "length":
                cur["length"] = float(_floats(toks[1:], 1, source, i, "length")[0])
            elif key == "axis":
                cur["axis"] = _floats(toks[1:], 3, source, i, "axis")
                cur["order"] = toks[4].upper() if len(toks) > 4 else "XYZ"
            elif key == "dof":
                cur["dof"] = [t.lower() for t in toks[1:]]
                bad = [d for d in cur["dof"] if d not in ("rx", "ry", "rz", "tx", "ty", "tz", "l")]
                if bad:
                    raise _fail(source, i, f"bone {cur.get('name', '?')!r}: unknown dof {bad[0]!r}")
            # other keys (limits and their "(min max)" lines, bodymass, cofmass) are not used
        elif section == "hierarchy":
            if key in ("begin", "end"):
                continue
            parent = toks[0]
            if parent != "root" and parent not in bones:
                raise _fail(source, i, f"hierarchy names an unknown bone {parent!r}")
            for c in toks[1:]:
                if c not in bones:
                    raise _fail(source, i, f"hierarchy names an unknown bone {c!r}")
                children.setdefault(parent, []).append(c)
    if not bones:
        raise _fail(source, None, "no bones in :bonedata")
    if not children["root"]:
        raise _fail(source, None, "no :hierarchy section (or nothing attached to root)")
    return ASFSkeleton(bones, children, root_order, root_axis, root_pos, root_ori, length_unit, degrees, source)


def parse_amc(text: str, skeleton: ASFSkeleton, source: str = "<amc>") -> dict[str, np.ndarray]:
    """Parse AMC text: ``{bone or 'root': (F, values)}``; a bone absent from a frame keeps zeros."""
    frames: list[dict[str, list[float]]] = []
    dims = {name: len(b.dof) for name, b in skeleton.bones.items()}
    dims["root"] = len(skeleton.root_order)
    for i, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith(("#", ":")):
            continue
        toks = line.split()
        if len(toks) == 1 and toks[0].isdigit():
            frames.append({})
            continue
        if not frames:
            raise _fail(source, i, f"expected a frame number before {toks[0]!r}")
        name = toks[0]
        if name not in dims:
            raise _fail(source, i, f"bone {name!r} is not in the skeleton {skeleton.source}")
        if len(toks) - 1 != dims[name]:
            raise _fail(source, i, f"bone {name!r}: expected {dims[name]} values (its dof in the ASF), "
                                   f"found {len(toks) - 1}")
        frames[-1][name] = list(_floats(toks[1:], dims[name], source, i, f"bone {name!r}"))
    if not frames:
        raise _fail(source, None, "no frames (an AMC file lists a frame number, then one line per bone)")
    out = {}
    for name, d in dims.items():
        arr = np.zeros((len(frames), d))
        for k, fr in enumerate(frames):
            if name in fr:
                arr[k] = fr[name]
        out[name] = arr
    if not any("root" in fr for fr in frames):
        raise _fail(source, None, "no 'root' line in any frame")
    return out


def _axis_rotation(angles: np.ndarray, order: str, degrees: bool) -> Rotation:
    """An Acclaim ``axis`` / dof rotation: angles for the named axes, applied in that order (extrinsic)."""
    return Rotation.from_euler(order.lower(), angles, degrees=degrees)


def _dof_rotation(values: np.ndarray, dof: list[str], degrees: bool) -> Rotation:
    xyz = np.zeros((len(values), 3))
    for c, d in enumerate(dof):
        if d in ("rx", "ry", "rz"):
            xyz[:, "xyz".index(d[1])] = values[:, c]
    return Rotation.from_euler("xyz", xyz, degrees=degrees)


def asf_amc_to_bvh(skeleton: ASFSkeleton, motion: dict[str, np.ndarray], fps: float, source: str) -> BVH:
    """Build the BVH object (see the module docstring) from a parsed ASF and AMC."""
    order: list[str] = []
    parent_of: dict[str, str] = {}
    stack = ["root"]
    while stack:
        b = stack.pop()
        order.append(b)
        for c in reversed(skeleton.children.get(b, [])):
            parent_of[c] = b
            stack.append(c)
    index = {b: k for k, b in enumerate(order)}
    f = len(motion["root"])
    offsets = np.zeros((len(order), 3))
    end_sites: dict[int, np.ndarray] = {}
    for b in order[1:]:
        p = parent_of[b]
        if p != "root":
            pb = skeleton.bones[p]
            offsets[index[b]] = pb.direction * pb.length
        if not skeleton.children.get(b):
            bone = skeleton.bones[b]
            end_sites[index[b]] = bone.direction * bone.length
    # root: translation and rotation from the AMC, in the ASF's channel order
    rv = motion["root"]
    pos = np.tile(skeleton.root_position, (f, 1)).astype(np.float64)
    rot = np.zeros((f, 3))
    for c, ch in enumerate(skeleton.root_order):
        if ch in ("TX", "TY", "TZ"):
            pos[:, "XYZ".index(ch[1])] = rv[:, c]
        elif ch in ("RX", "RY", "RZ"):
            rot[:, "XYZ".index(ch[1])] = rv[:, c]
    c_root = _axis_rotation(skeleton.root_orientation, skeleton.root_axis, skeleton.degrees)
    locals_ = {"root": c_root * Rotation.from_euler("xyz", rot, degrees=skeleton.degrees) * c_root.inv()}
    for b in order[1:]:
        bone = skeleton.bones[b]
        c = _axis_rotation(bone.axis, bone.axis_order, skeleton.degrees)
        m = _dof_rotation(motion[b], bone.dof, skeleton.degrees) if bone.dof else Rotation.identity(f)
        locals_[b] = c * m * c.inv()
    channels = [["Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"]]
    channels += [["Zrotation", "Xrotation", "Yrotation"] for _ in order[1:]]
    cols = [pos]
    for b in order:
        cols.append(locals_[b].as_euler("ZXY", degrees=True).reshape(f, 3))
    data = np.concatenate(cols, axis=1)
    return BVH(list(order), [index[parent_of[b]] if b != "root" else -1 for b in order], offsets, channels,
               end_sites, 1.0 / fps, data, source)


def find_asf(amc_path: str) -> str:
    """The ASF skeleton of an AMC file: the longest ``_``-prefix of its name with an ``.asf`` beside it
    (``01_01.amc`` -> ``01.asf``, ``HDM_bd_kick_001_120.amc`` -> ``HDM_bd.asf``), else the folder's only ASF."""
    archive, member = (amc_path.split("::", 1) + [None])[:2] if "::" in amc_path else (amc_path, None)
    if member is not None:
        with zipfile.ZipFile(archive) as zf:
            names = set(zf.namelist())
        folder = member.rsplit("/", 1)[0] + "/" if "/" in member else ""
        candidates = sorted(n for n in names if n.startswith(folder) and n.lower().endswith(".asf")
                            and "/" not in n[len(folder):])
        stem = member[len(folder):].rsplit(".", 1)[0]
        join = lambda n: f"{archive}::{n}"
    else:
        p = Path(archive)
        candidates = sorted(str(x.name) for x in p.parent.glob("*") if x.suffix.lower() == ".asf")
        stem = p.stem
        join = lambda n: str(p.parent / n)
    parts = stem.split("_")
    by_base = {c.rsplit("/", 1)[-1].lower(): c for c in candidates}
    for k in range(len(parts), 0, -1):
        name = ("_".join(parts[:k]) + ".asf").lower()
        if name in by_base:
            return join(by_base[name])
    if len(candidates) == 1:
        return join(candidates[0])
    raise ASFError(f"{amc_path}: cannot tell which ASF skeleton belongs to it ("
                   + (f"{len(candidates)} .asf files beside it" if candidates else "no .asf file beside it")
                   + "); put the matching .asf beside it, named like the motion's prefix (01.asf for 01_01.amc)")


def read_asf_amc(asf_path: str | os.PathLike, amc_path: str | os.PathLike | None = None, fps: float = 120.0) -> BVH:
    """Read an ASF skeleton and an AMC motion (each a path or ``archive.zip::member``) as a BVH object.

    With one argument ending in ``.amc``, the ASF is found by :func:`find_asf`. AMC has no frame rate in the
    file: CMU and HDM05 record at 120 fps, the default; pass ``fps`` for others."""
    asf_path = str(asf_path)
    if amc_path is None:
        if not asf_path.lower().endswith(".amc"):
            raise ASFError(f"{asf_path}: expected an .amc motion (with its .asf beside it) or both files")
        amc_path, asf_path = asf_path, find_asf(asf_path)
    amc_path = str(amc_path)
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps: expected a positive number for the AMC frame rate, got {fps}")
    asf_text, asf_src = read_text(asf_path)
    skeleton = parse_asf(asf_text, asf_src)
    amc_text, amc_src = read_text(amc_path)
    if re.search(r"^\s*:bonedata", amc_text, re.M):
        raise ASFError(f"{amc_src}: is an ASF skeleton, not an AMC motion")
    motion = parse_amc(amc_text, skeleton, amc_src)
    return asf_amc_to_bvh(skeleton, motion, fps, amc_src)
