"""BVH in and out.

Reading accepts any hierarchy and channel order (Euler channels are composed in the order listed, i.e. intrinsic
rotations); a joint's position channels, when present, *replace* its OFFSET as its local translation, which is how
Blender and most tools read files such as Bandai Namco's (whose non-root position channels equal their offsets).
``End Site`` points are kept as extra points named ``<joint>_End`` (some rigs, e.g. Aalto's, have no toe joint).

Writing turns joint positions (T, 22, 3) of the HumanML3D layout into a standard BVH: a ``Hips`` root with
position channels, Mixamo-style joint names that Blender, Maya and Unity recognise, and rotations from IK.
"""
from __future__ import annotations

import io
import os
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..skeleton import HUMANML3D, SkeletonSpec

__all__ = ["BVH", "BVHError", "read_bvh", "parse_bvh", "write_bvh", "write_bvh_skeleton", "BVH_JOINT_NAMES_22",
           "SolvedPose", "solve_rotations"]

_ROT_CHANNELS = {"xrotation": "X", "yrotation": "Y", "zrotation": "Z"}
_POS_CHANNELS = {"xposition": 0, "yposition": 1, "zposition": 2}


class BVHError(ValueError):
    """A malformed BVH file; the message names the file and the line or joint."""


MAX_FRAMES = 1_000_000          # 14 h at 20 fps: more is a corrupt header, not a motion
MAX_SECONDS = 3600.0            # a BVH's duration (frames x frame time) is capped before anything is resampled


@dataclass
class BVH:
    joint_names: list[str]
    parents: list[int]
    offsets: np.ndarray                 # (J, 3) rest offsets, file units
    channels: list[list[str]]           # per joint, as written in the file
    end_sites: dict[int, np.ndarray]    # joint index -> End Site offset
    frame_time: float
    motion: np.ndarray                  # (F, total channels)
    source: str = "<bvh>"
    _channel_start: list[int] = field(default_factory=list, repr=False)

    def __post_init__(self):
        start, acc = [], 0
        for ch in self.channels:
            start.append(acc)
            acc += len(ch)
        self._channel_start = start

    @property
    def fps(self) -> float:
        return 1.0 / self.frame_time

    @property
    def num_frames(self) -> int:
        return int(self.motion.shape[0])

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    def local_transforms(self) -> tuple[Rotation, np.ndarray]:
        """Per-frame local rotations (scipy Rotation of shape F*J, frame-major) and translations (F, J, 3)."""
        f, j = self.num_frames, self.num_joints
        quats = np.zeros((f, j, 4))
        quats[..., 3] = 1.0
        trans = np.broadcast_to(self.offsets, (f, j, 3)).copy()
        for k, chans in enumerate(self.channels):
            s = self._channel_start[k]
            order, cols = "", []
            for c, name in enumerate(chans):
                lname = name.lower()
                if lname in _POS_CHANNELS:
                    trans[:, k, _POS_CHANNELS[lname]] = self.motion[:, s + c]
                elif lname in _ROT_CHANNELS:
                    order += _ROT_CHANNELS[lname]
                    cols.append(s + c)
            if order:
                quats[:, k] = Rotation.from_euler(order, self.motion[:, cols], degrees=True).as_quat()
        return Rotation.from_quat(quats.reshape(-1, 4)), trans

    def world_positions(self, include_end_sites: bool = False) -> tuple[np.ndarray, list[str]]:
        """Forward kinematics: world positions (F, J[+E], 3) in file units, and the names of those points."""
        f, j = self.num_frames, self.num_joints
        rot, trans = self.local_transforms()
        local_q = rot.as_quat().reshape(f, j, 4)
        world_rot: list[Rotation | None] = [None] * j
        pos = np.zeros((f, j, 3))
        for k in range(j):
            p = self.parents[k]
            lr = Rotation.from_quat(local_q[:, k])
            if p < 0:
                world_rot[k] = lr
                pos[:, k] = trans[:, k]
            else:
                world_rot[k] = world_rot[p] * lr
                pos[:, k] = pos[:, p] + world_rot[p].apply(trans[:, k])
        names = list(self.joint_names)
        if include_end_sites and self.end_sites:
            extra = []
            for k, off in self.end_sites.items():
                extra.append(pos[:, k] + world_rot[k].apply(np.tile(off, (f, 1))))
                names.append(f"{self.joint_names[k]}_End")
            pos = np.concatenate([pos, np.stack(extra, axis=1)], axis=1)
        return pos, names


def _fail(source: str, line: int | None, msg: str) -> BVHError:
    where = f"{source}, line {line}" if line is not None else source
    return BVHError(f"{where}: {msg}")


def parse_bvh(text: str, source: str = "<bvh>") -> BVH:
    """Parse BVH text. Errors name ``source`` and the line (1-based) or joint at fault."""
    lines = text.splitlines()
    names: list[str] = []
    parents: list[int] = []
    offsets: list[np.ndarray] = []
    channels: list[list[str]] = []
    end_sites: dict[int, np.ndarray] = {}
    stack: list[int] = []           # joint indices; -2 marks an End Site block
    pending: str | None = None      # "joint" or "end" waiting for '{'
    in_end = False
    i = 0
    if not any(l.strip().upper().startswith("HIERARCHY") for l in lines[:5]):
        raise _fail(source, 1, "not a BVH file (no HIERARCHY header)")
    motion_line = None
    while i < len(lines):
        raw = lines[i]
        toks = raw.split()
        i += 1
        if not toks:
            continue
        key = toks[0].upper()
        if key == "HIERARCHY":
            continue
        if key in ("ROOT", "JOINT"):
            if in_end:
                raise _fail(source, i, f"{toks[0]} inside an End Site block (an End Site has no children)")
            if key == "JOINT" and not stack:
                raise _fail(source, i, "JOINT outside the ROOT's braces")
            if len(toks) < 2:
                raise _fail(source, i, f"{toks[0]} without a name")
            if key == "ROOT" and names:
                raise _fail(source, i, "more than one ROOT (only one skeleton per file is supported)")
            name = " ".join(toks[1:])
            if name in names:
                raise _fail(source, i, f"duplicate joint name {name!r}")
            names.append(name)
            parents.append(stack[-1] if stack else -1)
            offsets.append(np.zeros(3))
            channels.append([])
            pending = "joint"
        elif key == "END":
            if not stack or in_end:
                raise _fail(source, i, "End Site outside a joint")
            pending = "end"
        elif key == "{":
            if pending == "joint":
                stack.append(len(names) - 1)
            elif pending == "end":
                stack.append(-2)
                in_end = True
            else:
                raise _fail(source, i, "unexpected '{'")
            pending = None
        elif key == "}":
            if not stack:
                raise _fail(source, i, "unbalanced '}'")
            if stack.pop() == -2:
                in_end = False
        elif key == "OFFSET":
            if not stack:
                raise _fail(source, i, "OFFSET outside a joint's braces")
            try:
                vals = np.array([float(t) for t in toks[1:4]])
            except ValueError:
                raise _fail(source, i, f"OFFSET needs 3 numbers, got {' '.join(toks[1:])!r}") from None
            if len(vals) != 3 or not np.isfinite(vals).all():
                raise _fail(source, i, f"OFFSET needs 3 finite numbers, got {' '.join(toks[1:])!r}")
            if in_end:
                end_sites[stack[-2]] = vals
            else:
                offsets[stack[-1]] = vals
        elif key == "CHANNELS":
            if not stack:
                raise _fail(source, i, "CHANNELS outside a joint's braces")
            if in_end:
                raise _fail(source, i, "CHANNELS inside an End Site (an End Site has no channels)")
            try:
                n = int(toks[1])
            except (IndexError, ValueError):
                raise _fail(source, i, "CHANNELS needs a count") from None
            if not 0 <= n <= 9:
                raise _fail(source, i, f"CHANNELS count must be 0..9, got {n}")
            chans = toks[2:]
            if len(chans) != n:
                raise _fail(source, i, f"joint {names[stack[-1]]!r}: CHANNELS declares {n} channels but names {len(chans)}")
            bad = [c for c in chans if c.lower() not in _ROT_CHANNELS and c.lower() not in _POS_CHANNELS]
            if bad:
                raise _fail(source, i, f"joint {names[stack[-1]]!r}: unknown channel {bad[0]!r}")
            if len({c.lower() for c in chans}) != len(chans):
                raise _fail(source, i, f"joint {names[stack[-1]]!r}: a channel is listed twice ({' '.join(chans)})")
            if channels[stack[-1]]:
                raise _fail(source, i, f"joint {names[stack[-1]]!r}: a second CHANNELS line")
            channels[stack[-1]] = chans
        elif key == "MOTION":
            if stack:
                raise _fail(source, i, f"MOTION before the hierarchy is closed ({len(stack)} unclosed '{{')")
            motion_line = i
            break
        else:
            raise _fail(source, i, f"unexpected {toks[0]!r} in HIERARCHY")
    if motion_line is None:
        raise _fail(source, len(lines), "no MOTION block (file truncated?)")
    if not names:
        raise _fail(source, motion_line, "no joints in HIERARCHY")

    n_frames = frame_time = None
    while i < len(lines) and (n_frames is None or frame_time is None):
        l = lines[i].strip()
        i += 1
        if not l:
            continue
        m = re.match(r"frames\s*:\s*(\d+)", l, re.I)
        if m:
            if len(m.group(1)) > 12:
                raise _fail(source, i, f"'Frames:' is a {len(m.group(1))}-digit number; the header is corrupt")
            n_frames = int(m.group(1))
            continue
        m = re.match(r"frame\s*time\s*:\s*([-+0-9.eE]+)", l, re.I)
        if m:
            try:
                frame_time = float(m.group(1))
            except ValueError:
                raise _fail(source, i, f"Frame Time must be a positive number of seconds, got "
                                       f"{m.group(1)[:40]!r}") from None
            continue
        raise _fail(source, i, f"expected 'Frames:' and 'Frame Time:', got {l[:40]!r}")
    if n_frames is None or frame_time is None:
        raise _fail(source, i, "MOTION block truncated before 'Frames:' / 'Frame Time:'")
    if not (np.isfinite(frame_time) and frame_time > 0):
        raise _fail(source, i, f"Frame Time must be a positive number, got {frame_time}")
    if n_frames < 1:
        raise _fail(source, i, "'Frames: 0': the file holds no motion")
    if n_frames > MAX_FRAMES:
        raise _fail(source, i, f"'Frames: {n_frames}' is more than {MAX_FRAMES} frames; the header is corrupt")
    if n_frames * frame_time > MAX_SECONDS:
        raise _fail(source, i, f"{n_frames} frames x Frame Time {frame_time:g} s = {n_frames * frame_time:g} s, more "
                               f"than {MAX_SECONDS:g} s; the Frame Time is likely wrong (it is seconds per frame)")

    n_ch = sum(len(c) for c in channels)
    body = lines[i:]
    tokens = " ".join(body).split()
    motion = None
    if len(tokens) >= n_frames * n_ch and n_ch > 0:
        try:     # the fast path (a 52 MB file in about a second): one split and one conversion
            motion = np.array(tokens[:n_frames * n_ch], dtype=np.float64).reshape(n_frames, n_ch)
        except ValueError:
            motion = None
    row_lines = [i + k + 1 for k, l in enumerate(body) if l.strip()]
    if motion is None or any(len(body[r - i - 1].split()) != n_ch for r in row_lines[:n_frames]):
        # the slow path finds the first bad line, to name it
        count = 0
        for k, l in enumerate(body):
            toks = l.split()
            if not toks:
                continue
            if len(toks) != n_ch:
                raise _fail(source, i + k + 1, f"expected {n_ch} channel values (from the hierarchy), found {len(toks)}")
            for t in toks:
                try:
                    float(t)
                except ValueError:
                    raise _fail(source, i + k + 1, f"{t!r} is not a number") from None
            count += 1
            if count == n_frames:
                break
        if count < n_frames:
            raise _fail(source, len(lines), f"truncated MOTION block: 'Frames: {n_frames}' but only {count} frames")
        if motion is None:
            motion = np.array(" ".join(body).split()[:n_frames * n_ch], dtype=np.float64).reshape(n_frames, n_ch)
    bad = ~np.isfinite(motion)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        starts = np.cumsum([0] + [len(x) for x in channels])
        owner = int(np.searchsorted(starts, c, side="right")) - 1
        start = int(starts[owner])
        raise _fail(source, row_lines[int(r)],
                    f"joint {names[owner]!r} channel {channels[owner][c - start]}: {motion[r, c]} is not a finite number")
    return BVH(names, parents, np.array(offsets), channels, end_sites, frame_time, motion, source)


def read_source_bytes(path: str | os.PathLike, member: str | None = None, error: type = None,
                      what: str = "BVH", zip_is_archive: bool = True) -> tuple[bytes, str]:
    """(bytes, source name) of a file or of a ``member`` of a zip archive read in place (``path`` may also be
    ``archive.zip::member``): the one archive reader of every motion format. A missing file or member raises
    FileNotFoundError; an unreadable archive (corrupt, truncated, a compression it cannot undo) or a directory
    raises ``error`` (default :class:`BVHError`) naming the source. ``zip_is_archive=False``: a zip file given
    without a member is the file itself (an .npz is a zip)."""
    error = error or BVHError
    path = str(path)
    if member is None and "::" in path:
        path, member = path.split("::", 1)
    source = f"{path}::{member}" if member else path
    if not os.path.exists(path):
        raise FileNotFoundError(f"{what} file not found: {path}")
    if member is not None or (zip_is_archive and zipfile.is_zipfile(path)):
        if member is None:
            raise error(f"{path}: is a zip archive; name the {what} member (archive.zip::member)")
        try:
            with zipfile.ZipFile(path) as zf:
                try:
                    return zf.read(member), source
                except KeyError:
                    raise FileNotFoundError(f"{path}: archive has no member {member!r}") from None
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError, ValueError,
                zlib.error) as e:
            if isinstance(e, FileNotFoundError):
                raise
            raise error(f"{source}: cannot read the zip archive ({e})") from None
    if os.path.isdir(path):
        raise error(f"{path}: is a directory, not a {what} file")
    return Path(path).read_bytes(), source


def read_bvh(path: str | os.PathLike, member: str | None = None) -> BVH:
    """Read a BVH file, or a ``member`` of a zip archive in place (``path`` may also be ``archive.zip::member``)."""
    data, source = read_source_bytes(path, member)
    return parse_bvh(data.decode("utf-8", errors="replace"), source)


# ---- writing ------------------------------------------------------------------------------------
BVH_JOINT_NAMES_22 = (
    "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot",
    "Spine2", "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm",
    "RightArm", "LeftForeArm", "RightForeArm", "LeftHand", "RightHand",
)


def _children(parents: list[int]) -> list[list[int]]:
    kids: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            kids[p].append(j)
    return kids


def _kabsch(rest: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Rotation matrices (T, 3, 3) that best map rest vectors (K, 3) onto current vectors (T, K, 3)."""
    h = np.einsum("kc,tkd->tcd", rest, cur)
    u, _, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(np.einsum("tij,tjk->tik", u, vt)))
    corr = np.ones((len(h), 3))
    corr[:, 2] = d
    return np.einsum("tji,tj,tkj->tik", vt, corr, u)


def _rest_offsets(joints: np.ndarray, spec: SkeletonSpec) -> np.ndarray:
    """Rest offsets: HumanML3D's rest directions x median bone length, except the children of branching joints
    (pelvis, spine3), which keep the data's own local geometry so one rigid rotation fits all of them."""
    parents = spec.parents
    kids = _children(parents)
    raw = np.asarray(spec.raw_offsets, dtype=np.float64)
    rest = np.zeros((spec.num_joints, 3))
    for j in range(1, spec.num_joints):
        length = np.median(np.linalg.norm(joints[:, j] - joints[:, parents[j]], axis=-1))
        rest[j] = raw[j] * length
    for j, ch in enumerate(kids):
        if len(ch) < 2:
            continue
        vec = joints[:, ch] - joints[:, j:j + 1]                          # (T, K, 3)
        left = [c for c in ch if spec.joint_names[c].startswith("left")]
        right = [c for c in ch if spec.joint_names[c].startswith("right")]
        other = [c for c in ch if c not in left + right]
        if len(left) == 1 and len(right) == 1 and other:
            x = vec[:, ch.index(left[0])] - vec[:, ch.index(right[0])]
            y = vec[:, ch.index(other[0])]
            x /= np.linalg.norm(x, axis=-1, keepdims=True)
            z = np.cross(x, y)
            z /= np.linalg.norm(z, axis=-1, keepdims=True)
            y = np.cross(z, x)
            frame = np.stack([x, y, z], axis=-1)                          # (T, 3, 3), columns = axes
            local = np.einsum("tcd,tkc->tkd", frame, vec).mean(0)          # vec in the joint's frame
            for k, c in enumerate(ch):
                rest[c] = local[k]
    return rest


def write_bvh(path: str | os.PathLike, joints: np.ndarray, fps: float = 20.0, units: str = "cm",
              spec: SkeletonSpec = HUMANML3D, joint_names: tuple[str, ...] = BVH_JOINT_NAMES_22,
              branch_positions: bool = True) -> None:
    """Write joint positions (T, 22, 3) in metres, Y up, as BVH (written atomically).

    Each joint's rotation is found by IK: branching joints (pelvis, spine3) take the rigid rotation that best fits
    all their children (Kabsch), every other joint the minimal rotation turning its rest bone onto the observed
    bone. Bone lengths are each bone's median. Mocap rigs rarely keep the pelvis/hips/spine and chest/neck/clavicle
    triangles rigid (CMU's clavicles and lower back rotate on their own), so with ``branch_positions`` the children
    of branching joints (hips, spine, neck, collars) also carry position channels, as Bandai Namco's files do on
    every joint; positions read back then match the input up to the input's own bone-length variation.
    """
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3):
        raise ValueError(f"joints: expected shape (T, {spec.num_joints}, 3), got {joints.shape}")
    if not np.isfinite(joints).all():
        raise ValueError("joints: contains NaN or infinite values")
    scale = {"m": 1.0, "cm": 100.0, "mm": 1000.0}.get(units)
    if scale is None:
        raise ValueError(f"units: expected 'm', 'cm' or 'mm', got {units!r}")
    pose = solve_rotations(joints, spec, branch_positions)
    offsets = pose.rest * scale
    offsets[0] = 0.0
    trans = pose.local_translations(joints) * scale
    channels = {0: joints[:, 0] * scale} | {j: trans[:, j] for j in pose.positioned}
    write_bvh_skeleton(path, list(joint_names), pose.parents, offsets, pose.local, channels, fps)


def write_bvh_skeleton(path: str | os.PathLike, names: list[str], parents: list[int], offsets: np.ndarray,
                       local: np.ndarray, translations: dict[int, np.ndarray], fps: float,
                       end_sites: dict[int, np.ndarray] | None = None, unwrap: bool = False) -> Path:
    """Write a skeleton and its motion as BVH (written atomically): the one BVH writer of the package.

    ``names``/``parents`` (one root; whitespace in names becomes ``_``), ``offsets`` (J, 3) in file units,
    ``local`` (T, J, 3, 3) rotations relative to the parent (written as ZXY Euler angles; ``unwrap``: no 360-degree
    jumps between frames), ``translations`` {joint: (T, 3)} position channels in file units (the root's is
    required). A leaf gets ``end_sites[j]`` as its End Site, else half its own offset."""
    roots = [j for j, p in enumerate(parents) if p < 0]
    if len(roots) != 1 or roots[0] not in translations:
        raise ValueError(f"a BVH holds one root with position channels; got roots {roots}")
    kids = _children(parents)
    end_sites = end_sites or {}
    t = len(local)
    out = io.StringIO()
    out.write("HIERARCHY\n")
    order: list[int] = []

    def emit(j: int, depth: int) -> None:
        order.append(j)
        pad = "  " * depth
        kw = "ROOT" if parents[j] < 0 else "JOINT"
        name = re.sub(r"\s+", "_", names[j])
        off = offsets[j]
        out.write(f"{pad}{kw} {name}\n{pad}{{\n")
        out.write(f"{pad}  OFFSET {off[0]:.6f} {off[1]:.6f} {off[2]:.6f}\n")
        if j in translations:
            out.write(f"{pad}  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation\n")
        else:
            out.write(f"{pad}  CHANNELS 3 Zrotation Xrotation Yrotation\n")
        for c in kids[j]:
            emit(c, depth + 1)
        if not kids[j]:
            end = end_sites.get(j)
            if end is None:
                end = off * 0.5 if np.linalg.norm(off) > 0 else np.array([0.0, 1.0, 0.0])
            out.write(f"{pad}  End Site\n{pad}  {{\n{pad}    OFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}\n{pad}  }}\n")
        out.write(f"{pad}}}\n")

    emit(roots[0], 0)
    euler = Rotation.from_matrix(np.asarray(local).reshape(-1, 3, 3)).as_euler("ZXY", degrees=True).reshape(
        t, len(names), 3)
    if unwrap:
        euler = np.degrees(np.unwrap(np.radians(euler), axis=0))
    out.write(f"MOTION\nFrames: {t}\nFrame Time: {1.0 / fps:.8f}\n")
    cols = []
    for j in order:
        if j in translations:
            cols.append(translations[j])
        cols.append(euler[:, j])
    np.savetxt(out, np.concatenate(cols, axis=1), fmt="%.6f")
    path = Path(path)
    _atomic_write_text(path, out.getvalue())
    return path


@dataclass
class SolvedPose:
    """What IK finds for joint positions (T, J, 3): shared by the BVH and the glTF writers, so they agree."""

    parents: list[int]
    children: list[list[int]]
    rest: np.ndarray              # (J, 3) rest offsets in metres (parent frame, rest rotations are identity)
    world: np.ndarray             # (T, J, 3, 3) world rotation of each joint
    local: np.ndarray             # (T, J, 3, 3) rotation relative to the parent joint
    positioned: set[int]          # joints whose translation is animated too (children of branching joints)

    def local_translations(self, joints: np.ndarray) -> np.ndarray:
        """(T, J, 3) each joint's translation in its parent's frame (the root's: its world position)."""
        out = np.broadcast_to(self.rest, (len(joints),) + self.rest.shape).copy()
        out[:, 0] = joints[:, 0]
        for j in self.positioned:
            p = self.parents[j]
            out[:, j] = np.einsum("tji,tj->ti", self.world[:, p], joints[:, j] - joints[:, p])
        return out


def solve_rotations(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D, branch_positions: bool = True) -> SolvedPose:
    """Joint rotations from positions (see :func:`write_bvh`): Kabsch at branching joints, minimal rotations
    elsewhere; rest offsets from :func:`_rest_offsets`."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3) or len(joints) < 1:
        raise ValueError(f"joints: expected shape (T >= 1, {spec.num_joints}, 3), got {joints.shape}")
    if not np.isfinite(joints).all():
        raise ValueError("joints: contains NaN or infinite values")
    parents = spec.parents
    for j in range(1, spec.num_joints):
        if np.median(np.linalg.norm(joints[:, j] - joints[:, parents[j]], axis=-1)) < 1e-6:
            raise ValueError(f"joints: the bone {spec.joint_names[parents[j]]} -> {spec.joint_names[j]} has zero "
                             f"length (a degenerate skeleton); nothing can be solved for it")
    kids = _children(parents)
    rest = _rest_offsets(joints, spec)
    t = len(joints)
    world = np.zeros((t, spec.num_joints, 3, 3))
    for j in _depth_first(kids):
        p = parents[j]
        parent_rot = world[:, p] if p >= 0 else np.broadcast_to(np.eye(3), (t, 3, 3))
        ch = kids[j]
        if len(ch) >= 2:
            try:
                world[:, j] = _kabsch(rest[ch], joints[:, ch] - joints[:, j:j + 1])
            except np.linalg.LinAlgError as e:
                raise ValueError(f"joints: cannot solve the rotation of {spec.joint_names[j]} ({e})") from None
        elif len(ch) == 1:
            c = ch[0]
            d = np.einsum("tji,tj->ti", parent_rot, joints[:, c] - joints[:, j])   # in the parent's frame
            u = np.broadcast_to(rest[c], d.shape)
            world[:, j] = parent_rot @ _rotation_between(u, d)
        else:
            world[:, j] = parent_rot
    local = np.empty_like(world)
    for j in range(spec.num_joints):
        p = parents[j]
        local[:, j] = world[:, j] if p < 0 else np.einsum("tji,tjk->tik", world[:, p], world[:, j])
    positioned = {c for j, ch in enumerate(kids) if len(ch) >= 2 for c in ch} if branch_positions else set()
    return SolvedPose(parents, kids, rest, world, local, positioned)


def _depth_first(kids: list[list[int]]) -> list[int]:
    order, stack = [], [0]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(kids[j]))
    return order


def _rotation_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Minimal rotation matrices turning directions u onto v (T, 3)."""
    from .quaternion import qbetween_np, quaternion_to_matrix_np
    return quaternion_to_matrix_np(qbetween_np(u, v))


def _atomic_write_text(path: Path, text: str) -> None:
    from ..io_utils import atomic_write_bytes
    atomic_write_bytes(path, text.encode())
