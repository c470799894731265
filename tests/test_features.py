import numpy as np
import pytest
import torch

from motiongen.motion.features import (
    bone_offsets_from_joints, denormalize, humanml3d_target_offsets, joints_to_features, mirror_features,
    mirror_joints, normalize, recover_joints_from_features,
)
from motiongen.skeleton import HUMANML3D

from conftest import HUMANML3D_DIR


def test_recover_matches_official_joints(real_samples):
    for sid, (vecs, joints) in real_samples.items():
        rec = recover_joints_from_features(vecs)
        assert rec.shape == joints.shape
        assert np.abs(rec - joints).max() < 1e-4, sid


def test_recover_torch_batched_and_differentiable(real_samples):
    vecs, joints = real_samples["000000"]
    x = torch.tensor(np.stack([vecs, vecs]), requires_grad=True)
    out = recover_joints_from_features(x)
    assert out.shape == (2,) + joints.shape
    out.sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all()


def test_target_offsets_match_template(real_samples):
    template = np.load(HUMANML3D_DIR / "template" / "000021.npy")
    expected = bone_offsets_from_joints(template[0, :22].astype(np.float64))
    assert np.allclose(humanml3d_target_offsets(), expected, atol=1e-12)


def test_features_from_official_joints_reproduce_official_features(real_samples):
    """new_joints has one frame fewer than the joints the official features were made from, so the Gaussian-smoothed
    facing (sigma = 20 frames) differs near the end; away from the end the match is tight."""
    vecs, joints = real_samples["012314"]
    feats, _ = joints_to_features(joints)
    assert feats.shape == (len(joints) - 1, 263)
    n = len(feats)
    s = HUMANML3D.layout.slices
    err = {k: np.abs(feats[:n, sl] - vecs[:n, sl]).max() for k, sl in s.items()}
    assert err["foot_contact"] == 0
    assert err["root_height"] < 1e-6
    assert err["root_linear_velocity"] < 1e-3 and err["root_rot_velocity"] < 1e-3
    assert err["ric"] < 1e-2 and err["rot_6d"] < 2e-2 and err["local_velocity"] < 1e-3
    head = slice(0, n - 60)   # frames more than 3 sigma from the end
    assert np.abs(feats[head] - vecs[head]).max() < 1e-4


def test_joints_features_joints_round_trip(real_samples):
    for sid, (_, joints) in real_samples.items():
        feats, processed = joints_to_features(joints)
        rec = recover_joints_from_features(feats)
        assert np.abs(rec - processed[:-1]).max() < 1e-4, sid


def test_uniform_skeleton_sets_target_bone_lengths(real_samples):
    _, joints = real_samples["000000"]
    scaled = joints * 1.3
    _, processed = joints_to_features(scaled)
    lengths = np.linalg.norm(bone_offsets_from_joints(processed[10]), axis=-1)
    target = np.linalg.norm(humanml3d_target_offsets(), axis=-1)
    assert np.allclose(lengths, target, atol=1e-6)
    assert processed[..., 1].min() == pytest.approx(0.0, abs=1e-9)   # on the floor


def test_mirror_features_equals_features_of_mirrored_joints(real_samples):
    for sid in ("000000", "012314"):
        _, joints = real_samples[sid]
        feats, _ = joints_to_features(joints, uniform=False)
        feats_m, _ = joints_to_features(mirror_joints(joints), uniform=False)
        assert np.abs(mirror_features(feats) - feats_m).max() < 1e-6
        assert np.allclose(mirror_features(mirror_features(feats)), feats)


def test_normalisation_round_trip(real_samples):
    mean = np.load(HUMANML3D_DIR / "Mean.npy")
    std = np.load(HUMANML3D_DIR / "Std.npy")
    vecs, _ = real_samples["007005"]
    z = normalize(vecs, mean, std)
    assert abs(z.mean()) < 1.0
    assert np.allclose(denormalize(z, mean, std), vecs, atol=1e-5)


def test_bad_joint_input_is_named():
    with pytest.raises(ValueError, match=r"\(T, 22, 3\)"):
        joints_to_features(np.zeros((10, 21, 3)))
    bad = np.zeros((10, 22, 3))
    bad[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        joints_to_features(bad)
    with pytest.raises(ValueError, match="263"):
        recover_joints_from_features(np.zeros((5, 200)), num_joints=22)


def test_joints_from_rotations_match_the_ric_joints_and_have_exact_bones(real_samples):
    from motiongen.motion.features import humanml3d_target_offsets, recover_joints_from_rotations
    from motiongen.skeleton import HUMANML3D
    offsets = humanml3d_target_offsets()
    for sid, (feats, _) in real_samples.items():
        a = recover_joints_from_features(feats)
        b = recover_joints_from_rotations(feats)
        assert np.abs(a - b).max() < 1e-4, sid
        for child, parent in enumerate(HUMANML3D.parents):
            if parent >= 0:
                length = np.linalg.norm(b[:, child] - b[:, parent], axis=-1)
                assert np.allclose(length, np.linalg.norm(offsets[child]), atol=1e-9), (sid, child)
