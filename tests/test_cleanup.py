import numpy as np
import pytest

from motiongen.evaluate.physical import foot_metrics, leg_high_freq_share, physical_metrics, skating_ratio_gmd
from motiongen.motion.cleanup import contacts_from_features, detect_contacts, leg_chains, lock_weights, plant_feet
from motiongen.motion.features import recover_joints_from_features
from motiongen.skeleton import HUMANML3D

FEET = list(HUMANML3D.left_foot_index) + list(HUMANML3D.right_foot_index)


def _skating_copy(joints, scale=0.01, seed=0):
    """A real motion whose feet wander while planted (a random walk added to ankles and toes)."""
    out = joints.copy()
    drift = np.cumsum(np.random.default_rng(seed).normal(0, scale, (len(joints), 1, 3)), axis=0)
    drift[..., 1] = 0
    out[:, FEET] += drift
    return out


def test_leg_chains_are_hip_knee_ankle_toe():
    names = HUMANML3D.joint_names
    (lh, lk, la, lt), (rh, rk, ra, rt) = leg_chains()
    assert [names[i] for i in (lh, lk, la, lt)] == ["left_hip", "left_knee", "left_ankle", "left_foot"]
    assert [names[i] for i in (rh, rk, ra, rt)] == ["right_hip", "right_knee", "right_ankle", "right_foot"]


def test_lock_weights_ease_without_steps_and_never_sum_past_one():
    flags = np.zeros(60, bool)
    flags[10:20] = flags[23:35] = flags[50:60] = True
    runs = lock_weights(flags, ease=4)
    assert [(a, b) for a, b, _ in runs] == [(10, 20), (23, 35), (50, 60)]
    total = sum(w for _, _, w in runs)
    assert total.max() <= 1.0 + 1e-12 and (total[flags] == 1.0).all()
    _, _, w = runs[0]
    assert 0 < w[9] < 1 and 0 < w[6] < w[7] < w[8] < w[9]          # eases in over 4 frames before the run ...
    assert w[5] == 0 and np.abs(np.diff(w)).max() < 0.5               # ... with no step anywhere
    assert 0 < runs[2][2][46] < runs[2][2][49] < 1                    # the last run eases in too


def test_contacts_come_from_height_and_speed_with_hysteresis():
    T = 60
    j = np.zeros((T, 22, 3))
    j[:, :, 1] = 0.5
    x = np.concatenate([np.zeros(20), np.linspace(0, 2.0, 20), np.full(20, 2.0)])     # stands, steps, stands
    y = np.concatenate([np.zeros(20), 0.25 * np.sin(np.linspace(0, np.pi, 20)), np.zeros(20)])
    for k in FEET:
        j[:, k, 0], j[:, k, 1] = x, y
    c = detect_contacts(j)
    assert c[:18].all() and c[43:].all() and not c[25:35].any()
    # the hint starts a contact where the keep-bar holds but the start-bar does not
    slow = j.copy()
    for k in FEET:
        slow[:, k, 0] = np.cumsum(np.full(T, 0.5 / 20))            # 0.5 m/s: above start (0.35), below keep (0.6)
        slow[:, k, 1] = 0.0
    assert not detect_contacts(slow).any()
    assert detect_contacts(slow, hint=np.ones((T, 4), bool)).all()


@pytest.mark.parametrize("sid", ["000000", "009548", "012314"])
def test_foot_pass_plants_skating_feet_keeps_bones_and_knee_direction(real_samples, sid):
    feats = real_samples[sid][0]
    joints = recover_joints_from_features(feats).astype(np.float64)
    skating = _skating_copy(joints)
    contacts = contacts_from_features(feats)
    out = plant_feet(skating, contacts=contacts)
    before, after = physical_metrics(skating)["foot_skating"], physical_metrics(out)["foot_skating"]
    if sid != "012314":       # (in 012314 low swinging feet, not planted ones, make most of the ratio: 0.10 real)
        assert after < 0.7 * before, (before, after)
    assert after < before
    # a planted ankle does not move inside its contact (away from the eased ends), unless out of the leg's reach
    la = HUMANML3D.left_foot_index[0]
    on = contacts[:, 0]
    inner = on & np.roll(on, 4) & np.roll(on, -4)
    inner[:4] = inner[-4:] = False
    steps = np.linalg.norm(np.diff(out[:, la], axis=0), axis=-1)
    held = steps[inner[1:] & inner[:-1]]
    assert np.median(held) < 2e-3
    for hip, knee, ankle, toe in leg_chains():
        for a, b in ((hip, knee), (knee, ankle), (ankle, toe)):
            length = np.linalg.norm(out[:, b] - out[:, a], axis=-1)
            assert length.std() / length.mean() < 1e-4
        # the knee bends towards where the original knee was (its own pole), never flipping to the other side
        u = out[:, ankle] - out[:, hip]
        u /= np.linalg.norm(u, axis=-1, keepdims=True)

        def bend(knee_pos, hip_pos):
            v = knee_pos - hip_pos
            return v - (v * u).sum(-1, keepdims=True) * u
        lift = (out[:, 0, 1] - skating[:, 0, 1])[:, None] * np.array([0.0, 1.0, 0.0])      # the body's height
        want, got = bend(skating[:, knee] + lift, out[:, hip]), bend(out[:, knee], out[:, hip])
        clear = np.linalg.norm(want, axis=-1) > 0.02                # frames where the original knee is clearly bent
        cos = (want * got).sum(-1) / np.maximum(np.linalg.norm(want, axis=-1) * np.linalg.norm(got, axis=-1), 1e-9)
        assert clear.sum() > 10 and cos[clear].min() > 0.999
    # apart from the body's height, only knees, ankles and toes move
    legs = {k for chain in leg_chains() for k in chain[1:]}
    rest = [i for i in range(22) if i not in legs]
    lift = out[:, :1, 1] - skating[:, :1, 1]
    np.testing.assert_allclose(out[:, rest, 1] - skating[:, rest, 1], np.repeat(lift, len(rest), 1), atol=1e-9)
    np.testing.assert_allclose(out[:, rest][..., [0, 2]], skating[:, rest][..., [0, 2]], atol=1e-12)


def test_no_foot_through_the_floor_and_the_root_moves_smoothly(real_samples):
    feats = real_samples["012314"][0]
    joints = recover_joints_from_features(feats)
    sunk = joints.copy()
    sunk[:, :, 1] -= 0.04 * np.clip(np.sin(np.linspace(0, 3 * np.pi, len(joints))), 0, None)[:, None]  # dips
    assert sunk[..., 1].min() < -0.03
    out = plant_feet(sunk, contacts_from_features(feats))
    assert out[..., 1].min() > -1e-6                                       # nothing below the floor
    lift = out[:, 0, 1] - sunk[:, 0, 1]
    assert np.abs(np.diff(lift, 2)).max() < 0.01                            # raised smoothly (< 1 cm/frame^2)
    assert lift.max() < 0.05                                                # ... and no more than needed (4 cm)


def test_foot_pass_adds_no_high_frequency_power_on_real_clips(real_samples):
    for sid in ("000000", "009548", "012314", "007005"):
        feats = real_samples[sid][0]
        joints = recover_joints_from_features(feats)
        out = plant_feet(joints, contacts_from_features(feats))
        assert leg_high_freq_share(out) <= leg_high_freq_share(joints) + 0.005, sid
        assert np.linalg.norm(out - joints, axis=-1).mean() < 0.02     # a real motion needs little (2 cm)


def test_foot_pass_rejects_bad_input():
    j = np.zeros((10, 22, 3))
    with pytest.raises(ValueError, match="hint"):
        plant_feet(j, np.zeros((9, 4), bool))
    j[3, 4, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        plant_feet(j)
    with pytest.raises(ValueError, match="joints"):
        plant_feet(np.zeros((10, 21, 3)))


def test_export_applies_the_pass_and_no_cleanup_turns_it_off(tmp_path):
    from motiongen.pipeline import MotionPipeline
    pipe = MotionPipeline.from_pretrained(None)
    [m] = pipe.generate("a person walks forward", 2.0, seed=0, steps=4, literal=True)
    [raw] = pipe.generate("a person walks forward", 2.0, seed=0, steps=4, literal=True, cleanup=False)
    np.testing.assert_array_equal(m.features, raw.features)
    expected, _ = pipe.joints_for(m.features, cleanup=True)
    np.testing.assert_allclose(m.joints, expected)
    assert not np.allclose(m.joints, raw.joints)
    assert m.meta["foot_cleanup"] is True and raw.meta["foot_cleanup"] is False
    assert m.joints[..., 1].min() > -1e-6


# ---- the physical metrics -------------------------------------------------------------------------------------
def test_gmd_skating_ratio_counts_low_fast_toes():
    T = 41
    j = np.zeros((T, 22, 3))
    j[:, :, 1] = 0.5
    toe = HUMANML3D.left_foot_index[1]
    j[:, toe, 1] = 0.01
    j[:, HUMANML3D.right_foot_index[1], 1] = 0.3                  # the other toe is in the air
    j[:, toe, 0] = np.arange(T) * (1.0 / 20)                       # 1 m/s along the floor: skating everywhere
    ratio, speed = skating_ratio_gmd(j)
    assert ratio > 0.9 and speed == pytest.approx(1.0, abs=0.15)   # (the window's ends average in zeros)
    j[:, toe, 0] = np.arange(T) * (0.3 / 20)                       # 0.3 m/s: below 0.5 m/s, no skating
    assert skating_ratio_gmd(j)[0] == 0.0
    j[:, toe, 0] = np.arange(T) * (1.0 / 20)
    j[:, toe, 1] = 0.08                                            # fast but above 5 cm: not in contact
    assert skating_ratio_gmd(j) == (0.0, 0.0)
    j[:, toe, 1] = 0.01
    assert physical_metrics(j)["foot_skating_gmd"] == skating_ratio_gmd(j)[0] > 0.9      # also in evaluate's set


def test_leg_high_freq_share_sees_shaking_legs(real_samples):
    joints = recover_joints_from_features(real_samples["012314"][0])
    base = leg_high_freq_share(joints)
    shaky = joints.copy()
    shaky[:, FEET] += np.random.default_rng(0).normal(0, 0.03, (len(joints), 4, 3))
    assert base < 0.05 and leg_high_freq_share(shaky) > 2 * base


def test_foot_metrics_report_penetration_and_toe_acceleration(real_samples):
    joints = recover_joints_from_features(real_samples["000000"][0])
    m = foot_metrics(joints)
    assert m["penetration_cm"] == pytest.approx(0.0, abs=0.05)
    sunk = joints.copy()
    sunk[:, :, 1] -= 0.03
    assert foot_metrics(sunk)["penetration_cm"] == pytest.approx(3.0 + m["penetration_cm"], abs=0.05)
    jumpy = joints.copy()
    jumpy[30:, HUMANML3D.left_foot_index[1], 0] += 0.2             # a 20 cm pop of one toe: 80 m/s^2 at 20 fps
    jm = foot_metrics(jumpy)
    assert jm["toe_acc_peak"] > m["toe_acc_peak"] + 20 and jm["foot_jump_cm"] >= 20
    assert 0 <= m["feet_low_share"] <= 1 and 0 <= m["airborne_share"] <= 1
