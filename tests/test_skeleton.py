import numpy as np
import pytest

from motiongen.skeleton import FINEMOGEN_PART_NAMES, HISTF_PART_NAMES, HUMANML3D, KIT, get_skeleton

from conftest import data_left_direction


@pytest.mark.parametrize("spec", [HUMANML3D, KIT])
def test_feature_layout_dims(spec):
    s = spec.layout.slices
    assert spec.feature_dim == {22: 263, 21: 251}[spec.num_joints]
    assert s["foot_contact"].stop == spec.feature_dim
    covered = np.zeros(spec.feature_dim, int)
    for sl in s.values():
        covered[sl] += 1
    assert (covered == 1).all()


@pytest.mark.parametrize("spec", [HUMANML3D, KIT])
def test_finemogen_parts_partition_features(spec):
    parts = spec.finemogen_part_feature_indices()
    assert tuple(parts) == FINEMOGEN_PART_NAMES
    counts = np.zeros(spec.feature_dim, int)
    for idx in parts.values():
        np.add.at(counts, idx, 1)
    assert (counts == 1).all(), "the 7 FineMoGen parts must cover every feature index exactly once"
    joints = sorted(j for js in spec.finemogen_parts.values() for j in js)
    assert joints == list(range(spec.num_joints))


@pytest.mark.parametrize("spec", [HUMANML3D, KIT])
def test_histf_parts_follow_appendix_a4(spec):
    parts = spec.histf_part_feature_indices()
    assert tuple(parts) == HISTF_PART_NAMES
    shared = spec.histf_shared_joint
    # the shared joint sits in the backbone and both arms, every other joint in exactly one part
    owners = [p for p, js in spec.histf_parts.items() if shared in js]
    assert sorted(owners) == ["Backbone", "L_Arm", "R_Arm"]
    all_idx = np.concatenate(list(parts.values()))
    assert set(all_idx.tolist()) == set(range(spec.feature_dim))
    assert len(all_idx) == spec.feature_dim + 2 * len(spec.layout.joint_indices(shared))
    if spec is HUMANML3D:
        assert {k: len(v) for k, v in parts.items()} == {"Root": 7, "R_Leg": 50, "L_Leg": 50, "Backbone": 60,
                                                         "R_Arm": 60, "L_Arm": 60}


def test_names_and_lookup():
    assert HUMANML3D.joint_names[1] == "left_hip" and HUMANML3D.joint_names[2] == "right_hip"
    assert get_skeleton(263) is HUMANML3D and get_skeleton(251) is KIT and get_skeleton("t2m") is HUMANML3D
    with pytest.raises(ValueError, match="263"):
        get_skeleton(100)
    with pytest.raises(KeyError, match="no joint named"):
        HUMANML3D.joint_index("left_wing")


def test_left_right_against_real_motion(real_samples):
    """Every joint named left_* lies on the left side that the data itself defines (toes point forward)."""
    spec = HUMANML3D
    ankles, toes = (7, 8), (10, 11)
    for sid, (_, joints) in real_samples.items():
        left_dir = data_left_direction(joints, ankles, toes)
        for a, b in spec.left_right_pairs:
            la, lb = spec.joint_names[a], spec.joint_names[b]
            assert la.startswith("left_") and lb.startswith("right_")
            side = np.einsum("tc,tc->t", joints[:, a] - joints[:, b], left_dir)
            assert (side > 0).mean() > 0.8, (sid, la, lb, (side > 0).mean())
        # the FineMoGen and HiSTF part maps name the sides the same way
        for part, other in (("left_leg", "right_leg"), ("left_arm", "right_arm")):
            a, b = spec.finemogen_parts[part], spec.finemogen_parts[other]
            side = np.einsum("tc,tc->t", joints[:, list(a)].mean(1) - joints[:, list(b)].mean(1), left_dir)
            assert (side > 0).mean() > 0.8, (sid, part)
        side = np.einsum("tc,tc->t", joints[:, list(spec.histf_parts["L_Leg"])].mean(1)
                         - joints[:, list(spec.histf_parts["R_Leg"])].mean(1), left_dir)
        assert (side > 0).mean() > 0.8


def test_foot_contact_channels_match_left_foot(real_samples):
    """The first two contact channels follow the left foot: contact <=> small left-ankle displacement."""
    spec = HUMANML3D
    for _, (vecs, joints) in real_samples.items():
        disp = ((joints[1:, 7] - joints[:-1, 7]) ** 2).sum(-1)
        contact = vecs[:-1, spec.layout.foot_contact_indices("left")[0]]
        still = disp < 1e-4
        moving = disp > 5e-3
        if still.any():
            assert contact[still].mean() > 0.9
        if moving.any():
            assert contact[moving].mean() < 0.1
