"""Retarget a motion onto the user's own character: any BVH or glTF/GLB rig, its own skeleton kept.

The source is a motion on our 22-joint HumanML3D layout (joint positions, metres, Y up). The character is a rig
read from a BVH (its zero pose, or its first frame) or from a glTF/GLB skin (its nodes' rest pose, or the first
frame of its first animation). Its bones are mapped to our 22 joints by name (the presets of
:mod:`.retarget`, plus Unreal mannequin and Rokoko names here; auto-detected) or by a user's JSON map.

How each frame is solved (all in world space, metres, Y up):

* every mapped joint ``j`` gets a world rotation *relative to its own rest* ``D_j``: a joint whose SMPL joint has
  several mapped branches below (pelvis, chest) takes the rigid rotation that best turns its rest bone directions
  onto the source's bone directions (Kabsch on unit vectors); a joint with one branch takes its parent's ``D`` and
  then the minimal rotation from that to the source's bone direction, so twist is inherited along a chain rather
  than made up; a leaf (head, hands, toes) keeps its parent's ``D``. Because directions are compared with the
  character's *own* rest directions, T-pose, A-pose or any other rest needs no special case;
* unmapped joints keep their rest local rotation (they ride on their parent) and are reported;
* proportions: the pelvis path is the source's scaled by the ratio of leg lengths (hip-knee-ankle), the feet are
  put at the source's (scaled) height during the source's foot contacts (:func:`.cleanup.detect_contacts`), and
  during each contact (and from the frame before it) the joints on the ground move horizontally as the source's
  do, from where the character's own leg put them down, by the analytic two-bone leg IK of
  :func:`.cleanup.two_bone_ik` (knee kept in its bend plane, foot orientation kept; :func:`_plant_targets` says
  which joint follows when both are down), blended back over a few frames after the contact: the ankles and the
  toes each slide no more than the source's;
* local rotations are ``L_j = W_parent^-1 W_j`` with ``W_j = D_j R_rest_j``.
"""
from __future__ import annotations

import functools
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..skeleton import HUMANML3D
from .bvh import _kabsch
from .cleanup import _runs, detect_contacts, two_bone_ik
from .gltf import append_accessor
from .retarget import PRESETS, UNITS, Lerp, RigPreset, _sides, detect_units, normalize_joint_name

__all__ = ["Character", "CharacterError", "CharacterMotion", "CHARACTER_PRESETS", "read_character", "bone_map",
           "retarget_to_character", "write_character_bvh", "write_character_glb"]


class CharacterError(ValueError):
    """A character file or bone map that cannot be used; the message names the file or the bone."""


# Rigs seen as *targets* more than as mocap sources; kept here so the source presets of retarget.py stay as they are.
CHARACTER_PRESETS: dict[str, RigPreset] = {
    "unreal": RigPreset("unreal", "Unreal Engine mannequin (UE4/UE5: pelvis, spine_01.., thigh_l, calf_l, ball_l)",
                        _sides({
        "pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_02", "spine3": ("spine_05", "spine_03"),
        "neck": "neck_01", "head": "head", "{side}_hip": "thigh_{s}", "{side}_knee": "calf_{s}",
        "{side}_ankle": "foot_{s}", "{side}_foot": "ball_{s}", "{side}_collar": "clavicle_{s}",
        "{side}_shoulder": "upperarm_{s}", "{side}_elbow": "lowerarm_{s}", "{side}_wrist": "hand_{s}",
    })),
    "rokoko": RigPreset("rokoko", "Rokoko Studio / Smartsuit (Hips, Spine1-4, LeftThigh, LeftShin, LeftToe)", _sides({
        "pelvis": "Hips", "spine1": "Spine1", "spine2": "Spine2", "spine3": ("Spine4", "Spine3"), "neck": "Neck",
        "head": "Head", "{side}_hip": "{Side}Thigh", "{side}_knee": "{Side}Shin", "{side}_ankle": "{Side}Foot",
        "{side}_foot": "{Side}Toe", "{side}_collar": "{Side}Shoulder", "{side}_shoulder": "{Side}Arm",
        "{side}_elbow": "{Side}ForeArm", "{side}_wrist": "{Side}Hand",
    })),
}
_REQUIRED = ("pelvis", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")
SMPL = HUMANML3D.joint_names
_SMPL_PARENTS = HUMANML3D.parents
_SMPL_CHILDREN = [[c for c, p in enumerate(_SMPL_PARENTS) if p == j] for j in range(22)]


@dataclass
class Character:
    """A rig in its rest pose. Local transform of joint j: translate ``offsets[j]``, rotate ``rest_local[j]``,
    scale ``scales[j]`` (uniform); the root's parent is the fixed ``base`` (file units and axes -> metres, Y up)."""

    names: list[str]
    parents: list[int]                 # parents before children
    offsets: np.ndarray                # (J, 3) file units
    rest_local: np.ndarray             # (J, 3, 3)
    scales: np.ndarray                 # (J,)
    base_scale: float = 1.0            # metres per file unit (and glTF ancestors' scale)
    base_rot: np.ndarray = field(default_factory=lambda: np.eye(3))
    base_trans: np.ndarray = field(default_factory=lambda: np.zeros(3))
    kind: str = "bvh"                  # "bvh" or "gltf"
    source: str = "<character>"
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)
    nodes: list[int] | None = None     # glTF node index of each joint
    units: str = "m"

    @property
    def num_joints(self) -> int:
        return len(self.names)

    def rest_world(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """World positions (J, 3) in metres, rotations (J, 3, 3) and uniform scales (J,) of the rest pose."""
        j = self.num_joints
        pos, rot, scl = np.zeros((j, 3)), np.zeros((j, 3, 3)), np.zeros(j)
        for k, p in enumerate(self.parents):
            if p < 0:
                pos[k] = self.base_trans + self.base_scale * self.base_rot @ self.offsets[k]
                rot[k] = self.base_rot @ self.rest_local[k]
                scl[k] = self.base_scale * self.scales[k]
            else:
                pos[k] = pos[p] + scl[p] * rot[p] @ self.offsets[k]
                rot[k] = rot[p] @ self.rest_local[k]
                scl[k] = scl[p] * self.scales[k]
        return pos, rot, scl


# ---- reading ------------------------------------------------------------------------------------------
def read_character(path: str | os.PathLike, rest: str = "rest", units: str | None = None, up: str = "y") -> Character:
    """A character from a BVH (``archive.zip::member.bvh`` too) or a glTF/GLB file.

    ``rest``: "rest" (BVH: the zero pose of its offsets; glTF: the nodes' own transforms) or "first-frame" (the
    first frame of its motion / first animation). BVH ``units`` are inferred from the body's size unless given.
    """
    if rest not in ("rest", "first-frame"):
        raise CharacterError(f"--rest: expected 'rest' or 'first-frame', got {rest!r}")
    path = str(path)
    file = path.split("::")[0]
    if not os.path.exists(file):
        raise FileNotFoundError(f"--to: character file not found: {file}")
    low = path.lower()
    if low.endswith(".bvh"):
        return _read_bvh_character(path, rest, units, up)
    if low.endswith((".glb", ".gltf")):
        return _read_gltf_character(path, rest)
    raise CharacterError(f"--to {path}: expected a .bvh, .glb or .gltf character")


def _read_bvh_character(path: str, rest: str, units: str | None, up: str) -> Character:
    from .bvh import read_bvh
    bvh = read_bvh(path)
    j = bvh.num_joints
    offsets = bvh.offsets.astype(np.float64).copy()
    rest_local = np.tile(np.eye(3), (j, 1, 1))
    if rest == "first-frame":
        rot, trans = bvh.local_transforms()
        rest_local = rot.as_matrix().reshape(bvh.num_frames, j, 3, 3)[0]
        offsets = trans[0].copy()
    if up.lower() == "z":
        base_rot = np.array([[1.0, 0, 0], [0, 0, 1], [0, -1, 0]])   # file z up -> y up (x kept; file y -> -z)
    elif up.lower() == "y":
        base_rot = np.eye(3)
    else:
        raise CharacterError(f"--up: expected 'y' or 'z', got {up!r}")
    ch = Character(list(bvh.joint_names), list(bvh.parents), offsets, rest_local, np.ones(j), 1.0, base_rot,
                   np.zeros(3), "bvh", path, dict(bvh.end_sites))
    if units is None:
        preset, mapping = _best_preset(ch.names, ch.parents)
        pts = _smpl_points(ch.rest_world()[0], mapping, preset)
        if pts is None:
            raise CharacterError(f"{path}: cannot infer the units (the legs and spine are not all mapped); pass --units")
        units = detect_units(pts[None])
    if units not in UNITS:
        raise CharacterError(f"--units: expected one of {', '.join(UNITS)}, got {units!r}")
    ch.base_scale, ch.units = UNITS[units], units
    return ch


def _trs_of(node) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(translation, rotation matrix, scale (3,)) of a glTF node."""
    if node.matrix is not None and len(node.matrix) == 16 and not np.allclose(node.matrix, np.eye(4).ravel()):
        m = np.array(node.matrix, np.float64).reshape(4, 4).T        # column-major
        t = m[:3, 3].copy()
        s = np.linalg.norm(m[:3, :3], axis=0)
        r = m[:3, :3] / s
        if np.linalg.det(r) < 0:
            s[0], r[:, 0] = -s[0], -r[:, 0]
        return t, r, s
    t = np.array(node.translation if node.translation is not None else [0.0, 0, 0], np.float64)
    q = node.rotation if node.rotation is not None else [0.0, 0, 0, 1]
    s = np.array(node.scale if node.scale is not None else [1.0, 1, 1], np.float64)
    return t, Rotation.from_quat(q).as_matrix(), s


def _uniform(s: np.ndarray, what: str) -> float:
    if np.ptp(s) > 1e-4 * max(abs(s).max(), 1e-9) or s.min() <= 0:
        raise CharacterError(f"{what}: non-uniform or negative scale {s.tolist()} is not supported")
    return float(s.mean())


def _load_gltf(path: str):
    import pygltflib as g
    try:
        gl = g.GLTF2().load(path)
    except Exception as e:     # pygltflib raises many kinds on a bad file
        raise CharacterError(f"{path}: cannot read as glTF ({type(e).__name__}: {e})") from None
    if gl is None:
        raise CharacterError(f"{path}: cannot read as glTF")
    return gl


def _accessor(gl, index: int) -> np.ndarray:
    """A float accessor as (count, width), from the GLB blob or a data URI buffer."""
    import pygltflib as g
    acc = gl.accessors[index]
    view = gl.bufferViews[acc.bufferView]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
    data = gl.get_data_from_buffer_uri(gl.buffers[view.buffer].uri) if gl.buffers[view.buffer].uri else gl.binary_blob()
    dtype = {g.FLOAT: np.float32, g.UNSIGNED_SHORT: np.uint16, g.SHORT: np.int16, g.UNSIGNED_BYTE: np.uint8,
             g.BYTE: np.int8, g.UNSIGNED_INT: np.uint32}[acc.componentType]
    item = np.dtype(dtype).itemsize * width
    stride = view.byteStride or item
    start = (view.byteOffset or 0) + (acc.byteOffset or 0)
    raw = np.frombuffer(data, np.uint8, count=stride * (acc.count - 1) + item, offset=start)
    rows = np.lib.stride_tricks.as_strided(raw, (acc.count, item), (stride, 1))
    out = np.frombuffer(rows.copy().tobytes(), dtype).reshape(acc.count, width).astype(np.float64)
    if acc.normalized and dtype != np.float32:
        out /= np.iinfo(dtype).max
    return out


def _read_gltf_character(path: str, rest: str) -> Character:
    gl = _load_gltf(path)
    if not gl.skins:
        raise CharacterError(f"{path}: the glTF holds no skin (no skeleton to animate)")
    joints = list(gl.skins[0].joints)
    parent_of = {c: p for p, n in enumerate(gl.nodes) for c in (n.children or [])}
    jset = set(joints)
    roots = [n for n in joints if parent_of.get(n) not in jset]
    order: list[int] = []
    stack = list(reversed(roots))
    while stack:                                      # parents before children
        n = stack.pop()
        order.append(n)
        stack.extend(reversed([c for c in (gl.nodes[n].children or []) if c in jset]))
    if len(order) != len(joints):
        raise CharacterError(f"{path}: the skin's joints are not a tree of nodes")
    idx = {n: k for k, n in enumerate(order)}
    trs = [_trs_of(gl.nodes[n]) for n in order]
    offsets = np.array([t for t, _, _ in trs])
    rest_local = np.array([r for _, r, _ in trs])
    scales = np.array([_uniform(s, f"{path}: joint {gl.nodes[n].name!r}") for n, (_, _, s) in zip(order, trs)])
    if rest == "first-frame":
        if not gl.animations:
            raise CharacterError(f"{path}: --rest first-frame, but the file has no animation")
        for ch in gl.animations[0].channels:
            n = ch.target.node
            if n not in idx:
                continue
            first = _accessor(gl, gl.animations[0].samplers[ch.sampler].output)[0]
            if ch.target.path == "rotation":
                rest_local[idx[n]] = Rotation.from_quat(first).as_matrix()
            elif ch.target.path == "translation":
                offsets[idx[n]] = first
    # the fixed transform of the first root's ancestors (an "Armature" node, a scale of 0.01 from FBX ...)
    base = np.eye(4)
    n = parent_of.get(roots[0])
    while n is not None:
        t, r, s = _trs_of(gl.nodes[n])
        m = np.eye(4)
        m[:3, :3] = r * s
        m[:3, 3] = t
        base = m @ base
        n = parent_of.get(n)
    bs = np.linalg.norm(base[:3, :3], axis=0)
    base_scale = _uniform(bs, f"{path}: the skeleton's parent nodes")
    names = [gl.nodes[n].name or f"joint_{n}" for n in order]
    parents = [idx[parent_of[n]] if parent_of.get(n) in jset else -1 for n in order]
    return Character(names, parents, offsets, rest_local, scales, base_scale, base[:3, :3] / base_scale,
                     base[:3, 3].copy(), "gltf", path, {}, order)


# ---- bone mapping -------------------------------------------------------------------------------------
def _norm(name: str) -> str:
    return normalize_joint_name(name, drop_namespace=True)


def _all_presets() -> dict[str, RigPreset]:
    out = {k: v for k, v in PRESETS.items() if k != "cmu-iclone"}
    out.update(CHARACTER_PRESETS)
    return out


def _ancestors(parents: list[int], j: int) -> list[int]:
    out = []
    while parents[j] >= 0:
        j = parents[j]
        out.append(j)
    return out


def _match_preset(preset: RigPreset, names: list[str], parents: list[int]) -> dict[int, int]:
    """SMPL index -> character joint, by the preset's names; a joint the preset interpolates (a Lerp) is mapped
    when the character has exactly one joint strictly between the two ends (e.g. CMU's LeftShoulder clavicle)."""
    lookup: dict[str, int] = {}
    for i, n in enumerate(names):
        lookup.setdefault(_norm(n), i)
    mapping: dict[int, int] = {}
    lerps = []
    for smpl_name, entry in preset.joints.items():
        if isinstance(entry, Lerp):
            lerps.append((smpl_name, entry))
            continue
        for cand in entry if isinstance(entry, tuple) else (entry,):
            i = lookup.get(_norm(cand))
            if i is not None and i not in mapping.values():
                mapping[SMPL.index(smpl_name)] = i
                break
    for smpl_name, lerp in lerps:
        a, b = mapping.get(SMPL.index(lerp.a)), mapping.get(SMPL.index(lerp.b))
        if a is None or b is None:
            continue
        between = _ancestors(parents, b)
        if a in between:
            between = between[:between.index(a)]
            if len(between) == 1 and between[0] not in mapping.values():
                mapping[SMPL.index(smpl_name)] = between[0]
    return mapping


def _best_preset(names: list[str], parents: list[int]) -> tuple[RigPreset, dict[int, int]]:
    best, best_key = None, None
    for preset in _all_presets().values():
        mapping = _match_preset(preset, names, parents)
        key = (sum(SMPL.index(r) not in mapping for r in _REQUIRED), -len(mapping))
        if best_key is None or key < best_key:
            best, best_key = (preset, mapping), key
    return best


def bone_map(character: Character, user_map: dict | str | os.PathLike | None = None) -> tuple[str, dict[int, int]]:
    """(how the map was found, SMPL joint index -> character joint index). ``user_map``: a dict or JSON file of
    our joint names (HumanML3D ``left_hip`` or our BVH's ``LeftUpLeg``) -> the character's bone names."""
    names, parents = character.names, character.parents
    if user_map is None:
        preset, mapping = _best_preset(names, parents)
        how = f"preset {preset.name!r}"
    else:
        if not isinstance(user_map, dict):
            p = Path(user_map)
            if not p.is_file():
                raise FileNotFoundError(f"--map: file not found: {p}")
            try:
                user_map = json.loads(p.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise CharacterError(f"--map {p}: not valid JSON ({e})") from None
            if not isinstance(user_map, dict):
                raise CharacterError(f"--map {p}: expected a JSON object of our joint -> your bone")
        from .bvh import BVH_JOINT_NAMES_22
        ours = {n: i for i, n in enumerate(SMPL)} | {n: i for i, n in enumerate(BVH_JOINT_NAMES_22)}
        lookup = {n: i for i, n in enumerate(names)}
        mapping = {}
        for key, bone in user_map.items():
            if key not in ours:
                raise CharacterError(f"--map: {key!r} is not one of our joints ({', '.join(SMPL)})")
            if bone not in lookup:
                raise CharacterError(f"--map: the character has no bone named {bone!r} (for {key})")
            mapping[ours[key]] = lookup[bone]
        how = "user map"
    missing = [SMPL[SMPL.index(r)] for r in _REQUIRED if SMPL.index(r) not in mapping]
    if missing:
        raise CharacterError(
            f"{character.source}: could not map {', '.join(missing)} to the character's bones ("
            + ", ".join(names[:10]) + ("..." if len(names) > 10 else "") + "); give --map FILE.json "
            "(our joint -> your bone)")
    for k, j in mapping.items():
        p = _SMPL_PARENTS[k]
        while p >= 0 and p not in mapping:
            p = _SMPL_PARENTS[p]
        if p >= 0 and mapping[p] not in _ancestors(parents, j):
            raise CharacterError(f"{character.source}: bone {names[j]!r} (our {SMPL[k]}) is not below "
                                 f"{names[mapping[p]]!r} (our {SMPL[p]}) in the character's hierarchy")
    return how, mapping


def _smpl_points(rest_pos: np.ndarray, mapping: dict[int, int], preset: RigPreset) -> np.ndarray | None:
    """The 22 SMPL points of a rest pose (unmapped ones interpolated as the preset says), or None."""
    pts = np.full((22, 3), np.nan)
    for k, j in mapping.items():
        pts[k] = rest_pos[j]
    for _ in range(3):
        for smpl_name, entry in preset.joints.items():
            k = SMPL.index(smpl_name)
            if isinstance(entry, Lerp) and np.isnan(pts[k, 0]):
                a, b = pts[SMPL.index(entry.a)], pts[SMPL.index(entry.b)]
                pts[k] = (1 - entry.w) * a + entry.w * b
    pts = _extended(pts, _extend_indices(preset))
    return None if np.isnan(pts).any() else pts


def _extend_indices(preset: RigPreset | None) -> dict[int, float]:
    """A preset's ``extend`` (SMPL joint name -> factor) by SMPL index."""
    return {SMPL.index(n): f for n, f in preset.extend.items()} if preset is not None else {}


def _extended(points: np.ndarray, extend: dict[int, float]) -> np.ndarray:
    """Points (..., 22, 3) with the ``extend`` joints moved along their bone from the parent (m21's "Hand" joint
    sits at the start of the lower forearm: the wrist is 1.5 times as far from the elbow), as
    :func:`.retarget.retarget_bvh` does for a source rig."""
    out = np.array(points, dtype=np.float64, copy=True)
    for k, factor in extend.items():
        p = _SMPL_PARENTS[k]
        out[..., k, :] = out[..., p, :] + factor * (out[..., k, :] - out[..., p, :])
    return out


# ---- solving ------------------------------------------------------------------------------------------
@dataclass
class CharacterMotion:
    character: Character
    fps: float
    local: np.ndarray            # (T, J, 3, 3) local rotations (file axes for the root)
    root_translation: np.ndarray  # (T, R, 3) each root joint's translation, file units
    world: np.ndarray            # (T, J, 3) world positions, metres, Y up
    mapping: dict[int, int]      # SMPL joint -> character joint
    unmapped: list[str]
    how: str
    scale: float                 # character leg length / source leg length
    notes: list[str] = field(default_factory=list)
    extend: dict[int, float] = field(default_factory=dict)   # the preset's extend (SMPL index -> factor)

    def points(self) -> np.ndarray:
        """(T, 22, 3) our 22 joints on the character (metres, Y up): each mapped joint's position, the preset's
        ``extend`` applied (m21: the wrist 1.5 times as far from the elbow as its Hand joint), NaN where unmapped."""
        out = np.full((len(self.world), 22, 3), np.nan)
        for k, j in self.mapping.items():
            out[:, k] = self.world[:, j]
        return _extended(out, {k: f for k, f in self.extend.items() if k in self.mapping
                               and _SMPL_PARENTS[k] in self.mapping})


def _rot_between(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Minimal rotation matrices (T, 3, 3) turning directions u onto v (T, 3); a half turn about any
    perpendicular when they are opposite."""
    u = u / np.maximum(np.linalg.norm(u, axis=-1, keepdims=True), 1e-12)
    v = v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12)
    axis = np.cross(u, v)
    s = np.linalg.norm(axis, axis=-1)
    c = np.clip((u * v).sum(-1), -1.0, 1.0)
    angle = np.arctan2(s, c)
    fallback = np.cross(u, np.where(np.abs(u[:, :1]) < 0.9, [[1.0, 0, 0]], [[0, 1.0, 0]]))
    axis = np.where((s < 1e-9)[:, None], fallback, axis)
    axis /= np.maximum(np.linalg.norm(axis, axis=-1, keepdims=True), 1e-12)
    return Rotation.from_rotvec(axis * angle[:, None]).as_matrix()


def _kabsch_dirs(rest: np.ndarray, cur: np.ndarray) -> np.ndarray:
    """Rotations (T, 3, 3) that best turn rest directions (K, 3) onto current directions (T, K, 3)."""
    rest = rest / np.linalg.norm(rest, axis=-1, keepdims=True)
    cur = cur / np.maximum(np.linalg.norm(cur, axis=-1, keepdims=True), 1e-12)
    return _kabsch(rest, cur)


def _mapped_targets(k: int, mapping: dict[int, int]) -> list[int]:
    """The first mapped SMPL joint down each branch below SMPL joint k."""
    out = []
    for c in _SMPL_CHILDREN[k]:
        out += [c] if c in mapping else _mapped_targets(c, mapping)
    return out


def _foot_turn_lag(foot: np.ndarray, src_foot: np.ndarray, flat_on: np.ndarray, on: np.ndarray,
                   blend_frames: int) -> np.ndarray:
    """Yaw (T,) radians to turn a character's foot (ankle -> toe, (T, 3)) by, about the vertical, where it is
    longer than the source's (scaled) ``src_foot`` by ``k > 1``: while the source's foot is flat on the floor
    (``flat_on``) and turns by dphi, the character's turns by dphi / k, so its toe sweeps as the source's toe
    does (a foot k times longer turning as much would sweep k times as far). The lag is kept through the rest of
    the contact run (``on``) and eased out over ``blend_frames`` after it; zero where k <= 1."""
    t_len = len(foot)
    k = np.median(np.linalg.norm(foot, axis=-1)) / max(np.median(np.linalg.norm(src_foot, axis=-1)), 1e-9)
    lag = np.zeros(t_len)
    if k <= 1.0:
        return lag
    yaw = np.arctan2(src_foot[:, 0], src_foot[:, 2])
    turn = np.angle(np.exp(1j * np.diff(yaw)))               # per-frame yaw change, wrapped
    for s0, s1 in _runs(on):
        for t in range(s0 + 1, s1):
            lag[t] = lag[t - 1] + ((1.0 / k - 1.0) * turn[t - 1] if flat_on[t] and flat_on[t - 1] else 0.0)
        for i, t in enumerate(range(s1, min(t_len, s1 + blend_frames))):
            if not on[t]:
                lag[t] = lag[s1 - 1] * (1.0 - (i + 1) / (blend_frames + 1))
    return lag


def _plant_targets(ankle: np.ndarray, toe: np.ndarray | None, src_ankle: np.ndarray, src_toe: np.ndarray,
                   ankle_on: np.ndarray, toe_on: np.ndarray, blend_frames: int):
    """Where one leg's ankle (and toe) must be, from the character's own (T, 3) ``ankle`` / ``toe`` and the
    source's scaled ones, given the source's contacts. During each contact run, and from the frame before it (so
    that its first step is the source's too), the joints on the ground move horizontally exactly as the source's
    do, from where the character's own leg put them down; heights stay the character's own:

    * ankle only (heel strike): the ankle follows, the toe rides with the foot; toe only (heel up): the reverse;
    * both down, the character's foot (relative to its legs, ``k`` = its length over the source's scaled one)
      no longer than the source's: per frame the joint the source moves less follows and the other rides with
      the foot (in the source's direction). For a foot moving rigidly on the ground the rider then moves like the
      source's point a fraction ``k`` of the way along its foot, never faster than the source's own joint (the
      norm is convex along the foot);
    * both down, a longer foot (``k > 1``; riding, it would sweep ``k`` times as far): both follow and the foot is
      turned towards the toe target (``aim``; the caller turns it, and raises the heel where the toe would go
      into the floor). It turns less than the source's (:func:`_foot_turn_lag`), which keeps the two targets a
      foot apart.

    After a run the ankle blends back from following the source to its own path over ``blend_frames``.
    Returns (ankle target (T, 3), toe target (T, 3), weight (T,) > 0 where the ankle target applies, aim (T,))."""
    t_len = len(ankle)
    foot = (toe - ankle) if toe is not None else np.zeros_like(ankle)
    a_tg, t_tg = ankle.copy(), ankle + foot
    weight = np.zeros(t_len)
    flat = np.array([1.0, 0.0, 1.0])
    aim = np.zeros(t_len, bool)
    longer_foot = toe is not None and np.median(np.linalg.norm(foot, axis=-1)) > np.median(
        np.linalg.norm(src_toe - src_ankle, axis=-1))
    for s0, s1 in _runs(ankle_on | toe_on):
        st = max(s0 - 1, 0)
        weight[st] = 1.0
        t_tg[st] = a_tg[st] + foot[st]
        for t in range(st + 1, s1):
            a_step = (src_ankle[t] - src_ankle[t - 1]) * flat
            t_step = (src_toe[t] - src_toe[t - 1]) * flat
            if toe_on[t] and ankle_on[t] and longer_foot:      # both follow; the foot is turned to the toe
                a_tg[t] = a_tg[t - 1] + a_step
                t_tg[t] = t_tg[t - 1] + t_step
                aim[t] = True
            # heel up, or both down and the source's toe the slower: the toe follows, the ankle rides with it
            elif toe_on[t] and (not ankle_on[t] or np.linalg.norm(t_step) < np.linalg.norm(a_step)):
                t_tg[t] = t_tg[t - 1] + t_step
                a_tg[t] = t_tg[t] - foot[t]
            else:
                a_tg[t] = a_tg[t - 1] + a_step
                t_tg[t] = a_tg[t] + foot[t]
            a_tg[t, 1], t_tg[t, 1] = ankle[t, 1], ankle[t, 1] + foot[t, 1]
            weight[t] = 1.0
        e = s1 - 1                 # after the run: from following the source back to the character's own path
        for k, t in enumerate(range(s1, min(t_len, s1 + blend_frames))):
            w = 1.0 - (k + 1) / (blend_frames + 1)
            if w > weight[t]:
                if toe_on[e] and not ankle_on[e]:
                    follow = t_tg[e] + (src_toe[t] - src_toe[e]) * flat - foot[t]
                else:
                    follow = a_tg[e] + (src_ankle[t] - src_ankle[e]) * flat
                weight[t] = w
                a_tg[t] = w * follow + (1 - w) * ankle[t]
                a_tg[t, 1] = ankle[t, 1]
    return a_tg, t_tg, weight, aim


def _fk(character: Character, delta: np.ndarray, root_pos: np.ndarray) -> np.ndarray:
    """World positions (T, J, 3) from world deltas D (T, J, 3, 3) and root positions (T, R, 3)."""
    rest_pos, _, _ = character.rest_world()
    out = np.zeros(delta.shape[:2] + (3,))
    r = 0
    for j, p in enumerate(character.parents):
        if p < 0:
            out[:, j] = root_pos[:, r]
            r += 1
        else:
            out[:, j] = out[:, p] + np.einsum("tij,j->ti", delta[:, p], rest_pos[j] - rest_pos[p])
    return out


def _descendants(parents: list[int], j: int) -> np.ndarray:
    mask = np.zeros(len(parents), bool)
    mask[j] = True
    for k, p in enumerate(parents):
        if p >= 0 and mask[p]:
            mask[k] = True
    return mask


def retarget_to_character(joints: np.ndarray, fps: float, character: Character,
                          user_map: dict | str | os.PathLike | None = None, plant_feet: bool = True,
                          blend_frames: int = 3) -> CharacterMotion:
    """Animate ``character`` with joint positions (T, 22, 3) (metres, Y up; the source's floor at y = 0)."""
    src = np.asarray(joints, np.float64)
    if src.ndim != 3 or src.shape[1:] != (22, 3) or len(src) < 2:
        raise CharacterError(f"motion: expected joints (T >= 2, 22, 3), got shape {src.shape}")
    if not np.isfinite(src).all():
        raise CharacterError("motion: contains NaN or infinite values")
    how, mapping = bone_map(character, user_map)
    extend = _extend_indices(_best_preset(character.names, character.parents)[0]) if user_map is None else {}
    par = character.parents
    rest_pos, rest_rot, _ = character.rest_world()
    t_len, n_j = len(src), character.num_joints
    inv = {j: k for k, j in mapping.items()}

    def leg(points, side):
        h, k, a = (SMPL.index(f"{side}_{n}") for n in ("hip", "knee", "ankle"))
        return np.linalg.norm(points[..., k, :] - points[..., h, :], axis=-1) + \
            np.linalg.norm(points[..., a, :] - points[..., k, :], axis=-1)
    char_pts = np.zeros((22, 3))
    for k, j in mapping.items():
        char_pts[k] = rest_pos[j]
    char_leg = 0.5 * (leg(char_pts, "left") + leg(char_pts, "right"))
    src_leg = float(np.median(0.5 * (leg(src, "left") + leg(src, "right"))))
    if not (char_leg > 1e-6 and src_leg > 1e-6):
        raise CharacterError(f"{character.source}: a leg has zero length; cannot scale the motion to it")
    scale = float(char_leg / src_leg)

    # world deltas D_j (rotation from the rest pose), parents first
    delta = np.zeros((t_len, n_j, 3, 3))
    eye = np.broadcast_to(np.eye(3), (t_len, 3, 3))
    for j, p in enumerate(par):
        parent_delta = delta[:, p] if p >= 0 else eye
        k = inv.get(j)
        targets = _mapped_targets(k, mapping) if k is not None else []
        while True:        # a mapped joint at the same place (CMU's clavicle on the spine): aim past it
            short = [c for c in targets if np.linalg.norm(rest_pos[mapping[c]] - rest_pos[j]) < 1e-4 * char_leg]
            if not short:
                break
            targets = [c for c in targets if c not in short] + [d for c in short for d in _mapped_targets(c, mapping)]
        if len(targets) >= 2:
            rest_dirs = np.array([rest_pos[mapping[c]] - rest_pos[j] for c in targets])
            cur = src[:, targets] - src[:, k:k + 1]
            delta[:, j] = _kabsch_dirs(rest_dirs, cur)
        elif len(targets) == 1:
            c = targets[0]
            u = np.einsum("tij,j->ti", parent_delta, rest_pos[mapping[c]] - rest_pos[j])
            delta[:, j] = np.einsum("tij,tjk->tik", _rot_between(u, src[:, c] - src[:, k]), parent_delta)
        else:
            delta[:, j] = parent_delta

    # the pelvis path, scaled about the start; the roots placed so that the pelvis joint is on it
    pelvis = mapping[0]
    origin = src[0, 0] * np.array([1.0, 0.0, 1.0])
    pelvis_path = origin + scale * (src[:, 0] - origin)
    roots = [j for j, p in enumerate(par) if p < 0]
    root_pos = np.broadcast_to(rest_pos[roots], (t_len, len(roots), 3)).copy()
    world = _fk(character, delta, root_pos)
    my_root = roots.index(([pelvis] + _ancestors(par, pelvis))[-1])
    root_pos[:, my_root] += pelvis_path - world[:, pelvis]

    # feet at the source's (scaled) height during its contacts
    contacts = detect_contacts(src, fps=fps)
    foot_joints = HUMANML3D.left_foot_index + HUMANML3D.right_foot_index
    world = _fk(character, delta, root_pos)
    gaps = [scale * src[contacts[:, c], k, 1] - world[contacts[:, c], mapping[k], 1]
            for c, k in enumerate(foot_joints) if k in mapping]
    gaps = np.concatenate(gaps) if gaps else np.zeros(0)
    if len(gaps):
        lift = float(np.median(gaps))
    else:                       # never on the ground (a jump?): lowest foot point to the source's lowest
        fj = [k for k in foot_joints if k in mapping]
        lift = float(scale * src[:, fj, 1].min() - world[:, [mapping[k] for k in fj], 1].min())
    root_pos[:, my_root, 1] += lift
    world = _fk(character, delta, root_pos)

    notes = []
    if plant_feet:
        for side_name, side in (("left", 0), ("right", 1)):
            h, kn, a = (mapping[SMPL.index(f"{side_name}_{n}")] for n in ("hip", "knee", "ankle"))
            a_smpl, t_smpl = SMPL.index(f"{side_name}_ankle"), SMPL.index(f"{side_name}_foot")
            toe = mapping.get(t_smpl)
            ankle_on = contacts[:, 2 * side]
            toe_on = contacts[:, 2 * side + 1] if toe is not None else np.zeros(t_len, bool)
            on = ankle_on | toe_on
            if not on.any():
                continue
            if toe is not None:     # a foot longer than the source's (scaled) turns less while flat on the floor
                lag = _foot_turn_lag(world[:, toe] - world[:, a], scale * (src[:, t_smpl] - src[:, a_smpl]),
                                     ankle_on & toe_on, on, blend_frames)
                if np.abs(lag).max() > 0:
                    c, s_ = np.cos(lag), np.sin(lag)
                    yaw = np.zeros((t_len, 3, 3))
                    yaw[:, 0, 0], yaw[:, 0, 2], yaw[:, 1, 1], yaw[:, 2, 0], yaw[:, 2, 2] = c, s_, 1.0, -s_, c
                    tree = _descendants(par, a)
                    delta[:, tree] = np.einsum("tij,tkjl->tkil", yaw, delta[:, tree])
                    world = _fk(character, delta, root_pos)
            ankle_target, toe_target, weight, aim = _plant_targets(
                world[:, a], world[:, toe] if toe is not None else None, scale * src[:, a_smpl],
                scale * src[:, t_smpl], ankle_on, toe_on, blend_frames)
            delta = _leg_ik(character, delta, world, h, kn, a, ankle_target, weight > 0)
            world = _fk(character, delta, root_pos)
            if toe is not None and aim.any():       # both on the ground: the foot turned so the toe follows too
                foot = world[aim, toe] - world[aim, a]
                # the toe where the target is seen from above, at the foot's own length; where that would put it
                # lower than its own height (into the floor) the heel is raised instead (the leg IK again)
                own_toe_y = world[:, toe, 1].copy()
                want = toe_target[aim] - world[aim, a]
                length = np.linalg.norm(foot, axis=-1)
                across = np.linalg.norm(want[:, [0, 2]], axis=-1)
                drop = np.sqrt(np.maximum(length ** 2 - across ** 2, 0.0))
                want[:, 1] = np.where(foot[:, 1] < 0, -drop, drop)
                turn = _rot_between(foot, want)
                tree = _descendants(par, a)
                sub = delta[aim]
                sub[:, tree] = np.einsum("tij,tkjl->tkil", turn, sub[:, tree])
                delta[aim] = sub
                world = _fk(character, delta, root_pos)
                below = np.maximum(own_toe_y - world[:, toe, 1], 0.0) * aim
                if below.max() > 1e-6:
                    raised = world[:, a] + below[:, None] * np.array([0.0, 1.0, 0.0])
                    delta = _leg_ik(character, delta, world, h, kn, a, raised, below > 1e-6)
                    world = _fk(character, delta, root_pos)
        notes.append("feet held where the source's are during its contacts (two-bone IK)")

    # local rotations and root translations in the file's own axes and units
    w_rot = np.einsum("tjab,jbc->tjac", delta, rest_rot)
    local = np.empty_like(w_rot)
    for j, p in enumerate(par):
        if p < 0:
            local[:, j] = np.einsum("ba,tbc->tac", character.base_rot, w_rot[:, j])
        else:
            local[:, j] = np.einsum("tba,tbc->tac", w_rot[:, p], w_rot[:, j])
    root_tr = np.einsum("ba,trb->tra", character.base_rot, root_pos - character.base_trans) / character.base_scale
    unmapped = [n for j, n in enumerate(character.names) if j not in inv]
    return CharacterMotion(character, fps, local, root_tr, world, mapping, unmapped, how, scale, notes, extend)


def _leg_ik(character: Character, delta: np.ndarray, world: np.ndarray, hip: int, knee: int, ankle: int,
            target: np.ndarray, sel: np.ndarray) -> np.ndarray:
    """Analytic two-bone IK on frames ``sel``: the ankle to ``target``, the knee kept in its bend plane, the
    foot's world orientation kept."""
    if not sel.any():
        return delta
    delta = delta.copy()
    h, k, a, tg = world[sel, hip], world[sel, knee], world[sel, ankle], target[sel]
    l1 = np.linalg.norm(k - h, axis=-1, keepdims=True)
    l2 = np.linalg.norm(a - k, axis=-1, keepdims=True)
    k_new, a_new = two_bone_ik(h, k, tg, l1, l2, max_reach=(l1 + l2) * 0.9995)
    r1 = _rot_between(k - h, k_new - h)
    shin = np.einsum("tij,tj->ti", r1, a - k)
    r2 = np.einsum("tij,tjk->tik", _rot_between(shin, a_new - k_new), r1)
    par = character.parents
    hip_tree, knee_tree, foot_tree = (_descendants(par, j) for j in (hip, knee, ankle))
    sub = delta[sel]
    keep_foot = sub[:, foot_tree].copy()
    sub[:, hip_tree & ~knee_tree] = np.einsum("tij,tkjl->tkil", r1, sub[:, hip_tree & ~knee_tree])
    sub[:, knee_tree] = np.einsum("tij,tkjl->tkil", r2, sub[:, knee_tree])
    sub[:, foot_tree] = keep_foot
    delta[sel] = sub
    return delta


# ---- writing ------------------------------------------------------------------------------------------
def write_character_bvh(path: str | os.PathLike, motion: CharacterMotion) -> Path:
    """The character's own hierarchy, names and offsets (its file units), animated (written atomically by
    :func:`.bvh.write_bvh_skeleton`): the root with position channels, every joint ZXY Euler rotations."""
    from .bvh import write_bvh_skeleton
    ch = motion.character
    par = ch.parents
    roots = [j for j, p in enumerate(par) if p < 0]
    if len(roots) != 1:
        raise CharacterError(f"{ch.source}: the skeleton has {len(roots)} roots; a BVH holds one (write a .glb)")
    _, _, scl = ch.rest_world()
    offsets = np.array([ch.offsets[j] * (scl[p] / ch.base_scale if p >= 0 else 1.0) for j, p in enumerate(par)])
    return write_bvh_skeleton(path, ch.names, par, offsets, motion.local, {roots[0]: motion.root_translation[:, 0]},
                              motion.fps, ch.end_sites, unwrap=True)


def _fix_signs(q: np.ndarray) -> np.ndarray:
    flip = np.cumsum(np.r_[0, (np.einsum("ti,ti->t", q[1:], q[:-1]) < 0).astype(int)]) % 2 == 1
    q = q.copy()
    q[flip] *= -1
    return q


def write_character_glb(path: str | os.PathLike, motion: CharacterMotion, name: str = "motiongen") -> Path:
    """A GLB animated with the motion. A glTF character keeps its own file (meshes, skin, materials, other
    animations) with the motion added as its first animation; a BVH character gets our capsule mannequin
    skinned to its own skeleton."""
    import pygltflib as g

    from ..io_utils import atomic_write_bytes
    ch = motion.character
    t_len = len(motion.local)
    quats = Rotation.from_matrix(motion.local.reshape(-1, 3, 3)).as_quat().reshape(t_len, ch.num_joints, 4)
    roots = [j for j, p in enumerate(ch.parents) if p < 0]
    if ch.kind == "gltf":
        gl = _load_gltf(ch.source)
        gl.convert_buffers(g.BufferFormat.BINARYBLOB)
        blob = bytearray(gl.binary_blob() or b"")
        node_of = ch.nodes
        rest_trans = {j: ch.offsets[j] for j in range(ch.num_joints)}
        root_trans = motion.root_translation
        node_quats = quats
    else:
        gl = None
        blob = bytearray()
    views, accessors = (gl.bufferViews, gl.accessors) if gl is not None else ([], [])

    add = functools.partial(append_accessor, blob, views, accessors)

    if gl is None:        # a BVH character: our mannequin on its skeleton, in metres, Y up
        from .gltf import mannequin
        rest_pos, rest_rot, scl = ch.rest_world()
        w_root = np.einsum("ab,tbc->tac", ch.base_rot, motion.local[:, roots[0]])
        node_quats = quats.copy()
        node_quats[:, roots[0]] = Rotation.from_matrix(w_root).as_quat()
        root_trans = motion.world[:, roots][:, :1]
        rest_trans = {j: (ch.offsets[j] * scl[p] if p >= 0 else rest_pos[j]) for j, p in enumerate(ch.parents)}
        # the mesh: capsules sized by the joint each bone maps to (our names), none from the unmapped joints above
        # the pelvis (Bandai's joint_Root is a ground projection metres away)
        from .bvh import BVH_JOINT_NAMES_22
        by_ours = {j: BVH_JOINT_NAMES_22[k] for k, j in motion.mapping.items()}
        mesh_names = tuple(by_ours.get(j, n) for j, n in enumerate(ch.names))
        mesh_parents = list(ch.parents)
        above = _ancestors(ch.parents, motion.mapping[0])
        for j in [motion.mapping[0]] + above:
            mesh_parents[j] = -1
        pos, nrm, tri, jnt, wgt = mannequin(rest_pos, mesh_parents, mesh_names)
        f32 = g.FLOAT
        a_pos = add(pos, g.VEC3, f32, g.ARRAY_BUFFER, minmax=True)
        a_nrm = add(nrm, g.VEC3, f32, g.ARRAY_BUFFER)
        a_jnt = add(jnt, g.VEC4, g.UNSIGNED_SHORT, g.ARRAY_BUFFER)
        a_wgt = add(wgt, g.VEC4, f32, g.ARRAY_BUFFER)
        a_idx = add(tri.reshape(-1), g.SCALAR, g.UNSIGNED_INT, g.ELEMENT_ARRAY_BUFFER)
        bind = np.tile(np.eye(4), (ch.num_joints, 1, 1))
        bind[:, :3, :3] = rest_rot
        bind[:, :3, 3] = rest_pos
        inv_bind = np.linalg.inv(bind).astype(np.float32)
        a_ibm = add(inv_bind.transpose(0, 2, 1).reshape(-1, 16), g.MAT4, f32)
        nodes = []
        for j in range(ch.num_joints):
            kids = [c for c, p in enumerate(ch.parents) if p == j]
            nodes.append(g.Node(name=ch.names[j], children=kids or None,
                                translation=[float(v) for v in rest_trans[j]],
                                rotation=[float(v) for v in Rotation.from_matrix(
                                    ch.rest_local[j] if ch.parents[j] >= 0 else rest_rot[j]).as_quat()]))
        nodes.append(g.Node(name=f"{name}_mannequin", mesh=0, skin=0))
        gl = g.GLTF2(
            asset=g.Asset(generator="motiongen", version="2.0"), scene=0,
            scenes=[g.Scene(name=name, nodes=roots + [len(nodes) - 1])], nodes=nodes,
            meshes=[g.Mesh(name=f"{name}_mannequin", primitives=[g.Primitive(
                attributes=g.Attributes(POSITION=a_pos, NORMAL=a_nrm, JOINTS_0=a_jnt, WEIGHTS_0=a_wgt),
                indices=a_idx, material=0)])],
            materials=[g.Material(name="mannequin", pbrMetallicRoughness=g.PbrMetallicRoughness(
                baseColorFactor=[0.72, 0.74, 0.78, 1.0], metallicFactor=0.0, roughnessFactor=0.8))],
            skins=[g.Skin(name=f"{name}_skeleton", joints=list(range(ch.num_joints)), skeleton=roots[0],
                          inverseBindMatrices=a_ibm)],
            animations=[], accessors=accessors, bufferViews=views, buffers=[g.Buffer(byteLength=0)])
        node_of = list(range(ch.num_joints))

    times = (np.arange(t_len) / motion.fps).astype(np.float32)
    a_time = add(times, g.SCALAR, g.FLOAT, minmax=True)
    samplers, channels = [], []
    for j in range(ch.num_joints):
        q = _fix_signs(node_quats[:, j]).astype(np.float32)
        samplers.append(g.AnimationSampler(input=a_time, output=add(q, g.VEC4, g.FLOAT), interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1,
                                           target=g.AnimationChannelTarget(node=node_of[j], path="rotation")))
    for r, j in enumerate(roots[:root_trans.shape[1]]):
        samplers.append(g.AnimationSampler(input=a_time, output=add(root_trans[:, r].astype(np.float32), g.VEC3,
                                                                    g.FLOAT), interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1,
                                           target=g.AnimationChannelTarget(node=node_of[j], path="translation")))
    for j in range(ch.num_joints):      # joints whose rest translation differs from the node's own (first-frame rest)
        if ch.parents[j] < 0 or ch.kind != "gltf":
            continue
        node_t = _trs_of(gl.nodes[node_of[j]])[0]
        if np.abs(node_t - rest_trans[j]).max() > 1e-6:
            out = np.tile(rest_trans[j].astype(np.float32), (t_len, 1))
            samplers.append(g.AnimationSampler(input=a_time, output=add(out, g.VEC3, g.FLOAT), interpolation="LINEAR"))
            channels.append(g.AnimationChannel(sampler=len(samplers) - 1,
                                               target=g.AnimationChannelTarget(node=node_of[j], path="translation")))
    gl.animations = [g.Animation(name=name, samplers=samplers, channels=channels)] + list(gl.animations or [])
    gl.buffers = [g.Buffer(byteLength=len(blob))] + list(gl.buffers[1:] if gl.buffers else [])
    gl.set_binary_blob(bytes(blob))
    return atomic_write_bytes(Path(path), b"".join(gl.save_to_bytes()))
