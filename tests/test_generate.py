import json
import os

import numpy as np
import pytest
import torch
from conftest import HUMANML3D_DIR

import motiongen
from motiongen.cli import main
from motiongen.models.pretrained import ModelFileError, load_model_dir
from motiongen.models.registry import build_denoiser, list_denoisers
from motiongen.pipeline import GenerationError, MotionPipeline, Prompt
from motiongen.skeleton import get_skeleton
from motiongen.text.encoders import load_text_encoder

TINY = {"latent_dim": 32, "num_layers": 2, "num_heads": 2, "ff_dim": 64}


def _stats():
    if (HUMANML3D_DIR / "Mean.npy").is_file():
        return np.load(HUMANML3D_DIR / "Mean.npy"), np.load(HUMANML3D_DIR / "Std.npy")
    return np.zeros(263, np.float32), np.ones(263, np.float32)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("models") / "tiny"
    mean, std = _stats()
    pipe = MotionPipeline(build_denoiser("baseline", **TINY), load_text_encoder("minilm"), mean, std,
                          {"skeleton": "humanml3d"})
    pipe.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def pipe(tiny_model_dir):
    return MotionPipeline.from_pretrained(tiny_model_dir)


def test_save_load_roundtrip_gives_identical_outputs(tiny_model_dir, tmp_path):
    den, cfg, mean, std = load_model_dir(tiny_model_dir)
    assert cfg["model_type"] == "baseline" and cfg["text_encoder"]["name"] == "minilm"
    x = torch.randn(1, 10, 263)
    from motiongen.models.condition import MotionCondition
    from motiongen.text.encoders import TextFeatures
    c = MotionCondition(TextFeatures(torch.randn(1, 2, 384), torch.ones(1, 2, dtype=torch.bool), torch.randn(1, 384)))
    m = torch.ones(1, 10, dtype=torch.bool)
    ref = den(x, torch.tensor([5]), c, m)
    pipe = MotionPipeline.from_pretrained(tiny_model_dir)
    pipe.save_pretrained(tmp_path / "copy", dtype=torch.float16)
    den16, _, _, _ = load_model_dir(tmp_path / "copy")
    assert (tmp_path / "copy" / "model.safetensors").stat().st_size < (tiny_model_dir / "model.safetensors").stat().st_size
    assert torch.allclose(den16(x, torch.tensor([5]), c, m), ref, atol=5e-2)
    den2, _, _, _ = load_model_dir(tiny_model_dir)
    assert torch.equal(den2(x, torch.tensor([5]), c, m), ref)


def _copy(src, dst):
    import shutil
    shutil.copytree(src, dst)
    return dst


def test_broken_model_dirs_give_clear_errors(tiny_model_dir, tmp_path):
    with pytest.raises(ModelFileError, match="does not exist"):
        load_model_dir(tmp_path / "missing")
    d = _copy(tiny_model_dir, tmp_path / "trunc")
    w = d / "model.safetensors"
    w.write_bytes(w.read_bytes()[: w.stat().st_size // 2])
    with pytest.raises(ModelFileError, match="corrupt or truncated"):
        load_model_dir(d)
    d = _copy(tiny_model_dir, tmp_path / "badjson")
    (d / "config.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load_model_dir(d)
    d = _copy(tiny_model_dir, tmp_path / "mismatch")
    cfg = json.loads((d / "config.json").read_text())
    cfg["model"]["latent_dim"] = 48
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="shape"):
        load_model_dir(d)
    cfg["model"]["latent_dim"] = 32
    cfg["model_type"] = "nonexistent"
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="unknown model type 'nonexistent'"):
        load_model_dir(d)
    cfg["model_type"] = "baseline"
    cfg["model"]["bogus"] = 1
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="unknown field"):
        load_model_dir(d)
    d = _copy(tiny_model_dir, tmp_path / "nostd")
    os.remove(d / "std.npy")
    with pytest.raises(ModelFileError, match="std.npy' is missing"):
        load_model_dir(d)


def test_registry_lists_baseline_with_parameter_count():
    models = list_denoisers()
    assert "baseline" in models
    n = models["baseline"](models["baseline"].config_class()).num_parameters()
    assert 10e6 < n < 30e6   # MDM's default width/depth (MDM reports 17.88M with its CLIP-projection layers)


def test_generate_shapes_meta_and_determinism(pipe):
    [m] = pipe.generate("a person waves with the left hand", seconds=2.0, seed=3, sampler="ddim", steps=5)
    assert m.features.shape == (40, 263) and m.joints.shape == (40, 22, 3)
    assert m.meta["seed"] == 3 and m.meta["steps"] == 5 and m.meta["sampler"] == "ddim"
    assert np.isfinite(m.joints).all()
    [again] = pipe.generate("a person waves with the left hand", seconds=2.0, seed=3, sampler="ddim", steps=5)
    assert np.array_equal(again.features, m.features)
    [other] = pipe.generate("a person waves with the left hand", seconds=2.0, seed=4, sampler="ddim", steps=5)
    assert not np.allclose(other.features, m.features)


def test_a_motion_depends_only_on_its_seed_not_its_batch(pipe):
    kw = dict(sampler="dpm", steps=10, seed=0)
    alone = pipe.generate([Prompt("a person walks", 3.0)], **kw)[0]
    mixed = pipe.generate([Prompt("a person walks", 3.0), Prompt("someone jumps high", 5.0)], **kw)
    assert mixed[0].num_frames == 60 and mixed[1].num_frames == 100
    np.testing.assert_allclose(mixed[0].features, alone.features, atol=1e-4)


def test_samples_per_prompt_and_batching(pipe):
    ms = pipe.generate(["a", "b"], seconds=1.0, num_samples=3, steps=3, batch_size=4)
    assert [m.text for m in ms] == ["a"] * 3 + ["b"] * 3
    assert [m.seed for m in ms] == list(range(6))


@pytest.mark.parametrize("kwargs,match", [
    (dict(prompts="   "), "text is empty"),
    (dict(prompts="walk", seconds=-1), "at least 0.5"),
    (dict(prompts="walk", seconds=float("nan")), "finite number"),
    (dict(prompts="walk", seconds=10_000), "at most 600 frames"),
    (dict(prompts="walk", sampler="euler"), "unknown sampler"),
    (dict(prompts="walk", num_samples=0), "num_samples"),
    (dict(prompts="walk", half=True), "half precision"),
    (dict(prompts=[]), "at least one prompt"),
])
def test_bad_generation_input(pipe, kwargs, match):
    prompts = kwargs.pop("prompts")
    with pytest.raises(GenerationError, match=match):
        pipe.generate(prompts, **kwargs)


def test_python_api(tiny_model_dir, tmp_path):
    m = motiongen.generate("a person jumps", seconds=1.5, model=tiny_model_dir, steps=4, out=tmp_path / "o",
                           preview="none")
    assert m.joints.shape == (30, 22, 3) and m.features.shape == (30, 263)
    assert np.array_equal(np.load(tmp_path / "o" / "joints.npy"), m.joints)


def test_cli_generate_end_to_end(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    rc = main(["generate", "a person waves with the left hand", "--seconds", "2", "--out", str(out),
               "--model", str(tiny_model_dir), "--steps", "5", "--preview", "gif", "--seed", "7", "--quiet"])
    assert rc == 0
    for f in ("motion.npy", "joints.npy", "motion.bvh", "preview.gif", "meta.json", "plan.json"):
        assert (out / f).is_file(), f
    meta = json.loads((out / "meta.json").read_text())
    assert meta["text"] == "a person waves with the left hand" and meta["seed"] == 7 and meta["steps"] == 5
    assert set(meta["timings_s"]) >= {"encode_text", "denoise", "decode_joints"}
    assert np.load(out / "joints.npy").shape == (40, 22, 3)
    from motiongen.motion.bvh import read_bvh
    bvh = read_bvh(out / "motion.bvh")
    assert bvh.num_frames == 40 and bvh.fps == pytest.approx(20.0)
    # The output exists now: a second run must refuse rather than overwrite, and leave it intact.
    before = (out / "motion.npy").read_bytes()
    rc = main(["generate", "jump", "--out", str(out), "--model", str(tiny_model_dir), "--steps", "2", "--quiet"])
    assert rc == 2 and "not empty" in capsys.readouterr().err
    assert (out / "motion.npy").read_bytes() == before


def test_cli_prompts_file_batches_and_samples(tiny_model_dir, tmp_path):
    pf = tmp_path / "prompts.txt"
    pf.write_text("a person walks forward#2\n\nsomeone jumps#1.5\n")
    out = tmp_path / "many"
    rc = main(["generate", "--prompts", str(pf), "--num-samples", "2", "--out", str(out), "--model",
               str(tiny_model_dir), "--steps", "3", "--preview", "none", "--no-bvh", "--quiet"])
    assert rc == 0
    index = json.loads((out / "meta.json").read_text())["samples"]
    assert [s["frames"] for s in index] == [40, 40, 30, 30]
    assert np.load(out / "sample_003" / "joints.npy").shape == (30, 22, 3)
    assert not (out / "sample_000" / "motion.bvh").exists()


@pytest.mark.parametrize("args,match", [
    (["generate", "", "--out", "{tmp}/e"], "text is empty"),
    (["generate", "walk", "--seconds", "0", "--out", "{tmp}/e"], "at least 0.5"),
    (["generate", "walk", "--seconds", "1e6", "--out", "{tmp}/e"], "at most"),
    (["generate", "walk", "--model", "{tmp}/nowhere", "--out", "{tmp}/e"], "does not exist"),
    (["generate", "--out", "{tmp}/e"], "exactly one of"),
    (["generate", "--prompts", "{tmp}/none.txt", "--out", "{tmp}/e"], "does not exist"),
])
def test_cli_errors_are_one_line(tiny_model_dir, tmp_path, capsys, args, match):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    if "--model" not in args:
        args += ["--model", str(tiny_model_dir)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert match in err and "Traceback" not in err
    assert not (tmp_path / "e").exists()


def test_cli_models_lists_and_inits(tmp_path, capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "baseline" in out and "M " in out
    assert main(["models", "init", "baseline", "--out", str(tmp_path / "m"), "--set", "latent_dim=16",
                 "--set", "num_layers=1", "--set", "ff_dim=16"]) == 0
    den, cfg, _, _ = load_model_dir(tmp_path / "m")
    assert cfg["model"]["latent_dim"] == 16
    assert main(["models", "init", "baseline", "--out", str(tmp_path / "m2"), "--set", "latent_dim=abc"]) == 2
    assert "latent_dim" in capsys.readouterr().err
    # the packaged weights' size in MiB (2**20 bytes), labelled so
    assert main(["models"]) == 0
    from motiongen.pipeline import default_model_dir
    mib = (default_model_dir() / "model.safetensors").stat().st_size / 2 ** 20
    line = next(x for x in capsys.readouterr().out.splitlines() if "finemogen (default)" in x)
    assert f"{mib:5.1f} MiB" in line and " MB " not in line


def test_one_line_summaries_mark_a_cut_with_an_ellipsis():
    from motiongen.cli import _shorten
    assert _shorten("a person walks") == "a person walks"
    long = ", then ".join(["a person walks forward"] * 6)
    short = _shorten(long)
    assert len(short) <= 70 and short.endswith("\u2026") and long.startswith(short[:-1])


def test_skeleton_lookup_by_feature_dim():
    assert get_skeleton(263).name == "humanml3d"


def test_threads_default_to_the_free_cores_and_can_be_set(monkeypatch):
    import os

    import torch

    from motiongen.cli import _set_threads, default_threads
    monkeypatch.setattr(os, "cpu_count", lambda: 4)
    monkeypatch.setattr(os, "getloadavg", lambda: (2.6, 0, 0))
    assert default_threads() == 1
    monkeypatch.setattr(os, "getloadavg", lambda: (0.1, 0, 0))
    assert default_threads() == 4
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 0, 0))
    assert default_threads() == 1
    before = torch.get_num_threads()
    try:
        class A:
            threads = 1
        _set_threads(A())
        assert torch.get_num_threads() == 1
        A.threads = 0
        with pytest.raises(ValueError, match="--threads"):
            _set_threads(A())
    finally:
        torch.set_num_threads(before)


def test_overwrite_never_deletes_files_that_are_not_ours(tmp_path, capsys):
    from motiongen.export import check_output_dir
    out = tmp_path / "thesis"
    out.mkdir()
    (out / "thesis.tex").write_text("years of work")
    (out / "figures").mkdir()
    with pytest.raises(FileExistsError, match="figures/, thesis.tex"):
        check_output_dir(out, overwrite=True)
    assert (out / "thesis.tex").read_text() == "years of work"
    from motiongen.io_utils import atomic_directory

    def fill(d):
        (d / "sample_000").mkdir()
        for f in ("meta.json", "sample_000/motion.npy", "sample_000/preview.mp4"):
            (d / f).write_text("x")
    ours = atomic_directory(tmp_path / "ours", fill, manifest="motion output")   # with the manifest of its files
    assert check_output_dir(ours, overwrite=True) == ours
    (ours / "sample_000" / "notes.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="sample_000/notes.txt"):
        check_output_dir(ours, overwrite=True)


def test_stale_temporaries_of_killed_writers_are_removed(tmp_path):
    """Only motiongen's own temporaries (a folder holding the marker that names the dead writer) are swept."""
    import subprocess
    import sys

    from motiongen.io_utils import TEMP_MARKER, atomic_directory, mark_temporary, remove_stale_temporaries
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip())
    stale = tmp_path / f".out.tmp-{dead}-abc"
    stale.mkdir()
    (stale / "motion.npy").write_text("half")
    (stale / TEMP_MARKER).write_text(json.dumps({"pid": dead, "target": "out"}))
    alive = tmp_path / f".out.tmp-{os.getppid()}-xyz"          # a writer that is still running: left alone
    alive.mkdir()
    (alive / TEMP_MARKER).write_text(json.dumps({"pid": os.getppid(), "target": "out"}))
    other = tmp_path / ".other.tmp-1-x"
    other.mkdir()
    lookalike = tmp_path / f".out.tmp-{dead}-users-folder"     # the name of ours, but no marker: the user's
    lookalike.mkdir()
    (lookalike / "notes.txt").write_text("mine")
    lookalike_file = tmp_path / f".out.tmp-{dead}-users-file"
    lookalike_file.write_text("mine")
    wrong = tmp_path / f".out.tmp-{dead}-other-target"          # a marker for another target
    wrong.mkdir()
    mark_temporary(wrong, "elsewhere")
    atomic_directory(tmp_path / "out", lambda d: (d / "meta.json").write_text("{}"))
    assert not stale.exists() and alive.exists() and other.exists()
    assert (lookalike / "notes.txt").read_text() == "mine" and lookalike_file.read_text() == "mine"
    assert wrong.exists()
    assert (tmp_path / "out" / "meta.json").is_file()
    assert remove_stale_temporaries(tmp_path / "out") == []


def test_out_dot_is_handled(tmp_path, monkeypatch):
    from motiongen.io_utils import atomic_directory
    work = tmp_path / "empty"
    work.mkdir()
    monkeypatch.chdir(work)
    atomic_directory(".", lambda d: (d / "meta.json").write_text("{}"))
    assert (work / "meta.json").is_file()


def test_generate_formats_writes_a_glb(tiny_model_dir, tmp_path):
    from motiongen.cli import main
    out = tmp_path / "o"
    assert main(["generate", "a person walks", "--seconds", "1", "--model", str(tiny_model_dir), "--out", str(out),
                 "--steps", "2", "--formats", "bvh,glb,npy", "--quiet"]) == 0
    assert {p.name for p in out.iterdir()} >= {"motion.glb", "motion.bvh", "motion.npy", "joints.npy"}
    assert not (out / "preview.mp4").exists()
    assert main(["generate", "a person walks", "--model", str(tiny_model_dir), "--out", str(tmp_path / "x"),
                 "--formats", "fbx"]) == 2
