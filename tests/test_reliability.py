"""Bad input of every kind gives one clear error naming the file or field -- never a traceback, a hang, a
memory blow-up, a NaN written with exit 0, or a lost file (the fuzzing issue's findings, one test each)."""
import json

import numpy as np
import pytest

from motiongen.motion.bvh import BVHError, parse_bvh, read_bvh

from test_bvh import GOOD  # noqa: E402  (a two-joint file with an End Site, two frames)


def _swap(old, new):
    assert old in GOOD
    return GOOD.replace(old, new, 1)


@pytest.mark.parametrize("text,match", [
    (_swap("Frames: 2", "Frames: 0"), "holds no motion"),
    (_swap("Frame Time: 0.05", "Frame Time: 1e999"), "Frame Time must be a positive number"),
    (_swap("Frame Time: 0.05", "Frame Time: 3600"), "Frame Time is likely wrong"),     # 2 h of 2 frames
    (_swap("Frames: 2", "Frames: 99999999999"), "header is corrupt"),
    (_swap("    End Site\n    {\n      OFFSET 0 10 0\n", "    End Site\n    {\n      CHANNELS 1 Xrotation\n"),
     "CHANNELS inside an End Site"),
    (_swap("    End Site\n    {\n", "    End Site\n    {\n      JOINT Bad\n      {\n      }\n"), "inside an End Site"),
    (_swap("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Zrotation Zrotation Yrotation"), "listed twice"),
    (_swap("ROOT Hips\n{", "OFFSET 1 2 3\nROOT Hips\n{"), "OFFSET outside"),
    (_swap("ROOT Hips\n{", "CHANNELS 1 Xrotation\nROOT Hips\n{"), "CHANNELS outside"),
    (_swap("CHANNELS 3 Zrotation", "CHANNELS 99999999 Zrotation"), "count must be"),
])
def test_malformed_bvh_gives_one_clear_error(text, match):
    with pytest.raises(BVHError, match=match):
        parse_bvh(text, "x.bvh")


def test_well_formed_bvh_still_parses():
    bvh = parse_bvh(GOOD, "x.bvh")
    assert bvh.num_frames == 2 and bvh.joint_names == ["Hips", "Spine"]


def test_corrupt_zip_and_directory_inputs(tmp_path):
    z = tmp_path / "a.zip"
    z.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    with pytest.raises((BVHError, FileNotFoundError)):
        read_bvh(f"{z}::x.bvh")
    d = tmp_path / "dir.bvh"
    d.mkdir()
    with pytest.raises(BVHError, match="directory"):
        read_bvh(d)


def test_resampling_is_capped_before_allocating():
    from motiongen.motion.retarget import resample
    with pytest.raises(ValueError, match="fps"):
        resample(np.zeros((10, 22, 3)), 20.0, 1e6)
    with pytest.raises(ValueError, match="more than"):
        resample(np.zeros((1000, 22, 3)), 0.001, 1000.0)


@pytest.mark.parametrize("field,value,match", [
    ("latent_dim", 30000, "billion|B parameters"), ("num_layers", 10 ** 9, "num_layers"),
    ("num_heads", 3, "divisible"), ("latent_dim", -8, "latent_dim"), ("dropout", 2.0, "dropout"),
    ("num_layers", "four", "expected a number"), ("latent_dim", 1.5, "integer"),
])
def test_model_folders_are_checked_before_anything_is_built(tmp_path, field, value, match):
    from motiongen.models.pretrained import ModelFileError, load_model_dir, save_model_dir
    from motiongen.models.registry import build_denoiser
    m = build_denoiser("baseline", latent_dim=16, num_layers=1, num_heads=2, ff_dim=16)
    save_model_dir(tmp_path / "m", m, np.zeros(263), np.ones(263), {"text_encoder": {"name": "minilm", "dim": 384}})
    cfg = json.loads((tmp_path / "m" / "config.json").read_text())
    cfg["model"][field] = value
    (tmp_path / "m" / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match=match):
        load_model_dir(tmp_path / "m")


def test_nan_statistics_in_a_model_folder_are_refused(tmp_path):
    from motiongen.models.pretrained import ModelFileError, load_model_dir, save_model_dir
    from motiongen.models.registry import build_denoiser
    m = build_denoiser("baseline", latent_dim=16, num_layers=1, num_heads=2, ff_dim=16)
    std = np.ones(263)
    std[5] = np.nan
    save_model_dir(tmp_path / "m", m, np.zeros(263), std, {"text_encoder": {"name": "minilm", "dim": 384}})
    with pytest.raises(ModelFileError, match="std.npy.*NaN"):
        load_model_dir(tmp_path / "m")


@pytest.mark.parametrize("seconds", [1e308, float("inf"), 1e20])
def test_absurd_durations_are_clear_errors(seconds):
    from motiongen.pipeline import GenerationError, frames_for_seconds
    with pytest.raises(GenerationError, match="seconds"):
        frames_for_seconds(seconds, 196)


def test_plans_refuse_absurd_sizes_and_deep_nesting(tmp_path):
    from motiongen.plan import Plan, PlanError, load_plan
    with pytest.raises(PlanError, match="at most"):
        Plan.from_dict({"stages": [{"text": "walk", "seconds": 1e308}]})
    with pytest.raises(PlanError, match="an hour"):
        Plan.from_dict({"stages": [{"text": "walk", "frames": [0, 10 ** 12]}]})
    with pytest.raises(PlanError, match="characters"):
        Plan.from_dict({"stages": [{"text": "walk " * 1000, "seconds": 1}]})
    f = tmp_path / "deep.json"
    f.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(PlanError, match="nested too deeply|not valid JSON"):
        load_plan(f)


def test_editor_survives_removal_then_a_body_part_edit_and_bad_meta(tmp_path):
    from motiongen.edit.editor import EditError, edit
    from motiongen.edit.offline import OfflineEditor
    from motiongen.plan import Plan
    plan = Plan.from_dict({"stages": [{"text": "walk", "seconds": 2}, {"text": "wave", "seconds": 2},
                                      {"text": "sit", "seconds": 2}]})
    out = OfflineEditor().revise(plan, "remove the last stage and wave with the left hand")
    assert len(out["stages"]) == 2 and all("left_arm" in s["parts"] for s in out["stages"])
    d = tmp_path / "o"
    d.mkdir()
    (d / "plan.json").write_text(json.dumps(plan.to_dict()))
    np.save(d / "motion.npy", np.zeros((120, 263), np.float32))
    (d / "meta.json").write_text("[1, 2]")
    with pytest.raises(EditError, match="expected a JSON object"):
        edit(d, "slower")
    (d / "meta.json").write_text("{}")
    bad = np.zeros((120, 263), np.float32)
    bad[3, 3] = np.nan
    np.save(d / "motion.npy", bad)
    with pytest.raises(EditError, match="finite"):
        edit(d, "slower")


def test_convert_refuses_to_write_nan_features(tmp_path):
    """A degenerate skeleton (every joint at one point) must not become a NaN features file with exit 0."""
    from motiongen.cli import main
    src = tmp_path / "flat.npy"
    np.save(src, np.zeros((30, 22, 3), np.float32))
    assert main(["convert", str(src), str(tmp_path / "f.npy"), "--to", "features"]) == 2
    assert not (tmp_path / "f.npy").exists()


@pytest.mark.parametrize("field,value,match", [
    ("checkpoint_every", 0, "checkpoint_every"), ("batch_size", -1, "batch_size"), ("lr", -1.0, "lr"),
    ("log_every", 0, "log_every"), ("mirror", 1.5, "mirror"), ("betas", [0.9], "betas"), ("device", "tpu", "device"),
])
def test_training_settings_out_of_range_name_the_field(field, value, match):
    from motiongen.train.trainer import TrainError, load_train_config
    with pytest.raises(TrainError, match=match):
        load_train_config(None, {field: value})


@pytest.mark.parametrize("frames", [0, 1, 5])
def test_degenerate_joints_are_refused_by_the_writers(tmp_path, frames):
    from motiongen.motion.bvh import write_bvh
    from motiongen.motion.gltf import write_glb
    with pytest.raises(ValueError, match="joints"):
        write_bvh(tmp_path / "z.bvh", np.zeros((frames, 22, 3)))
    with pytest.raises(ValueError, match="joints"):
        write_glb(tmp_path / "z.glb", np.zeros((frames, 22, 3)))
    assert not (tmp_path / "z.bvh").exists() and not (tmp_path / "z.glb").exists()


def test_generate_refuses_a_negative_batch_size(tmp_path):
    from motiongen.models.registry import build_denoiser
    from motiongen.pipeline import GenerationError, MotionPipeline
    from motiongen.text.encoders import load_text_encoder
    pipe = MotionPipeline(build_denoiser("baseline", latent_dim=16, num_layers=1, num_heads=2, ff_dim=16),
                          load_text_encoder(), np.zeros(263, np.float32), np.ones(263, np.float32), {})
    with pytest.raises(GenerationError, match="batch_size"):
        pipe.generate("a person walks", 1.0, batch_size=-1)
