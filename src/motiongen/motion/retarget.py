"""Retarget any BVH rig onto the 22-joint HumanML3D layout by joint names.

A preset maps each of the 22 SMPL joints either to a joint (or End Site, ``<joint>_End``) of the source rig, or to
a point interpolated between two already-mapped SMPL joints when the rig lacks it (say, a CMU rig has no middle
spine joint and its clavicle sits on the spine). The result is resampled to the target frame rate, converted to
metres, put Y up, on the floor, with the root at the XZ origin and facing +Z in the first frame.
"""
from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field

import numpy as np

from ..skeleton import HUMANML3D
from .bvh import BVH
from .quaternion import qbetween_np, qrot_np

__all__ = ["RigPreset", "PRESETS", "detect_preset", "retarget_bvh", "RetargetResult", "UNITS",
           "normalize_joint_name", "resample", "canonicalize"]

# metres per file unit; "cmu" is the CMU mocap unit (1/0.45 inch)
UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001, "inch": 0.0254, "cmu": 0.0254 / 0.45}
_TYPICAL_EXTENT_M = 1.45   # leg + spine + neck bone lengths of an adult in the HumanML3D layout


@dataclass(frozen=True)
class Lerp:
    """A joint the rig lacks: the point ``w`` of the way from SMPL joint ``a`` to SMPL joint ``b``."""
    a: str
    b: str
    w: float = 0.5


@dataclass(frozen=True)
class RigPreset:
    name: str
    description: str
    joints: dict[str, str | tuple[str, ...] | Lerp] = field(default_factory=dict)
    drop_first_frame: bool = False   # e.g. a prepended T-pose
    # SMPL joint -> factor: move it along its bone from the parent (a rig whose "hand" joint sits mid-forearm)
    extend: dict[str, float] = field(default_factory=dict)


def normalize_joint_name(name: str, drop_namespace: bool = False) -> str:
    """A joint name for matching: the rig vendors' prefixes (``mixamorig:``, ``CC_Base_``, ``m_avg_``, ``Bip01 ``)
    dropped, lower case. ``drop_namespace``: also drop a namespace or node path (``Character1:Hips``,
    ``Armature|Hips``: what a DCC tool's export puts on a character's bones) and read spaces as underscores."""
    n = name.strip()
    if drop_namespace:
        n = re.split(r"[:|]", n)[-1]
    n = re.sub(r"^(mixamorig\d*[:_]|cc_base_|m_avg_|f_avg_|bip0?1[ _])", "", n, flags=re.I)
    n = n.lower()
    return n.replace(" ", "_") if drop_namespace else n


def _sides(template: dict[str, object]) -> dict[str, object]:
    """Expand ``{side}``/``{S}`` placeholders into left and right entries."""
    out: dict[str, object] = {}
    for k, v in template.items():
        if "{side}" not in k:
            out[k] = v
            continue
        for side, s_short, s_word in (("left", "L", "Left"), ("right", "R", "Right")):
            def sub(x):
                if isinstance(x, Lerp):
                    return Lerp(x.a.format(side=side), x.b.format(side=side), x.w)
                if isinstance(x, tuple):
                    return tuple(sub(y) for y in x)
                return x.format(side=side, S=s_short, Side=s_word, s=s_short.lower())
            out[k.format(side=side)] = sub(v)
    return out


PRESETS: dict[str, RigPreset] = {
    "bandai": RigPreset("bandai", "Bandai Namco motion dataset (joint_Root ground projection -> Hips, 22 joints)", _sides({
        "pelvis": "Hips", "spine1": "Spine", "spine2": Lerp("spine1", "spine3"), "spine3": "Chest", "neck": "Neck",
        "head": "Head", "{side}_hip": "UpperLeg_{S}", "{side}_knee": "LowerLeg_{S}", "{side}_ankle": "Foot_{S}",
        "{side}_foot": "Toes_{S}", "{side}_collar": "Shoulder_{S}", "{side}_shoulder": "UpperArm_{S}",
        "{side}_elbow": "LowerArm_{S}", "{side}_wrist": "Hand_{S}",
    })),
    "cmu": RigPreset("cmu", "CMU mocap BVH, MotionBuilder names (LHipJoint, LeftUpLeg, LeftArm, ...)", _sides({
        "pelvis": "Hips", "spine1": "Spine", "spine2": Lerp("spine1", "spine3"), "spine3": "Spine1",
        "neck": "Neck1", "head": "Head", "{side}_hip": "{Side}UpLeg", "{side}_knee": "{Side}Leg",
        "{side}_ankle": "{Side}Foot", "{side}_foot": "{Side}ToeBase", "{side}_collar": Lerp("spine3", "{side}_shoulder", 0.5),
        "{side}_shoulder": "{Side}Arm", "{side}_elbow": "{Side}ForeArm",
        "{side}_wrist": "{Side}FingerBase",     # CMU's Hand is Acclaim's "wrist" bone: the lower forearm
    })),
    "cmu-3dsmax": RigPreset("cmu-3dsmax", "CMU mocap BVH, 3ds Max names (LeftHip, LeftCollar, LeftShoulder, ...)", _sides({
        "pelvis": "Hips", "spine1": "Chest", "spine2": Lerp("spine1", "spine3"), "spine3": "Chest2", "neck": "Neck",
        "head": "Head", "{side}_hip": "{Side}Hip", "{side}_knee": "{Side}Knee", "{side}_ankle": "{Side}Ankle",
        "{side}_foot": "{Side}Toe", "{side}_collar": Lerp("spine3", "{side}_shoulder", 0.5),
        "{side}_shoulder": "{Side}Shoulder", "{side}_elbow": "{Side}Elbow", "{side}_wrist": "{Side}Wrist",
    })),
    "iclone": RigPreset("iclone", "Reallusion iClone / Character Creator CC_Base rig", _sides({
        "pelvis": "CC_Base_Hip", "spine1": "CC_Base_Waist", "spine2": "CC_Base_Spine01", "spine3": "CC_Base_Spine02",
        "neck": "CC_Base_NeckTwist01", "head": "CC_Base_Head", "{side}_hip": "CC_Base_{S}_Thigh",
        "{side}_knee": "CC_Base_{S}_Calf", "{side}_ankle": "CC_Base_{S}_Foot", "{side}_foot": "CC_Base_{S}_ToeBase",
        "{side}_collar": "CC_Base_{S}_Clavicle", "{side}_shoulder": "CC_Base_{S}_Upperarm",
        "{side}_elbow": "CC_Base_{S}_Forearm", "{side}_wrist": "CC_Base_{S}_Hand",
    })),
    "aalto": RigPreset("aalto", "Aalto gait database rig (19 joints, Ab/Chest, no toe joint: the ankle End Site)", _sides({
        "pelvis": "Hips", "spine1": "Ab", "spine2": Lerp("spine1", "spine3"), "spine3": "Chest", "neck": "Neck",
        "head": "Head", "{side}_hip": "{Side}Hip", "{side}_knee": "{Side}Knee", "{side}_ankle": "{Side}Ankle",
        "{side}_foot": "{Side}Ankle_End", "{side}_collar": Lerp("spine3", "{side}_shoulder", 0.5),
        "{side}_shoulder": "{Side}Shoulder", "{side}_elbow": "{Side}Elbow", "{side}_wrist": "{Side}Wrist",
    })),
    "smpl": RigPreset("smpl", "SMPL joint names (Pelvis, L_Hip, ... or pelvis, left_hip, ...; m_avg_ prefixes)", _sides({
        "pelvis": ("Pelvis",), "spine1": ("Spine1",), "spine2": ("Spine2",), "spine3": ("Spine3",), "neck": ("Neck",),
        "head": ("Head",), "{side}_hip": ("{S}_Hip", "{side}_hip"), "{side}_knee": ("{S}_Knee", "{side}_knee"),
        "{side}_ankle": ("{S}_Ankle", "{side}_ankle"), "{side}_foot": ("{S}_Foot", "{side}_foot"),
        "{side}_collar": ("{S}_Collar", "{side}_collar"), "{side}_shoulder": ("{S}_Shoulder", "{side}_shoulder"),
        "{side}_elbow": ("{S}_Elbow", "{side}_elbow"), "{side}_wrist": ("{S}_Wrist", "{side}_wrist"),
    })),
    "mixamo": RigPreset("mixamo", "Mixamo names (mixamorig:Hips, LeftUpLeg, LeftShoulder, LeftArm, ...); also motiongen's BVH", _sides({
        "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
        "{side}_hip": "{Side}UpLeg", "{side}_knee": "{Side}Leg", "{side}_ankle": "{Side}Foot",
        "{side}_foot": "{Side}ToeBase", "{side}_collar": "{Side}Shoulder", "{side}_shoulder": "{Side}Arm",
        "{side}_elbow": "{Side}ForeArm", "{side}_wrist": "{Side}Hand",
    })),
}
PRESETS.update({
    "snu": RigPreset("snu", "SNU Movement Research Lab 22-joint rig (Hips, Spine-Spine2, Neck, Head, LeftShoulder..."
                     "LeftHand, LeftUpLeg...LeftToe): basketball, martial arts, CMU 69 retargeted", _sides({
        "pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head",
        "{side}_hip": "{Side}UpLeg", "{side}_knee": "{Side}Leg", "{side}_ankle": "{Side}Foot",
        "{side}_foot": "{Side}Toe", "{side}_collar": "{Side}Shoulder", "{side}_shoulder": "{Side}Arm",
        "{side}_elbow": "{Side}ForeArm", "{side}_wrist": "{Side}Hand",
    })),
    "m21": RigPreset("m21", "m21 style-transfer rig, 21 joints (CMU names without LowerBack/Neck: Spine, Spine1, "
                     "Neck1, LeftShoulder...; clavicles interpolated)", _sides({
        "pelvis": "Hips", "spine1": "Spine", "spine2": Lerp("spine1", "spine3"), "spine3": "Spine1",
        "neck": "Neck1", "head": "Head", "{side}_hip": "{Side}UpLeg", "{side}_knee": "{Side}Leg",
        "{side}_ankle": "{Side}Foot", "{side}_foot": "{Side}ToeBase",
        "{side}_collar": Lerp("spine3", "{side}_shoulder", 0.5), "{side}_shoulder": "{Side}Arm",
        "{side}_elbow": "{Side}ForeArm", "{side}_wrist": "{Side}Hand",
    }), extend={"left_wrist": 1.5, "right_wrist": 1.5}),   # its Hand is CMU's: the start of the lower forearm
    "tennis": RigPreset("tennis", "SNU tennis rig, 20 joints (no neck joint: 'HEad' sits at the neck's base, its End "
                        "Site is the head; LeftShoulder1 / RightShoulder are the clavicles)", _sides({
        "pelvis": "Hips", "spine1": "Spine", "spine2": Lerp("spine1", "spine3"), "spine3": "Spine1", "neck": "HEad",
        "head": "HEad_End", "{side}_hip": "{Side}UpLeg", "{side}_knee": "{Side}Leg", "{side}_ankle": "{Side}Foot",
        "{side}_foot": "{Side}Toes", "{side}_collar": ("{Side}Shoulder1", "{Side}Shoulder"),
        "{side}_shoulder": "{Side}Arm", "{side}_elbow": "{Side}ForeArm", "{side}_wrist": "{Side}Hand",
    })),
    "acclaim": RigPreset("acclaim", "Acclaim ASF/AMC bones (CMU, HDM05): root, lfemur, ltibia, lfoot, ltoes, "
                         "upperback, thorax, upperneck, head, lhumerus, lradius, lhand (Acclaim's 'wrist' bone is the lower "
                         "forearm, so the wrist is where 'hand' starts)", _sides({
        "pelvis": "root", "spine1": "upperback", "spine2": Lerp("spine1", "spine3"), "spine3": "thorax",
        "neck": "upperneck", "head": "head", "{side}_hip": "{s}femur", "{side}_knee": "{s}tibia",
        "{side}_ankle": "{s}foot", "{side}_foot": "{s}toes", "{side}_collar": Lerp("spine3", "{side}_shoulder", 0.5),
        "{side}_shoulder": "{s}humerus", "{side}_elbow": "{s}radius", "{side}_wrist": "{s}hand",
    })),
    "deepmimic": RigPreset("deepmimic", "DeepMimic humanoid3d (root, chest, neck, right_hip...; wrists, balls of the "
                           "feet and head derived as End Sites by motiongen.motion.deepmimic)", _sides({
        "pelvis": "root", "spine1": Lerp("pelvis", "spine2", 0.45), "spine2": "chest",
        "spine3": Lerp("spine2", "neck", 0.25), "neck": "neck", "head": "neck_End", "{side}_hip": "{side}_hip",
        "{side}_knee": "{side}_knee", "{side}_ankle": "{side}_ankle", "{side}_foot": "{side}_ankle_End",
        "{side}_collar": Lerp("spine3", "{side}_shoulder", 0.5), "{side}_shoulder": "{side}_shoulder",
        "{side}_elbow": "{side}_elbow", "{side}_wrist": "{side}_elbow_End",
    })),
    "ase": RigPreset("ase", "ASE / AMP humanoid (pelvis, torso, head, right_upper_arm...; props dropped, balls of the "
                     "feet and head derived by motiongen.motion.ase)", _sides({
        "pelvis": "pelvis", "spine1": Lerp("pelvis", "spine2", 0.45), "spine2": "torso",
        "spine3": Lerp("spine2", "neck", 0.25), "neck": "head", "head": "head_End", "{side}_hip": "{side}_thigh",
        "{side}_knee": "{side}_shin", "{side}_ankle": "{side}_foot", "{side}_foot": "{side}_foot_End",
        "{side}_collar": Lerp("spine3", "{side}_shoulder", 0.5), "{side}_shoulder": "{side}_upper_arm",
        "{side}_elbow": "{side}_lower_arm", "{side}_wrist": "{side}_hand",
    })),
})
PRESETS["cmu-iclone"] = RigPreset("cmu-iclone", "CMU trials on the iClone rig with a prepended T-pose frame (dropped)",
                                  PRESETS["iclone"].joints, drop_first_frame=True)


def _candidates(entry) -> tuple[str, ...]:
    return entry if isinstance(entry, tuple) else (entry,)


def _match(preset: RigPreset, names: list[str]) -> tuple[dict[str, int], list[str], list[str]]:
    """(SMPL joint -> source index, interpolated SMPL joints, SMPL joints not found)."""
    lookup = {normalize_joint_name(n): i for i, n in enumerate(names)}
    mapping, interpolated, missing = {}, [], []
    for smpl_name, entry in preset.joints.items():
        if isinstance(entry, Lerp):
            interpolated.append(smpl_name)
            continue
        for cand in _candidates(entry):
            idx = lookup.get(normalize_joint_name(cand))
            if idx is not None:
                mapping[smpl_name] = idx
                break
        else:
            missing.append(smpl_name)
    return mapping, interpolated, missing


def detect_preset(names: list[str]) -> RigPreset:
    """The preset whose names match the rig completely (ties: fewest interpolated joints)."""
    best, best_key = None, None
    for preset in PRESETS.values():
        if preset.name == "cmu-iclone":
            continue
        mapping, interp, missing = _match(preset, names)
        key = (len(missing), len(interp))
        if best_key is None or key < best_key:
            best, best_key = preset, key
    if best is None or best_key[0] > 0:
        raise ValueError(
            "could not recognise the rig from its joint names ("
            + ", ".join(names[:12]) + ("..." if len(names) > 12 else "")
            + "); pass --rig with one of: " + ", ".join(PRESETS))
    return best


@dataclass
class RetargetResult:
    joints: np.ndarray            # (T, 22, 3) metres, Y up, on the floor, facing +Z at frame 0
    fps: float
    preset: str
    units: str
    interpolated: list[str]


MAX_FPS = 1000.0                 # output rates above this are not animation
MAX_RESAMPLED_FRAMES = 1_000_000


def resample(positions: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linear resampling in time of (T, ...) positions. The output length is checked before anything is
    allocated (a wrong Frame Time or fps must give an error, not gigabytes)."""
    if not (np.isfinite(dst_fps) and 0 < dst_fps <= MAX_FPS):
        raise ValueError(f"fps: expected a number in (0, {MAX_FPS:g}], got {dst_fps}")
    if not (np.isfinite(src_fps) and src_fps > 0):
        raise ValueError(f"the source frame rate must be a positive number, got {src_fps}")
    if abs(src_fps - dst_fps) < 1e-6:
        return positions.copy()
    t = len(positions)
    duration = (t - 1) / src_fps
    n_float = np.floor(duration * dst_fps + 1e-6) + 1
    if not n_float <= MAX_RESAMPLED_FRAMES:
        raise ValueError(f"resampling {t} frames at {src_fps:g} fps to {dst_fps:g} fps gives {n_float:g} frames, more "
                         f"than {MAX_RESAMPLED_FRAMES}; check the Frame Time and --fps")
    n = int(n_float)
    src_t = np.arange(t) / src_fps
    dst_t = np.arange(n) / dst_fps
    flat = positions.reshape(t, -1)
    out = np.empty((n, flat.shape[1]))
    for c in range(flat.shape[1]):
        out[:, c] = np.interp(dst_t, src_t, flat[:, c])
    return out.reshape((n,) + positions.shape[1:])


def _extent(joints: np.ndarray) -> float:
    """Leg + spine + neck bone lengths (median over frames): a pose-independent body size."""
    chain = [(0, 3), (3, 6), (6, 9), (9, 12), (12, 15), (1, 4), (4, 7), (0, 1)]
    lens = [np.median(np.linalg.norm(joints[:, a] - joints[:, b], axis=-1)) for a, b in chain]
    return float(sum(lens))


def detect_units(joints: np.ndarray) -> str:
    extent = _extent(joints)
    if not extent > 0:
        raise ValueError("cannot infer units: the skeleton has zero size")
    return min(UNITS, key=lambda u: abs(np.log(extent * UNITS[u] / _TYPICAL_EXTENT_M)))


def canonicalize(joints: np.ndarray) -> np.ndarray:
    """On the floor (min height 0), root XZ at the origin in frame 0, facing +Z in frame 0 (hips + shoulders)."""
    j = joints.copy()
    j[..., 1] -= j[..., 1].min()
    j -= j[0, 0] * np.array([1.0, 0.0, 1.0])
    r_hip, l_hip, r_sh, l_sh = HUMANML3D.face_joint_index
    across = (j[0, r_hip] - j[0, l_hip]) + (j[0, r_sh] - j[0, l_sh])
    across[1] = 0
    forward = np.cross(np.array([0.0, 1.0, 0.0]), across)
    forward /= np.linalg.norm(forward)
    q = qbetween_np(forward[None], np.array([[0.0, 0.0, 1.0]]))[0]
    return qrot_np(np.broadcast_to(q, j.shape[:-1] + (4,)), j)


def retarget_bvh(bvh: BVH, preset: str | RigPreset | None = None, fps: float = 20.0, units: str | None = None,
                 up: str = "y", warn: bool = True) -> RetargetResult:
    """BVH -> (T, 22, 3) HumanML3D-layout joints in metres at ``fps``, Y up, facing +Z at the start.

    ``units`` (m, cm, mm, inch, cmu) is inferred from the skeleton's size when not given; ``up`` names the file's
    up axis (y or z). Joints the rig lacks are interpolated and listed in the result (and a warning, if ``warn``).
    """
    pos, names = bvh.world_positions(include_end_sites=True)
    if preset is None:
        rig = detect_preset(names)
    elif isinstance(preset, RigPreset):
        rig = preset
    else:
        try:
            rig = PRESETS[preset]
        except KeyError:
            raise ValueError(f"unknown rig preset {preset!r}; expected one of: {', '.join(PRESETS)}") from None
    mapping, interpolated, missing = _match(rig, names)
    if missing:
        wanted = {m: _candidates(rig.joints[m]) for m in missing}
        raise ValueError(f"{bvh.source}: rig preset {rig.name!r} expects joints the file lacks: "
                         + "; ".join(f"{m} <- {'/'.join(c)}" for m, c in wanted.items()))
    t = pos.shape[0]
    out = np.full((t, 22, 3), np.nan)
    for smpl_name, idx in mapping.items():
        out[:, HUMANML3D.joint_index(smpl_name)] = pos[:, idx]
    pending = list(interpolated)
    while pending:
        progressed = False
        for smpl_name in list(pending):
            lerp = rig.joints[smpl_name]
            ia, ib = HUMANML3D.joint_index(lerp.a), HUMANML3D.joint_index(lerp.b)
            if np.isnan(out[0, ia, 0]) or np.isnan(out[0, ib, 0]):
                continue
            out[:, HUMANML3D.joint_index(smpl_name)] = (1 - lerp.w) * out[:, ia] + lerp.w * out[:, ib]
            pending.remove(smpl_name)
            progressed = True
        if not progressed:
            raise ValueError(f"preset {rig.name!r}: cannot interpolate {pending}")
    for smpl_name, factor in rig.extend.items():
        k = HUMANML3D.joint_index(smpl_name)
        p = HUMANML3D.parents[k]
        out[:, k] = out[:, p] + factor * (out[:, k] - out[:, p])
    if rig.drop_first_frame and t > 1:
        out = out[1:]
    if up.lower() == "z":
        out = out[..., [0, 2, 1]] * np.array([1.0, 1.0, -1.0])
    elif up.lower() != "y":
        raise ValueError(f"up: expected 'y' or 'z', got {up!r}")
    unit = units or detect_units(out)
    if unit not in UNITS:
        raise ValueError(f"units: expected one of {', '.join(UNITS)}, got {unit!r}")
    out = out * UNITS[unit]
    out = resample(out, bvh.fps, fps)
    if len(out) < 2:
        raise ValueError(f"{bvh.source}: too short to resample to {fps} fps ({bvh.num_frames} frames at {bvh.fps:g} fps)")
    out = canonicalize(out)
    if warn and interpolated:
        warnings.warn(f"{bvh.source}: rig {rig.name!r} lacks {', '.join(interpolated)}; interpolated", stacklevel=2)
    return RetargetResult(out, fps, rig.name, unit, interpolated)
