"""Control: continuation (prefix), key poses, paths, long motion by windows; their inputs and errors."""
import json

import numpy as np
import pytest
import torch

from motiongen.control import (
    ControlError,
    KeyPose,
    MotionControl,
    finalize_control,
    heading_of_pose,
    load_keyframes,
    load_prefix,
    load_trajectory,
    place_joints,
    plan_windows,
    project_features,
    text_sets_facing,
)
from motiongen.models.registry import build_denoiser
from motiongen.motion.features import recover_joints_from_features
from motiongen.pipeline import MotionPipeline
from motiongen.text.encoders import load_text_encoder

from conftest import BVH_DIR, HUMANML3D_DIR, needs_shared

TINY = {"latent_dim": 32, "num_layers": 2, "num_heads": 2, "ff_dim": 64, "max_frames": 120}


def _stats():
    if (HUMANML3D_DIR / "Mean.npy").is_file():
        return np.load(HUMANML3D_DIR / "Mean.npy"), np.load(HUMANML3D_DIR / "Std.npy")
    return np.zeros(263, np.float32), np.ones(263, np.float32)


@pytest.fixture(scope="module")
def pipe():
    torch.manual_seed(0)
    mean, std = _stats()
    return MotionPipeline(build_denoiser("baseline", **TINY), load_text_encoder("minilm"), mean, std,
                          {"skeleton": "humanml3d"})


def _walk(real_samples):
    feats, _ = real_samples["000000"]
    return feats.astype(np.float32)


# ---- inputs --------------------------------------------------------------------------------------------------

def test_trajectory_from_json_csv_and_times(tmp_path):
    p = tmp_path / "path.json"
    p.write_text(json.dumps({"points": [[0, 0], [0, 2], [2, 2]]}))
    path = load_trajectory(p, 4.0)
    assert path.shape == (80, 2)
    np.testing.assert_allclose(path[0], [0, 0])
    # constant speed: half the time at the corner
    np.testing.assert_allclose(path[40], [0, 2], atol=0.06)
    c = tmp_path / "path.csv"
    c.write_text("x,z,t\n0,0,0\n1,0,1\n1,1,3\n")
    path = load_trajectory(c, 4.0)
    np.testing.assert_allclose(path[20], [1, 0], atol=1e-9)
    np.testing.assert_allclose(path[-1], [1, 1])          # held after the last time


@pytest.mark.parametrize("text", ["x,z,t\n0,0,0\n1,0,1\n1,1,3\n", "t,x,z\n0,0,0\n1,1,0\n3,1,1\n",
                                  "z, T ,X\n0,0,0\n0,1,1\n1,3,1\n", "0,0,0\n1,0,1\n1,1,3\n"])
def test_trajectory_csv_columns_follow_the_header_in_any_order(tmp_path, text):
    """The same path in four spellings: headers in any order (names, not positions), and a headerless file
    read as x, z, t."""
    c = tmp_path / "path.csv"
    c.write_text(text)
    path = load_trajectory(c, 4.0)
    np.testing.assert_allclose(path[20], [1, 0], atol=1e-9)
    np.testing.assert_allclose(path[-1], [1, 1])
    np.testing.assert_allclose(path[40], [1, 0.5], atol=1e-9)


@pytest.mark.parametrize("text,match", [
    ("x,y,t\n0,0,0\n1,1,1\n", "unknown column 'y'.*x, z and optionally t"),
    ("time,x,z\n0,0,0\n1,1,1\n", "unknown column 'time'"),
    ("x,x,z\n0,0,0\n1,1,1\n", "names a column twice"),
    ("x,t\n0,0\n1,1\n", "must name the columns x and z"),
    ("t,x,z\n0,0\n1,1,1\n", "row 1 has 2 values; the header names 3"),
])
def test_trajectory_csv_refuses_headers_it_does_not_know(tmp_path, text, match):
    c = tmp_path / "path.csv"
    c.write_text(text)
    with pytest.raises(ControlError, match=match):
        load_trajectory(c, 4.0)


@pytest.mark.parametrize("content,match", [
    ({"points": [[0, 0]]}, "at least 2 points"),
    ({"points": [[0, 0], [1, float("nan")]]}, "finite number"),
    ({"points": [[0, 0], [1, 1]], "times": [0, 9]}, "outside the motion"),
    ({"points": [[0, 0], [1, 1]], "times": [1, 1]}, "times must increase"),
    ({"points": [[0, 0], [0, 0]]}, "all points are the same"),
    ({"points": [[0, 0], [1, 2, 3]]}, "all alike"),
])
def test_bad_trajectories_name_the_problem(tmp_path, content, match):
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(content))            # json writes float("nan") as NaN, which it reads back
    with pytest.raises(ControlError, match=match):
        load_trajectory(p, 4.0)


@needs_shared
def test_keyframes_from_written_joints_and_from_a_file(tmp_path, real_samples):
    feats, _ = real_samples["000000"]
    joints = recover_joints_from_features(feats)
    np.save(tmp_path / "src.npy", joints.astype(np.float32))
    kf = tmp_path / "keys.json"
    kf.write_text(json.dumps({"keyframes": [
        {"time": 1.0, "joints": joints[10].tolist()},
        {"time": 3.0, "file": "src.npy", "frame": 30, "root": [1.0, 2.0]}]}))
    keys = load_keyframes(kf, 4.0)
    assert [k.frame for k in keys] == [20, 60]
    np.testing.assert_allclose(keys[0].joints, joints[10])
    np.testing.assert_allclose(keys[1].joints[0, [0, 2]], [1.0, 2.0])


@pytest.mark.parametrize("entry,match", [
    ({"time": 9.0, "joints": np.zeros((22, 3)).tolist()}, "outside the motion"),
    ({"time": 1.0, "joints": np.zeros((21, 3)).tolist()}, r"expected shape \(22, 3\)"),
    ({"joints": np.zeros((22, 3)).tolist()}, "time: missing"),
    ({"time": 1.0}, "give 'joints' or 'file'"),
    ({"time": 1.0, "file": "missing.bvh", "frame": 0}, "file not found"),
])
def test_bad_keyframes_name_the_entry_and_field(tmp_path, entry, match):
    p = tmp_path / "k.json"
    p.write_text(json.dumps([entry]))
    with pytest.raises(ControlError, match=match):
        load_keyframes(p, 4.0)


def test_nan_key_pose_is_refused(tmp_path):
    p = tmp_path / "k.json"
    pose = np.zeros((22, 3)).tolist()
    pose[3][1] = float("nan")
    p.write_text(json.dumps([{"time": 1.0, "joints": pose}]))
    with pytest.raises(ControlError, match="NaN"):
        load_keyframes(p, 4.0)


@needs_shared
def test_prefix_from_bvh_joints_features_and_output_folder(tmp_path, real_samples):
    bvh = BVH_DIR / "cmu" / "02_01.bvh"
    f_bvh = load_prefix(bvh)
    assert f_bvh.ndim == 2 and f_bvh.shape[1] == 263 and len(f_bvh) > 20 and np.isfinite(f_bvh).all()
    feats, joints = real_samples["000000"]
    np.save(tmp_path / "j.npy", joints)
    f_j = load_prefix(tmp_path / "j.npy")
    assert f_j.shape == (len(joints), 263)
    np.save(tmp_path / "f.npy", feats)
    np.testing.assert_array_equal(load_prefix(tmp_path / "f.npy"), feats.astype(np.float32))
    out = tmp_path / "out"
    out.mkdir()
    np.save(out / "motion.npy", feats)
    np.testing.assert_array_equal(load_prefix(out), feats.astype(np.float32))


def test_a_prefix_keeps_every_frame_of_its_motion(tmp_path):
    """examples/clip.bvh is 60 frames at 20 fps: the prefix is 60 frames (HumanML3D features of T joints are T-1
    frames; the reader or resampler must not drop one either), and they decode back to the clip's joints."""
    from motiongen.convert import load_motion
    from pathlib import Path

    from motiongen.motion.features import joints_to_features
    clip = Path(__file__).resolve().parents[1] / "examples" / "clip.bvh"
    joints = load_motion(str(clip)).joints
    assert joints.shape == (60, 22, 3)
    feats = load_prefix(clip)
    assert feats.shape == (60, 263)
    np.save(tmp_path / "j.npy", joints)
    assert load_prefix(tmp_path / "j.npy").shape == (60, 263)
    _, processed = joints_to_features(joints)          # the clip as the features see it (floor, facing +Z)
    back = recover_joints_from_features(feats)
    assert np.abs(back - processed).max() < 1e-3


def test_bad_prefixes_are_clear_errors(tmp_path):
    rig = tmp_path / "odd.bvh"
    rig.write_text("HIERARCHY\nROOT Foo\n{\n  OFFSET 0 0 0\n  CHANNELS 6 Xposition Yposition Zposition Zrotation "
                   "Xrotation Yrotation\n  JOINT Bar\n  {\n    OFFSET 0 1 0\n    CHANNELS 3 Zrotation Xrotation "
                   "Yrotation\n    End Site\n    {\n      OFFSET 0 1 0\n    }\n  }\n}\nMOTION\nFrames: 3\n"
                   "Frame Time: 0.05\n" + "0 0 0 0 0 0 0 0 0\n" * 3)
    with pytest.raises(ControlError, match="--prefix"):
        load_prefix(rig)
    bad = tmp_path / "nan.npy"
    arr = np.zeros((10, 263), np.float32)
    arr[4, 7] = np.nan
    np.save(bad, arr)
    with pytest.raises(ControlError, match="NaN"):
        load_prefix(bad)
    np.save(tmp_path / "shape.npy", np.zeros((10, 5)))
    with pytest.raises(ControlError, match="expected joints"):
        load_prefix(tmp_path / "shape.npy")
    with pytest.raises(ControlError, match="not found"):
        load_prefix(tmp_path / "missing.bvh")
    (tmp_path / "folder").mkdir()
    with pytest.raises(ControlError, match="without motion.npy"):
        load_prefix(tmp_path / "folder")


def test_text_that_sets_facing():
    assert text_sets_facing("a person walks backwards in a circle")
    assert text_sets_facing("someone side steps to the left")
    assert not text_sets_facing("a person walks forward and turns")


# ---- the projection ------------------------------------------------------------------------------------------

@needs_shared
def test_projection_meets_key_poses_and_leaves_the_prefix_alone(real_samples):
    f = _walk(real_samples)
    joints = recover_joints_from_features(f)
    # key poses taken from the same motion, moved and turned: the projection must put them there exactly
    from motiongen.control import _yaw_matrix
    R = _yaw_matrix(0.6)
    k1 = (joints[40] - joints[40, 0] * [1, 0, 1]) @ R.T + [0.5, 0, 1.5]
    k2 = (joints[90] - joints[90, 0] * [1, 0, 1]) @ _yaw_matrix(-0.4).T + [-1.0, 0, 3.0]
    ctl = MotionControl(prefix=f[:10], keyposes=[KeyPose(40, k1), KeyPose(90, k2)])
    out = project_features(torch.as_tensor(f), ctl).numpy()
    got = recover_joints_from_features(out)
    assert np.abs(got[40] - k1).max() < 1e-4 and np.abs(got[90] - k2).max() < 1e-4
    np.testing.assert_array_equal(out[:9], f[:9])          # prefix frames (velocities into frame 10 too)
    assert abs(heading_of_pose(got[40]) - heading_of_pose(k1)) < 0.05


@needs_shared
def test_projection_follows_a_path_and_turns_the_body_along_it(real_samples):
    f = _walk(real_samples)[:100]
    T = len(f)
    t = np.linspace(0, 1, T)
    path = np.stack([2 * np.sin(t * np.pi / 2), 2 * (1 - np.cos(t * np.pi / 2))], 1) * 1.5
    ctl = finalize_control(MotionControl(trajectory=path), "a person walks", T)
    out = project_features(torch.as_tensor(f), ctl).numpy()
    got = place_joints(recover_joints_from_features(out), ctl.placement)
    err = np.linalg.norm(got[:, 0, [0, 2]] - path, axis=1)
    assert err.mean() < 1e-3
    # the body faces along the path where it moves
    tangent = np.gradient(path, axis=0)
    yaw_path = np.arctan2(tangent[:, 0], tangent[:, 1])
    yaw_body = np.array([heading_of_pose(j) for j in got])
    diff = np.angle(np.exp(1j * (yaw_body - yaw_path)))[10:-10]
    assert np.median(np.abs(diff)) < 0.35


def test_windows_cover_the_motion_overlap_and_end_on_stage_boundaries():
    stages = [100] * 12
    wins = plan_windows(stages, 196, 20)
    assert wins[0][0] == 0 and wins[-1][1] == 1200
    for (_, b0), (a1, b1) in zip(wins, wins[1:]):
        assert b1 - a1 <= 196 and a1 < b0 and b0 - a1 >= 20
    bounds = set(np.cumsum(stages))
    assert all(b in bounds for _, b in wins)
    assert plan_windows([50, 50], 196, 20) == [(0, 100)]
    long_stage = plan_windows([1000], 196, 20)
    assert long_stage[-1][1] == 1000 and all(b - a <= 196 for a, b in long_stage)
    assert min(b - a for a, b in long_stage) >= 98             # no stub window at the end
    with pytest.raises(ControlError, match="overlap"):
        plan_windows([500], 100, 60)


# ---- through the pipeline (a tiny random model: only the mechanics are checked) --------------------------------

@needs_shared
def test_generate_with_key_poses_meets_them_within_2cm(pipe, real_samples):
    joints = recover_joints_from_features(_walk(real_samples))
    keys = [KeyPose(0, joints[0]), KeyPose(30, joints[30]), KeyPose(59, joints[59])]
    [m] = pipe.generate("a person walks", 3.0, steps=5, sampler="ddim", control=MotionControl(keyposes=keys))
    for kp, rep in zip(keys, m.meta["control"]["keyframes"]):
        err = np.linalg.norm(m.joints[kp.frame] - kp.joints, axis=-1).mean()
        assert err < 0.02 and abs(rep["mean_joint_error_m"] - err) < 1e-4


def test_generate_along_a_path_reports_the_error(pipe):
    T = 60
    path = np.stack([np.linspace(0, 3, T), np.linspace(0, 1, T)], 1)
    [m] = pipe.generate("a person walks", 3.0, steps=5, sampler="ddim", control=MotionControl(trajectory=path))
    err = np.linalg.norm(m.joints[:, 0, [0, 2]] - path, axis=1).mean()
    assert err < 0.10
    assert abs(m.meta["control"]["trajectory"]["mean_error_m"] - err) < 1e-4


def test_key_pose_outside_the_motion_is_a_clear_error(pipe):
    with pytest.raises(ControlError, match="outside the motion"):
        pipe.generate("a person walks", 2.0, steps=2, control=MotionControl(keyposes=[KeyPose(70, np.zeros((22, 3)))]))


@needs_shared
def test_continuation_keeps_the_prefix_and_long_motion_joins_windows(pipe, real_samples):
    prefix = _walk(real_samples)[:90]
    [m] = pipe.generate_long("a person runs", prefix=prefix, prefix_seconds=2.0, seconds=3.0, steps=4)
    assert m.num_frames == 90 + 60
    np.testing.assert_allclose(m.features[:90], prefix, atol=1e-5)
    # the joints continue from the prefix's last pose without a jump in position
    ref = recover_joints_from_features(prefix)
    np.testing.assert_allclose(m.joints[:80], ref[:80], atol=0.1)       # (export cleanup filters lightly)
    # 4 stages of 2 s with a 6 s window: several windows, joined without a jump of the root
    stages = [("a person walks", 2.0), ("a person jumps", 2.0), ("a person sits", 2.0), ("a person waves", 2.0)]
    [lm] = pipe.generate_long(stages, steps=4, overlap_seconds=1.0, cleanup=False)
    assert lm.num_frames == 160 and len(lm.meta["long_motion"]["windows"]) >= 2
    step = np.linalg.norm(np.diff(lm.joints[:, 0, [0, 2]], axis=0), axis=1)
    assert step.max() < 0.5


def test_window_joins_are_eased_like_stage_boundaries(pipe, monkeypatch):
    """Each window tells the sampler where it joins its neighbours (cond.transitions): its start, and the end that
    the next window will rewrite. With the transition easing on, the joins are calmer."""
    from motiongen.diffusion import gaussian
    seen = []
    real = gaussian.GaussianDiffusion.predict_x0

    def spy(self, denoiser, x_t, t, cond, mask):
        seen.append((int(mask[0].sum()), None if cond.transitions is None else cond.transitions[0].tolist()))
        return real(self, denoiser, x_t, t, cond, mask)
    monkeypatch.setattr(gaussian.GaussianDiffusion, "predict_x0", spy)
    monkeypatch.setattr(pipe.diffusion, "x0_lowpass_hz", 4.0)
    stages = [("a person walks", 2.0), ("a person jumps", 2.0), ("a person sits", 2.0)] * 2

    def join_jerk(hz):
        monkeypatch.setattr(pipe.diffusion, "transition_lowpass_hz", hz)
        seen.clear()
        [m] = pipe.generate_long(stages, steps=4, overlap_seconds=1.0, cleanup=False, seed=3)
        windows = m.meta["long_motion"]["windows"]
        jerk = np.linalg.norm(np.diff(m.features[:, 4:67], n=3, axis=0), axis=-1)
        joins = [int(a) + 18 for a, _ in windows[1:]]             # held 20 frames; eased around frame 18
        return max(jerk[j - 8:j + 6].max() for j in joins), windows
    eased, windows = join_jerk(3.0)
    assert len(windows) == 6                                      # one sentence a window: a window per stage
    calls = sorted({(n, tuple(tr)) for n, tr in seen})            # one entry per window (4 steps each)
    lengths = [b - a for a, b in windows]
    expected = sorted({(lengths[0], (lengths[0] - 2,)), *((n, (18, n - 2)) for n in lengths[1:-1]),
                       (lengths[-1], (18,))})
    assert calls == expected
    plain, _ = join_jerk(0.0)
    assert eased < 0.8 * plain


def test_stage_windows_give_every_stage_its_own_windows():
    from motiongen.control import stage_windows
    wins = stage_windows([40] * 10, 196, 20)
    assert wins == [(0, 40)] + [(40 * k - 20, 40 * k + 40) for k in range(1, 10)]
    long = stage_windows([400], 196, 20)                          # a stage longer than a window: split, no stub
    assert long[0] == (0, 196) and long[-1][1] == 400 and all(b - a >= 98 for a, b in long)
    assert all(long[i + 1][0] == long[i][1] - 20 for i in range(len(long) - 1))
    assert stage_windows([40, 10], 196, 20, context=60) == [(0, 100), (80, 110)]   # the prefix held in full
    with pytest.raises(ControlError, match="overlap"):
        stage_windows([40], 100, 60)


def test_long_motion_without_plans_generates_every_stage_in_its_own_span(pipe, monkeypatch):
    """Ten 2-s stages on a model that reads one sentence a window: ten windows, each sampled with its own stage's
    sentence over that stage's frames (before, 3 windows took 3 of the 10 sentences)."""
    seen = []
    real = pipe.generate

    def spy(prompts, *a, **kw):
        p = prompts if not isinstance(prompts, list) else prompts[0]
        seen.append((p.text, p.frames or int(round(p.seconds * 20))))
        return real(prompts, *a, **kw)
    monkeypatch.setattr(pipe, "generate", spy)
    stages = [(f"a person does thing {k}", 2.0) for k in range(10)]
    [m] = pipe.generate_long(stages, steps=2, cleanup=False)
    lm = m.meta["long_motion"]
    assert m.num_frames == 400 and lm["window_texts"] == [t for t, _ in stages]
    assert [t for t, _ in seen] == [t for t, _ in stages]
    for k, (a, b) in enumerate(lm["windows"]):
        assert b == 40 * (k + 1) and a <= 40 * k                   # the window ends where its stage ends
    from motiongen.pipeline import GenerationError
    from motiongen.plan import Plan
    gappy = Plan.from_dict({"stages": [{"text": "a", "frames": [0, 100]}, {"text": "b", "frames": [150, 300]}]})
    with pytest.raises(GenerationError, match="gaps between its stages"):
        pipe.generate_long(gappy, steps=2)


def test_prompt_transitions_must_be_frames_of_the_motion(pipe):
    from motiongen.pipeline import GenerationError, Prompt
    with pytest.raises(GenerationError, match="prompt 1: transitions must be frames within"):
        pipe.generate(Prompt("a person walks", 2.0, transitions=(45,)), steps=2)
    with pytest.raises(GenerationError, match="transitions must be frame numbers"):
        pipe.generate(Prompt("a person walks", 2.0, transitions=("x",)), steps=2)


def test_long_motion_bad_input(pipe):
    from motiongen.pipeline import GenerationError
    with pytest.raises(GenerationError, match="stages"):
        pipe.generate_long([("walk", "long")])
    with pytest.raises(GenerationError, match="overlap_seconds"):
        pipe.generate_long([("walk", 4.0)] * 5, overlap_seconds=0.0)


@needs_shared
def test_cli_control_modes_end_to_end(tmp_path, real_samples, capsys):
    from motiongen.cli import main
    mdir = tmp_path / "tiny"
    torch.manual_seed(0)
    mean, std = _stats()
    MotionPipeline(build_denoiser("baseline", **TINY), load_text_encoder("minilm"), mean, std,
                   {"skeleton": "humanml3d"}).save_pretrained(mdir)
    common = ["--model", str(mdir), "--steps", "3", "--preview", "none", "--quiet"]
    assert main(["generate", "a person walks", "--prefix", str(BVH_DIR / "cmu" / "02_01.bvh"),
                 "--prefix-seconds", "1", "--seconds", "2", "--out", str(tmp_path / "cont"), *common]) == 0
    meta = json.loads((tmp_path / "cont" / "meta.json").read_text())
    assert meta["long_motion"]["prefix_frames"] > 0
    path = tmp_path / "p.csv"
    path.write_text("x,z\n0,0\n1,1\n2,1\n")
    assert main(["generate", "a person walks", "--trajectory", str(path), "--seconds", "3",
                 "--out", str(tmp_path / "path"), *common]) == 0
    assert "path: mean horizontal error" in capsys.readouterr().out
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a person walks#3\na person jumps#3\na person waves#3\n")
    assert main(["generate", "--prompts", str(prompts), "--concat", "--out", str(tmp_path / "long"), *common]) == 0
    j = np.load(tmp_path / "long" / "joints.npy")
    assert j.shape == (180, 22, 3)
    one = tmp_path / "one.json"
    one.write_text(json.dumps({"points": [[0, 0]]}))
    assert main(["generate", "a person walks", "--trajectory", str(one), "--out", str(tmp_path / "x"),
                 *common]) == 2
    assert "at least 2 points" in capsys.readouterr().err
