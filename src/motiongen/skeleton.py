"""Skeletons, feature layouts and body-part maps: the single source of truth.

Everything that knows a joint index, a kinematic chain or where a quantity lives inside the 263-dim
(HumanML3D) or 251-dim (KIT-ML) feature vector reads it from here.

Conventions (HumanML3D): Y is up, the character faces +Z in the first frame, so its *left* is +X.
SMPL joint 1 is the **left** hip.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "SkeletonSpec", "HUMANML3D", "KIT", "get_skeleton", "FeatureLayout",
    "FINEMOGEN_PART_NAMES", "HISTF_PART_NAMES",
]


@dataclass(frozen=True)
class FeatureLayout:
    """Named slices of the redundant motion representation of Guo et al. (HumanML3D, sec. 3 of its paper).

    For J joints the vector is
    ``[root_rot_velocity (1), root_linear_velocity_xz (2), root_height (1), ric (3(J-1)),
       rot_6d (6(J-1)), local_velocity (3J), foot_contact (4)]``.
    """

    num_joints: int

    @property
    def dim(self) -> int:
        return 4 + 3 * (self.num_joints - 1) + 6 * (self.num_joints - 1) + 3 * self.num_joints + 4

    @property
    def slices(self) -> dict[str, slice]:
        j = self.num_joints
        ric0 = 4
        rot0 = ric0 + 3 * (j - 1)
        vel0 = rot0 + 6 * (j - 1)
        foot0 = vel0 + 3 * j
        return {
            "root_rot_velocity": slice(0, 1),
            "root_linear_velocity": slice(1, 3),
            "root_height": slice(3, 4),
            "ric": slice(ric0, rot0),
            "rot_6d": slice(rot0, vel0),
            "local_velocity": slice(vel0, foot0),
            "foot_contact": slice(foot0, foot0 + 4),
        }

    def joint_indices(self, joint: int) -> list[int]:
        """Feature indices that describe one joint (ric, 6D rotation and local velocity; root: its 4 root dims)."""
        s = self.slices
        idx: list[int] = []
        if joint == 0:
            idx += list(range(0, 4))
        else:
            idx += list(range(s["ric"].start + 3 * (joint - 1), s["ric"].start + 3 * joint))
            idx += list(range(s["rot_6d"].start + 6 * (joint - 1), s["rot_6d"].start + 6 * joint))
        idx += list(range(s["local_velocity"].start + 3 * joint, s["local_velocity"].start + 3 * joint + 3))
        return idx

    def foot_contact_indices(self, side: str) -> list[int]:
        """Foot-contact channels: the first two are the left foot (ankle, toe), the last two the right."""
        f0 = self.slices["foot_contact"].start
        return [f0, f0 + 1] if side == "left" else [f0 + 2, f0 + 3]


@dataclass(frozen=True)
class SkeletonSpec:
    """A skeleton as the HumanML3D processing sees it.

    ``raw_offsets`` are the unit rest directions used by its inverse kinematics; ``kinematic_chain`` is the
    list of chains used both by IK/FK and for drawing; the ``*_index`` fields are the joints the
    feature extraction needs (facing direction, feet, leg length for the uniform-skeleton scale).
    """

    name: str
    joint_names: tuple[str, ...]
    kinematic_chain: tuple[tuple[int, ...], ...]
    raw_offsets: tuple[tuple[float, float, float], ...]
    # (right_hip, left_hip, right_shoulder, left_shoulder), as HumanML3D's ``face_joint_indx``.
    face_joint_index: tuple[int, int, int, int]
    left_foot_index: tuple[int, int]     # (ankle, toe) -> foot contacts 0, 1
    right_foot_index: tuple[int, int]    # (ankle, toe) -> foot contacts 2, 3
    leg_index: tuple[int, int]           # two bones whose offsets give the leg length (``l_idx1, l_idx2``)
    left_right_pairs: tuple[tuple[int, int], ...]
    foot_contact_threshold: float
    fps: float
    max_frames: int
    min_frames: int
    finemogen_parts: dict[str, tuple[int, ...]] = field(default_factory=dict)
    histf_parts: dict[str, tuple[int, ...]] = field(default_factory=dict)

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def layout(self) -> FeatureLayout:
        return FeatureLayout(self.num_joints)

    @property
    def feature_dim(self) -> int:
        return self.layout.dim

    @property
    def parents(self) -> list[int]:
        parents = [-1] * self.num_joints
        for chain in self.kinematic_chain:
            for a, b in zip(chain[:-1], chain[1:]):
                parents[b] = a
        return parents

    def joint_index(self, name: str) -> int:
        try:
            return self.joint_names.index(name)
        except ValueError:
            raise KeyError(f"{self.name} has no joint named {name!r}; joints: {', '.join(self.joint_names)}") from None

    def mirror_permutation(self) -> np.ndarray:
        """Joint permutation that swaps left and right."""
        perm = np.arange(self.num_joints)
        for a, b in self.left_right_pairs:
            perm[a], perm[b] = b, a
        return perm

    # ---- body parts as feature-index lists ------------------------------------------------------
    def _part_feature_indices(self, parts: dict[str, tuple[int, ...]], left_leg: str, right_leg: str,
                              sort: bool) -> dict[str, np.ndarray]:
        """Each part's joints' feature indices (root: its 4 trajectory dims too), plus each leg's foot contacts."""
        lay = self.layout
        out: dict[str, np.ndarray] = {}
        for part, joints in parts.items():
            idx: list[int] = [i for j in joints for i in lay.joint_indices(j)]
            if part == left_leg:
                idx += lay.foot_contact_indices("left")
            if part == right_leg:
                idx += lay.foot_contact_indices("right")
            out[part] = np.array(sorted(idx) if sort else idx, dtype=np.int64)
        return out

    def finemogen_part_feature_indices(self) -> dict[str, np.ndarray]:
        """FineMoGen's 7 body parts (sec. 3.3 "spatial independence") as sorted feature indices.

        Each joint's ric / 6D rotation / local velocity goes to the part that owns the joint; the root's
        4 trajectory dims and its local velocity form the pelvis/trajectory part; each foot's two contact
        channels go to its leg. The 7 parts partition the feature vector exactly.
        """
        return self._part_feature_indices(self.finemogen_parts, "left_leg", "right_leg", sort=True)

    def histf_part_feature_indices(self) -> dict[str, np.ndarray]:
        """HiSTF Mamba's 6 parts (appendix A.4, following ParCo) as feature indices, in Whole2Part order
        (joint by joint, then the foot contacts).

        The arms and the backbone share one joint (spine3 / the torso top, see :attr:`histf_shared_joint`), whose
        features therefore appear in three parts. Feet contacts go to the legs; the root trajectory (4 dims + root
        local velocity) is the Root part.
        """
        return self._part_feature_indices(self.histf_parts, "L_Leg", "R_Leg", sort=False)

    @property
    def histf_shared_joint(self) -> int:
        counts: dict[int, int] = {}
        for joints in self.histf_parts.values():
            for j in joints:
                counts[j] = counts.get(j, 0) + 1
        shared = [j for j, c in counts.items() if c > 1]
        assert len(shared) == 1, shared
        return shared[0]


FINEMOGEN_PART_NAMES = ("head", "spine", "left_arm", "right_arm", "left_leg", "right_leg", "pelvis")
HISTF_PART_NAMES = ("Root", "R_Leg", "L_Leg", "Backbone", "R_Arm", "L_Arm")

HUMANML3D_JOINT_NAMES = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
    "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
)

# paramUtil.t2m_raw_offsets / t2m_kinematic_chain of the HumanML3D code (MIT).
HUMANML3D = SkeletonSpec(
    name="humanml3d",
    joint_names=HUMANML3D_JOINT_NAMES,
    kinematic_chain=((0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21),
                     (9, 13, 16, 18, 20)),
    raw_offsets=((0, 0, 0), (1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, -1, 0), (0, 1, 0), (0, -1, 0),
                 (0, -1, 0), (0, 1, 0), (0, 0, 1), (0, 0, 1), (0, 1, 0), (1, 0, 0), (-1, 0, 0), (0, 0, 1),
                 (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0), (0, -1, 0)),
    face_joint_index=(2, 1, 17, 16),
    left_foot_index=(7, 10),
    right_foot_index=(8, 11),
    leg_index=(5, 8),
    left_right_pairs=((1, 2), (4, 5), (7, 8), (10, 11), (13, 14), (16, 17), (18, 19), (20, 21)),
    foot_contact_threshold=0.002,
    fps=20.0,
    max_frames=196,
    min_frames=40,
    finemogen_parts={
        "head": (12, 15),
        "spine": (3, 6, 9),
        "left_arm": (13, 16, 18, 20),
        "right_arm": (14, 17, 19, 21),
        "left_leg": (1, 4, 7, 10),
        "right_leg": (2, 5, 8, 11),
        "pelvis": (0,),
    },
    histf_parts={
        "Root": (0,),
        "R_Leg": (2, 5, 8, 11),
        "L_Leg": (1, 4, 7, 10),
        "Backbone": (3, 6, 9, 12, 15),
        "R_Arm": (9, 14, 17, 19, 21),
        "L_Arm": (9, 13, 16, 18, 20),
    },
)

# KIT-ML (MMM) 21 joints; paramUtil.kit_raw_offsets / kit_kinematic_chain. Note that KIT's raw offsets put the
# *right* side at +X (joint 11 = right hip), the opposite of HumanML3D's.
KIT_JOINT_NAMES = (
    "root", "pelvis", "torso", "lower_neck", "head", "right_shoulder", "right_elbow", "right_wrist",
    "left_shoulder", "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "right_metatarsal",
    "right_toe", "left_hip", "left_knee", "left_ankle", "left_metatarsal", "left_toe",
)

KIT = SkeletonSpec(
    name="kit",
    joint_names=KIT_JOINT_NAMES,
    kinematic_chain=((0, 11, 12, 13, 14, 15), (0, 16, 17, 18, 19, 20), (0, 1, 2, 3, 4), (3, 5, 6, 7),
                     (3, 8, 9, 10)),
    raw_offsets=((0, 0, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0), (0, 1, 0), (1, 0, 0), (0, -1, 0), (0, -1, 0),
                 (-1, 0, 0), (0, -1, 0), (0, -1, 0), (1, 0, 0), (0, -1, 0), (0, -1, 0), (0, 0, 1), (0, 0, 1),
                 (-1, 0, 0), (0, -1, 0), (0, -1, 0), (0, 0, 1), (0, 0, 1)),
    face_joint_index=(11, 16, 5, 8),
    left_foot_index=(19, 20),
    right_foot_index=(14, 15),
    leg_index=(17, 18),
    left_right_pairs=((5, 8), (6, 9), (7, 10), (11, 16), (12, 17), (13, 18), (14, 19), (15, 20)),
    # KIT-ML joints are in millimetres; the HumanML3D code uses the same 0.002 threshold on squared frame
    # displacement (as it does for HumanML3D) -- kept here as a named constant.
    foot_contact_threshold=0.002,
    fps=12.5,
    max_frames=196,
    min_frames=24,
    finemogen_parts={
        "head": (4,),
        "spine": (1, 2, 3),
        "left_arm": (8, 9, 10),
        "right_arm": (5, 6, 7),
        "left_leg": (16, 17, 18, 19, 20),
        "right_leg": (11, 12, 13, 14, 15),
        "pelvis": (0,),
    },
    histf_parts={
        "Root": (0,),
        "R_Leg": (11, 12, 13, 14, 15),
        "L_Leg": (16, 17, 18, 19, 20),
        "Backbone": (1, 2, 3, 4),
        "R_Arm": (3, 5, 6, 7),
        "L_Arm": (3, 8, 9, 10),
    },
)

_SKELETONS = {"humanml3d": HUMANML3D, "t2m": HUMANML3D, "kit": KIT}


def get_skeleton(name_or_dim: str | int) -> SkeletonSpec:
    """Look a skeleton up by name (``humanml3d``/``t2m``/``kit``), joint count (22/21) or feature dim (263/251)."""
    if isinstance(name_or_dim, str):
        try:
            return _SKELETONS[name_or_dim.lower()]
        except KeyError:
            raise KeyError(f"unknown skeleton {name_or_dim!r}; expected one of humanml3d, kit") from None
    for spec in (HUMANML3D, KIT):
        if name_or_dim in (spec.num_joints, spec.feature_dim):
            return spec
    raise ValueError(f"no skeleton has {name_or_dim} joints or feature dims; expected 22/263 (HumanML3D) or 21/251 (KIT)")
