"""Joint positions <-> the redundant 263-dim (HumanML3D) / 251-dim (KIT-ML) motion features.

A faithful port of HumanML3D's ``motion_representation.ipynb`` (``process_file``), ``common/skeleton.py`` and
``recover_from_ric`` (MIT), including the quirks that the official data carries, so that features we compute
match the official files:

* inverse kinematics takes the facing direction from ``(left_hip - right_hip) + (right_shoulder - left_shoulder)``
  (the official code unpacks ``face_joint_indx`` in a different order there than in ``process_file``), smoothed by a
  Gaussian of sigma 20 frames, and sets the first frame's root rotation to identity;
* the root's yaw velocity is stored as ``arcsin`` of the quaternion's y component (i.e. half the angle), and
  recovered as if it were the half angle, so the round trip is consistent.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from ..skeleton import HUMANML3D, SkeletonSpec, get_skeleton
from .quaternion import (
    cont6d_to_matrix_np, matrix_to_quaternion_np, qbetween_np, qinv, qinv_np, qmul_np, qrot, qrot_np,
    quaternion_to_cont6d_np,
)

__all__ = [
    "bone_offsets_from_joints", "inverse_kinematics", "forward_kinematics", "uniform_skeleton",
    "humanml3d_target_offsets", "offsets_from_template", "joints_to_features", "recover_root_rotation_and_position",
    "recover_joints_from_features", "recover_joints_from_rotations", "rigid_bone_lengths", "mirror_joints", "mirror_features", "normalize", "denormalize",
]

# Bone offsets of HumanML3D's target skeleton: raw directions x bone lengths of the first frame of
# template/000021.npy (the official ``tgt_offsets``). 21 lengths are not motion data; the test
# ``test_target_offsets_match_template`` recomputes them from the template in ../shared.
_HUMANML3D_BONE_LENGTHS = (
    0.0, 0.10307393575260745, 0.10988341731359684, 0.13156824130931077, 0.3936232668624135, 0.390188114541695, 0.14319021331683535, 0.43243308784436374,
    0.42564352546036327, 0.057364735143330216, 0.14338185326794975, 0.14941903134348114, 0.21936005376632126, 0.13748673607616194, 0.1433828654655169,
    0.10303921946937832, 0.13161404204261845, 0.1229844377158008, 0.25683988652070733, 0.263091726718483, 0.26601196057534227, 0.26987646323572506,
)


def bone_offsets_from_joints(joints_frame: np.ndarray, spec: SkeletonSpec = HUMANML3D) -> np.ndarray:
    """(J, 3) offsets: each joint's raw rest direction scaled by its bone length in ``joints_frame`` (J, 3)."""
    raw = np.asarray(spec.raw_offsets, dtype=np.float64)
    parents = spec.parents
    out = raw.copy()
    for i in range(1, spec.num_joints):
        out[i] = np.linalg.norm(joints_frame[i] - joints_frame[parents[i]]) * raw[i]
    return out


def humanml3d_target_offsets() -> np.ndarray:
    raw = np.asarray(HUMANML3D.raw_offsets, dtype=np.float64)
    return raw * np.asarray(_HUMANML3D_BONE_LENGTHS)[:, None]


def offsets_from_template(path: str | Path, spec: SkeletonSpec = HUMANML3D) -> np.ndarray:
    """Target offsets from a template joints file (T, >=J, 3), e.g. HumanML3D's ``000021.npy``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"template skeleton file not found: {path}")
    data = np.load(path)
    if data.ndim == 2:
        data = data.reshape(len(data), -1, 3)
    if data.ndim != 3 or data.shape[1] < spec.num_joints:
        raise ValueError(f"{path}: expected joints (T, >={spec.num_joints}, 3), got shape {data.shape}")
    return bone_offsets_from_joints(data[0, : spec.num_joints].astype(np.float64), spec)


def _facing_root_quaternion(joints: np.ndarray, spec: SkeletonSpec, smooth_forward: bool) -> np.ndarray:
    # The official IK unpacks face_joint_indx = (r_hip, l_hip, r_shoulder, l_shoulder) as
    # (l_hip, r_hip, sdr_r, sdr_l): the hip term therefore points left while the shoulder term points right.
    i_a, i_b, i_c, i_d = spec.face_joint_index
    across = (joints[:, i_b] - joints[:, i_a]) + (joints[:, i_c] - joints[:, i_d])
    across = across / np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross(np.array([[0.0, 1.0, 0.0]]), across)
    if smooth_forward:
        forward = gaussian_filter1d(forward, 20, axis=0, mode="nearest")
    forward = forward / np.linalg.norm(forward, axis=-1, keepdims=True)
    target = np.repeat(np.array([[0.0, 0.0, 1.0]]), len(forward), axis=0)
    root_quat = qbetween_np(forward, target)
    root_quat[0] = np.array([1.0, 0.0, 0.0, 0.0])
    return root_quat


def inverse_kinematics(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D, smooth_forward: bool = False) -> np.ndarray:
    """Local joint rotations (T, J, 4) that turn each raw rest direction onto the observed bone (HumanML3D IK)."""
    raw = np.asarray(spec.raw_offsets, dtype=np.float64)
    root_quat = _facing_root_quaternion(joints, spec, smooth_forward)
    quats = np.zeros(joints.shape[:-1] + (4,))
    quats[:, 0] = root_quat
    for chain in spec.kinematic_chain:
        rot = root_quat
        for j in range(len(chain) - 1):
            u = np.repeat(raw[chain[j + 1]][None], len(joints), axis=0)
            v = joints[:, chain[j + 1]] - joints[:, chain[j]]
            v = v / np.linalg.norm(v, axis=-1, keepdims=True)
            local = qmul_np(qinv_np(rot), qbetween_np(u, v))
            quats[:, chain[j + 1]] = local
            rot = qmul_np(rot, local)
    return quats


def recover_joints_from_rotations(features: np.ndarray, offsets: np.ndarray | None = None,
                                  spec: SkeletonSpec | None = None) -> np.ndarray:
    """Features -> joints by forward kinematics of the 6D local rotations on a fixed skeleton (HumanML3D's
    ``recover_from_rot``): every bone has exactly its template length, unlike :func:`recover_joints_from_features`
    (which reads the ``ric`` positions). Root: the integrated root channels. NumPy in, NumPy out."""
    f = np.asarray(features, dtype=np.float64)
    spec = spec or get_skeleton(int(f.shape[-1]))
    if offsets is None:
        if spec is not HUMANML3D:
            raise ValueError("recover_joints_from_rotations needs the skeleton's offsets for KIT")
        offsets = humanml3d_target_offsets()
    quat, root = recover_root_rotation_and_position(f)
    rot6d = f[:, spec.layout.slices["rot_6d"]].reshape(len(f), spec.num_joints - 1, 6)
    local = matrix_to_quaternion_np(cont6d_to_matrix_np(rot6d))
    quats = np.concatenate([quat[:, None], local], axis=1)
    return forward_kinematics(quats, root, np.asarray(offsets, np.float64), spec)


def forward_kinematics(quats: np.ndarray, root_pos: np.ndarray, offsets: np.ndarray,
                       spec: SkeletonSpec = HUMANML3D) -> np.ndarray:
    """Joint positions (T, J, 3) from local rotations (T, J, 4), root positions (T, 3) and offsets (J, 3)."""
    joints = np.zeros(quats.shape[:-1] + (3,))
    joints[:, 0] = root_pos
    for chain in spec.kinematic_chain:
        rot = quats[:, 0]
        for i in range(1, len(chain)):
            rot = qmul_np(rot, quats[:, chain[i]])
            joints[:, chain[i]] = qrot_np(rot, np.broadcast_to(offsets[chain[i]], rot.shape[:-1] + (3,))) \
                + joints[:, chain[i - 1]]
    return joints


def uniform_skeleton(joints: np.ndarray, target_offsets: np.ndarray, spec: SkeletonSpec = HUMANML3D) -> np.ndarray:
    """Retarget onto the target bone lengths, keeping every bone's direction; the root path is scaled by the
    ratio of leg lengths (HumanML3D's ``uniform_skeleton``)."""
    src_offsets = bone_offsets_from_joints(joints[0], spec)
    a, b = spec.leg_index
    src_leg = np.abs(src_offsets[a]).max() + np.abs(src_offsets[b]).max()
    tgt_leg = np.abs(target_offsets[a]).max() + np.abs(target_offsets[b]).max()
    quats = inverse_kinematics(joints, spec, smooth_forward=False)
    return forward_kinematics(quats, joints[:, 0] * (tgt_leg / src_leg), target_offsets, spec)


def _check_joints(joints: np.ndarray, spec: SkeletonSpec, name: str = "joints") -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3):
        raise ValueError(f"{name}: expected shape (T, {spec.num_joints}, 3) for {spec.name}, got {joints.shape}")
    if len(joints) < 2:
        raise ValueError(f"{name}: need at least 2 frames to compute velocities, got {len(joints)}")
    if not np.isfinite(joints).all():
        raise ValueError(f"{name}: contains NaN or infinite values")
    return joints


def joints_to_features(joints: np.ndarray, spec: SkeletonSpec | str = HUMANML3D,
                       target_offsets: np.ndarray | None = None, uniform: bool = True,
                       foot_contact_threshold: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """HumanML3D's ``process_file``: joints (T, J, 3) in metres, Y up -> (features (T-1, D), positions (T, J, 3)).

    Steps: uniform skeleton onto ``target_offsets`` (default: HumanML3D's), put on the floor, root XZ at the origin,
    face +Z, foot contacts (squared displacement < threshold), IK with a smoothed forward direction, then
    ``[root yaw vel, root XZ vel, root height, ric, 6D rotations, local velocities, foot contacts]``.
    The returned positions are the processed global joints; ``recover_joints_from_features`` of the features gives
    back their first T-1 frames.
    """
    spec = get_skeleton(spec) if isinstance(spec, str) else spec
    positions = _check_joints(joints, spec).copy()
    if uniform:
        if target_offsets is None:
            if spec is not HUMANML3D:
                raise ValueError(f"{spec.name}: pass target_offsets (e.g. offsets_from_template(path, spec))")
            target_offsets = humanml3d_target_offsets()
        positions = uniform_skeleton(positions, target_offsets, spec)
    threshold = spec.foot_contact_threshold if foot_contact_threshold is None else foot_contact_threshold

    positions[:, :, 1] -= positions.min(axis=0).min(axis=0)[1]           # on the floor
    root_init = positions[0]
    positions = positions - root_init[0] * np.array([1.0, 0.0, 1.0])        # root XZ at the origin

    r_hip, l_hip, sdr_r, sdr_l = spec.face_joint_index                     # face +Z
    across = (root_init[r_hip] - root_init[l_hip]) + (root_init[sdr_r] - root_init[sdr_l])
    across = across / np.linalg.norm(across)
    forward_init = np.cross(np.array([0.0, 1.0, 0.0]), across)
    forward_init = forward_init / np.linalg.norm(forward_init)
    root_quat_init = qbetween_np(forward_init[None], np.array([[0.0, 0.0, 1.0]]))[0]
    positions = qrot_np(np.broadcast_to(root_quat_init, positions.shape[:-1] + (4,)), positions)
    global_positions = positions.copy()

    def contacts(ids: tuple[int, int]) -> np.ndarray:
        disp = ((positions[1:, list(ids)] - positions[:-1, list(ids)]) ** 2).sum(-1)
        return (disp < threshold).astype(np.float64)

    feet_l, feet_r = contacts(spec.left_foot_index), contacts(spec.right_foot_index)

    quats = inverse_kinematics(positions, spec, smooth_forward=True)
    cont6d = quaternion_to_cont6d_np(quats)
    r_rot = quats[:, 0].copy()
    velocity = qrot_np(r_rot[1:], positions[1:, 0] - positions[:-1, 0])
    r_velocity = qmul_np(r_rot[1:], qinv_np(r_rot[:-1]))

    local = positions.copy()                                                # rotation-invariant coordinates
    local[..., 0] -= local[:, 0:1, 0]
    local[..., 2] -= local[:, 0:1, 2]
    local = qrot_np(np.repeat(r_rot[:, None], local.shape[1], axis=1), local)

    root_data = np.concatenate([np.arcsin(r_velocity[:, 2:3]), velocity[:, [0, 2]], local[:-1, 0, 1:2]], axis=-1)
    ric = local[:, 1:].reshape(len(local), -1)
    rot = cont6d[:, 1:].reshape(len(cont6d), -1)
    local_vel = qrot_np(np.repeat(r_rot[:-1, None], global_positions.shape[1], axis=1),
                        global_positions[1:] - global_positions[:-1]).reshape(len(global_positions) - 1, -1)
    features = np.concatenate([root_data, ric[:-1], rot[:-1], local_vel, feet_l, feet_r], axis=-1)
    return features, global_positions


def _as_tensor(x):
    if isinstance(x, torch.Tensor):
        return x, False
    return torch.as_tensor(np.asarray(x)), True


def recover_root_rotation_and_position(features):
    """Integrate the root yaw velocity and XZ velocity: (quaternion (..., T, 4), position (..., T, 3))."""
    data, was_numpy = _as_tensor(features)
    rot_vel = data[..., 0]
    angle = torch.zeros_like(rot_vel)
    angle[..., 1:] = rot_vel[..., :-1]
    angle = torch.cumsum(angle, dim=-1)
    quat = torch.zeros(data.shape[:-1] + (4,), dtype=data.dtype, device=data.device)
    quat[..., 0] = torch.cos(angle)
    quat[..., 2] = torch.sin(angle)
    pos = torch.zeros(data.shape[:-1] + (3,), dtype=data.dtype, device=data.device)
    pos[..., 1:, 0] = data[..., :-1, 1]
    pos[..., 1:, 2] = data[..., :-1, 2]
    pos = qrot(qinv(quat), pos)
    pos = torch.cumsum(pos, dim=-2)
    pos[..., 1] = data[..., 3]
    if was_numpy:
        return quat.numpy(), pos.numpy()
    return quat, pos


def recover_joints_from_features(features, num_joints: int | None = None):
    """Features (..., T, 263|251) -> joint positions (..., T, J, 3) (HumanML3D's ``recover_from_ric``).

    Accepts NumPy arrays or tensors (differentiable); returns the same kind.
    """
    data, was_numpy = _as_tensor(features)
    if num_joints is None:
        num_joints = get_skeleton(int(data.shape[-1])).num_joints
    expected = get_skeleton(num_joints).feature_dim
    if data.shape[-1] != expected:
        raise ValueError(f"features: expected last dimension {expected} for {num_joints} joints, got {data.shape[-1]}")
    quat, root = recover_root_rotation_and_position(data)
    pos = data[..., 4:(num_joints - 1) * 3 + 4].reshape(data.shape[:-1] + (num_joints - 1, 3))
    pos = qrot(qinv(quat[..., None, :]).expand(pos.shape[:-1] + (4,)), pos)
    pos = torch.cat([pos[..., :1] + root[..., None, :1], pos[..., 1:2], pos[..., 2:3] + root[..., None, 2:3]], dim=-1)
    out = torch.cat([root[..., None, :], pos], dim=-2)
    return out.numpy() if was_numpy else out


def rigid_bone_lengths(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D) -> np.ndarray:
    """Joints (T, J, 3) reconciled with a skeleton of fixed bone lengths: walking the tree from the pelvis, each
    joint is put at its parent plus the bone's median length (over the motion) along the recovered bone direction.

    The ``ric`` channels give every joint's position independently, so a model's small position errors show as
    bones that stretch from frame to frame (docs/motion_quality.md); directions carry the pose, lengths are the
    skeleton's. Bone lengths are then constant by construction and the pelvis trajectory is unchanged."""
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[1] != spec.num_joints or j.shape[2] != 3:
        raise ValueError(f"joints: expected (T, {spec.num_joints}, 3), got {j.shape}")
    parents = spec.parents
    bones = np.stack([j[:, c] - j[:, max(p, 0)] for c, p in enumerate(parents)], axis=1)     # (T, J, 3)
    norm = np.linalg.norm(bones, axis=-1, keepdims=True)
    lengths = np.median(norm[..., 0], axis=0)
    unit = bones / np.maximum(norm, 1e-9)
    out = np.empty_like(j)
    out[:, 0] = j[:, 0]
    for c, p in enumerate(parents):
        if p >= 0:
            out[:, c] = out[:, p] + unit[:, c] * lengths[c]
    return out.astype(np.asarray(joints).dtype, copy=False)


# ---- mirroring ----------------------------------------------------------------------------------
def mirror_joints(joints: np.ndarray, spec: SkeletonSpec = HUMANML3D) -> np.ndarray:
    """Left/right mirror of joint positions (x -> -x and swap left/right joints), as HumanML3D's "M" ids."""
    out = np.array(joints, copy=True)
    out[..., 0] *= -1
    return out[..., spec.mirror_permutation(), :]


def mirror_features(features: np.ndarray, spec: SkeletonSpec | None = None) -> np.ndarray:
    """Mirror features directly: equals ``joints_to_features(mirror_joints(j), uniform=False)`` up to float error.

    Under the reflection M = diag(-1, 1, 1): yaw velocity and x components change sign, left/right joints swap,
    and each local rotation R becomes M R M, whose 6D columns are (-M c0, M c1).
    """
    features = np.asarray(features)
    spec = spec or get_skeleton(int(features.shape[-1]))
    j = spec.num_joints
    s = spec.layout.slices
    perm = spec.mirror_permutation()
    out = features.copy()
    out[..., 0] *= -1
    out[..., 1] *= -1
    ric = features[..., s["ric"]].reshape(features.shape[:-1] + (j - 1, 3))
    ric = np.concatenate([np.zeros_like(ric[..., :1, :]), ric], axis=-2)[..., perm, :][..., 1:, :].copy()
    ric[..., 0] *= -1
    out[..., s["ric"]] = ric.reshape(features.shape[:-1] + (-1,))
    rot = features[..., s["rot_6d"]].reshape(features.shape[:-1] + (j - 1, 6))
    rot = np.concatenate([np.zeros_like(rot[..., :1, :]), rot], axis=-2)[..., perm, :][..., 1:, :].copy()
    rot[..., [1, 2, 3]] *= -1
    out[..., s["rot_6d"]] = rot.reshape(features.shape[:-1] + (-1,))
    vel = features[..., s["local_velocity"]].reshape(features.shape[:-1] + (j, 3))[..., perm, :].copy()
    vel[..., 0] *= -1
    out[..., s["local_velocity"]] = vel.reshape(features.shape[:-1] + (-1,))
    f0 = s["foot_contact"].start
    out[..., f0:f0 + 2], out[..., f0 + 2:f0 + 4] = features[..., f0 + 2:f0 + 4], features[..., f0:f0 + 2]
    return out


# ---- normalisation ------------------------------------------------------------------------------
def normalize(features, mean, std, eps: float = 1e-8):
    return (features - mean) / (std + eps) if eps else (features - mean) / std


def denormalize(features, mean, std, eps: float = 1e-8):
    return features * (std + eps) + mean if eps else features * std + mean
