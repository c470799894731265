import numpy as np
import pytest

from motiongen.evaluate.physical import physical_metrics
from motiongen.motion.cleanup import clean_foot_contacts, contacts_from_features, leg_chains
from motiongen.motion.features import recover_joints_from_features
from motiongen.skeleton import HUMANML3D


def test_leg_chains_are_hip_knee_ankle_toe():
    names = HUMANML3D.joint_names
    (lh, lk, la, lt), (rh, rk, ra, rt) = leg_chains()
    assert [names[i] for i in (lh, lk, la, lt)] == ["left_hip", "left_knee", "left_ankle", "left_foot"]
    assert [names[i] for i in (rh, rk, ra, rt)] == ["right_hip", "right_knee", "right_ankle", "right_foot"]


@pytest.mark.parametrize("sid", ["000000", "009548", "012314"])
def test_cleanup_pins_skating_feet_and_keeps_leg_bones_constant(real_samples, sid):
    feats = real_samples[sid][0]
    joints = recover_joints_from_features(feats)
    contacts = contacts_from_features(feats)
    skating = joints.copy()                              # a real motion whose feet wander while planted
    drift = np.cumsum(np.random.default_rng(0).normal(0, 0.01, (len(joints), 1, 3)), axis=0)
    drift[..., 1] = 0
    feet = list(HUMANML3D.left_foot_index) + list(HUMANML3D.right_foot_index)
    skating[:, feet] += drift
    cleaned = clean_foot_contacts(skating, contacts, smooth_sigma=0)     # the foot locking alone
    before, after = physical_metrics(skating)["foot_skating"], physical_metrics(cleaned)["foot_skating"]
    assert after < 0.7 * before, (before, after)
    # planted feet do not move during a contact run (away from its blended ends), except by the millimetres the IK
    # cannot reach when the pinned point is beyond the fully stretched leg
    la = HUMANML3D.left_foot_index[0]
    on = contacts[:, 0]
    inner = on & np.roll(on, 4) & np.roll(on, -4)
    inner[:4] = inner[-4:] = False
    steps = np.linalg.norm(np.diff(cleaned[:, la], axis=0), axis=-1)
    held = steps[inner[1:] & inner[:-1]]
    assert np.median(held) < 1e-6 and held.max(initial=0) < 5e-3
    for hip, knee, ankle, toe in leg_chains():
        for a, b in ((hip, knee), (knee, ankle), (ankle, toe)):
            length = np.linalg.norm(cleaned[:, b] - cleaned[:, a], axis=-1)
            assert length.std() / length.mean() < 1e-4
    untouched = [i for i in range(22) if i not in {k for chain in leg_chains() for k in chain[1:]}]
    assert np.array_equal(cleaned[:, untouched], skating[:, untouched])   # only knees, ankles, toes move


def test_cleanup_rejects_bad_input():
    j = np.zeros((10, 22, 3))
    with pytest.raises(ValueError, match="contacts"):
        clean_foot_contacts(j, np.zeros((9, 4), bool))
    j[3, 4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        clean_foot_contacts(j, np.zeros((10, 4), bool))
    assert np.array_equal(clean_foot_contacts(np.ones((5, 22, 3)), np.zeros((5, 4), bool)), np.ones((5, 22, 3)))


def test_the_light_filter_removes_jitter_and_keeps_the_motion(real_samples):
    from motiongen.evaluate.quality import motion_quality
    feats = real_samples["012314"][0]
    joints = recover_joints_from_features(feats)
    shaky = joints + np.random.default_rng(0).normal(0, 0.01, joints.shape)
    cleaned = clean_foot_contacts(shaky, np.zeros((len(joints), 4), bool))
    q_shaky, q_clean, q_real = motion_quality(shaky), motion_quality(cleaned), motion_quality(joints)
    excess = lambda q: q["high_freq"] - q_real["high_freq"]               # power above 4 Hz beyond the real clip's
    assert excess(q_clean) < 0.3 * excess(q_shaky) and q_clean["jerk"] < 0.3 * q_shaky["jerk"]
    assert np.abs(cleaned - joints).mean() < 0.02                           # the motion itself stays (2 cm)
    assert q_clean["drift"] == pytest.approx(q_real["drift"], abs=0.05)
