import json
import os
import shutil
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from safetensors.torch import load_file

from motiongen.cli import main
from motiongen.pipeline import MotionPipeline
from motiongen.train.trainer import TrainConfig, TrainError, load_train_config, lr_factor, train

TINY = {"latent_dim": 32, "num_layers": 1, "num_heads": 2, "ff_dim": 32, "dropout": 0.1}


def _cfg(data, out, **kw):
    base = dict(model="baseline", model_config=TINY, data=str(data), out=str(out), steps=6, batch_size=4,
                warmup_steps=2, checkpoint_every=3, log_every=1, lr=1e-3, seed=1, device="cpu")
    return load_train_config(None, {**base, **kw})


def test_resume_ends_with_the_same_weights_as_an_uninterrupted_run(hml_folder, tmp_path):
    train(_cfg(hml_folder, tmp_path / "full"), progress=False)
    train(_cfg(hml_folder, tmp_path / "cut"), progress=False, stop_after=3)
    cut_mid = load_file(str(tmp_path / "cut" / "model.safetensors"))
    train(_cfg(hml_folder, tmp_path / "cut"), resume=True, progress=False)
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], cut_mid[k]) for k in a)          # the resumed part did train
    sa = torch.load(tmp_path / "full" / "train_state.pt", weights_only=True)
    sb = torch.load(tmp_path / "cut" / "train_state.pt", weights_only=True)
    assert sa["step"] == sb["step"] == 6
    assert all(torch.equal(sa["model"][k], sb["model"][k]) for k in sa["model"])
    rows = (tmp_path / "cut" / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,loss") and [r.split(",")[0] for r in rows[1:]] == [str(i) for i in range(1, 7)]


def test_finished_run_is_a_model_directory(hml_folder, tmp_path):
    run = train(_cfg(hml_folder, tmp_path / "run", steps=3), progress=False)
    cfg = json.loads((run / "config.json").read_text())
    assert cfg["training"]["steps"] == 3 and cfg["training"]["weights"] == "EMA"
    pipe = MotionPipeline.from_pretrained(run)
    [m] = pipe.generate("a person walks", seconds=1.0, steps=2)
    assert m.joints.shape == (20, 22, 3) and np.isfinite(m.joints).all()


def test_run_folder_is_protected_and_resume_checks_settings(hml_folder, tmp_path):
    train(_cfg(hml_folder, tmp_path / "run", steps=2), progress=False)
    with pytest.raises(TrainError, match="not empty"):
        train(_cfg(hml_folder, tmp_path / "run", steps=2), progress=False)
    with pytest.raises(TrainError, match="started with seed=1"):
        train(_cfg(hml_folder, tmp_path / "run", steps=4, seed=2), resume=True, progress=False)
    with pytest.raises(TrainError, match="no checkpoint"):
        train(_cfg(hml_folder, tmp_path / "other"), resume=True, progress=False)


def test_config_files_and_schedules(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('model = "histf"\nlr = 1e-4\nschedule = "step"\nstep_size = 10\nstep_gamma = 0.5\n'
                 'warmup_steps = 5\n[model_config]\nnum_layers = 1\n')
    cfg = load_train_config(f, {"steps": 100, "lr": None})
    assert cfg.model == "histf" and cfg.lr == 1e-4 and cfg.model_config == {"num_layers": 1} and cfg.steps == 100
    assert lr_factor(cfg, 0) == pytest.approx(0.2) and lr_factor(cfg, 5) == 1.0 and lr_factor(cfg, 15) == 0.5
    cos = TrainConfig(steps=110, warmup_steps=10, schedule="cosine")
    assert lr_factor(cos, 10) == pytest.approx(1.0) and lr_factor(cos, 110) == pytest.approx(0.0, abs=1e-9)
    assert lr_factor(cos, 60) == pytest.approx(0.5)
    f.write_text("learning_rate = 3\n")
    with pytest.raises(TrainError, match="unknown field"):
        load_train_config(f)
    f.write_text('optimizer = "sgd"\n')
    with pytest.raises(TrainError, match="optimizer"):
        load_train_config(f)
    f.write_text("steps = [\n")
    with pytest.raises(TrainError, match="could not be parsed"):
        load_train_config(f)
    with pytest.raises(TrainError, match="does not exist"):
        load_train_config(tmp_path / "none.toml")


def test_cli_train(hml_folder, tmp_path, capsys):
    out = tmp_path / "cli"
    assert main(["train", "--model", "baseline", "--data", str(hml_folder), "--out", str(out), "--steps", "2",
                 "--batch-size", "4", "--set", "latent_dim=16", "--set", "num_layers=1", "--set", "ff_dim=16",
                 "--device", "cpu", "--quiet"]) == 0
    assert (out / "model.safetensors").is_file()
    assert "trained baseline to step 2 of 2; model directory" in capsys.readouterr().out
    assert main(["train", "--model", "baseline", "--data", str(tmp_path / "nodata"), "--out",
                 str(tmp_path / "x"), "--quiet"]) == 2
    assert "nodata" in capsys.readouterr().err


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


FINEMOGEN_MOE = {"num_layers": 1, "part_dim": 8, "num_templates": 4, "text_latent_dim": 16, "text_layers": 1,
                 "text_heads": 2, "text_ff_dim": 16, "time_embed_dim": 16, "ffn_dim": 8, "num_experts": 16,
                 "top_k": 1, "expert_hidden_dim": 8}


def _worker(rank, world, port, data, out, result_dir, model_type="baseline"):
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    torch.set_num_threads(1)
    extra = {} if model_type == "baseline" else {"model": "finemogen", "model_config": FINEMOGEN_MOE}
    _, model = train(_cfg(data, out, steps=3, checkpoint_every=100, **extra), progress=False, return_model=True)
    torch.save({k: v.detach().clone() for k, v in model.state_dict().items()}, f"{result_dir}/rank{rank}.pt")


@pytest.mark.parametrize("model_type", ["baseline", "finemogen"])
def test_two_cpu_processes_keep_identical_weights(hml_folder, tmp_path, model_type):
    # FineMoGen with 16 experts, top-1, on a 2-item batch per rank: most experts get no token in a step
    world = 2
    mp.spawn(_worker, args=(world, _free_port(), str(hml_folder), str(tmp_path / "ddp"), str(tmp_path), model_type),
             nprocs=world, join=True)
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    init = torch.load(tmp_path / "ddp" / "train_state.pt", weights_only=True)["step"]
    assert init == 3
    if model_type == "finemogen":      # the MoE balancing loss reaches the total through the DDP wrapper
        rows = [r.split(",") for r in (tmp_path / "ddp" / "log.csv").read_text().splitlines()[1:]]
        assert rows and all(float(r[3]) > 0 for r in rows)


def test_auxiliary_loss_is_read_through_a_wrapper():
    """DDP (and any wrapper with ``.module``) returns no ``aux_loss`` of its own; the loss must use the model's."""
    from motiongen.diffusion.gaussian import GaussianDiffusion
    from motiongen.models.condition import MotionCondition
    from motiongen.models.registry import build_denoiser
    from motiongen.text.encoders import TextFeatures

    class Wrapper(torch.nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

        def forward(self, *a):
            return self.module(*a)

    torch.manual_seed(0)
    model = build_denoiser("finemogen", text_dim=8, **FINEMOGEN_MOE).train()
    cond = MotionCondition(TextFeatures(torch.randn(2, 3, 8), torch.ones(2, 3, dtype=torch.bool), torch.randn(2, 8)))
    out = GaussianDiffusion().training_losses(Wrapper(model), torch.randn(2, 12, 263),
                                              torch.ones(2, 12, dtype=torch.bool), cond)
    assert "aux" in out and float(out["aux"].detach()) > 0
    assert torch.allclose(out["loss"], out["simple"] + out["aux"])


def test_wall_clock_budget_stops_with_a_checkpoint(hml_folder, tmp_path):
    run = train(_cfg(hml_folder, tmp_path / "budget", steps=50, max_minutes=1e-6), progress=False)
    state = torch.load(run / "train_state.pt", weights_only=True)
    assert state["step"] == 1
    assert json.loads((run / "config.json").read_text())["training"]["steps"] == 1


def test_ema_warms_up_so_the_initialisation_fades():
    from motiongen.train.trainer import ema_decay_at
    share = 1.0
    for step in range(1000):
        share *= ema_decay_at(0.999, step)
    assert share < 1e-5                            # without the warm-up: 0.999 ** 1000 = 0.37
    assert ema_decay_at(0.999, 0) == pytest.approx(0.1) and ema_decay_at(0.999, 100_000) == 0.999


def test_saved_ema_weights_follow_the_trained_ones(hml_folder, tmp_path):
    torch.manual_seed(0)
    run, model = train(_cfg(hml_folder, tmp_path / "run", steps=40, lr=3e-3, warmup_steps=1), progress=False,
                       return_model=True)
    saved = load_file(str(run / "model.safetensors"))
    state = torch.load(run / "train_state.pt", weights_only=True)
    from motiongen.models.registry import build_denoiser
    torch.manual_seed(1)                        # the run builds its model after torch.manual_seed(cfg.seed = 1)
    init = build_denoiser("baseline", text_dim=384, **TINY).state_dict()
    k = "out.weight" if "out.weight" in saved else next(n for n in saved if n.endswith("weight"))
    raw = state["model"][k].float()
    to_raw = (saved[k].float() - raw).norm()
    to_init = (saved[k].float() - init[k].float()).norm()
    assert to_raw < 0.5 * to_init, (to_raw, to_init)


def test_resume_reads_its_settings_from_the_run_folder(hml_folder, tmp_path):
    cfg = _cfg(hml_folder, tmp_path / "run", steps=4)
    train(cfg, progress=False, stop_after=2)
    assert main(["train", "--out", str(tmp_path / "run"), "--resume", "--quiet"]) == 0   # nothing retyped
    state = torch.load(tmp_path / "run" / "train_state.pt", weights_only=True)
    assert state["step"] == 4 and state["config"]["model_config"] == TINY


def test_written_files_follow_the_umask(hml_folder, tmp_path):
    old = os.umask(0o022)
    try:
        run = train(_cfg(hml_folder, tmp_path / "run", steps=1), progress=False)
    finally:
        os.umask(old)
    for name in ("model.safetensors", "config.json", "train_state.pt", "train_config.json"):
        assert (run / name).stat().st_mode & 0o777 == 0o644, name


def _run(code_or_args, cwd, module=True):
    import subprocess
    import sys
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "motiongen.cli", *code_or_args] if module else [sys.executable, "-c", code_or_args]
    out = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]


def test_resume_in_a_new_process_is_bit_exact(hml_folder, tmp_path):
    """Each part runs in its own process: nothing may depend on what a process computed before (e.g. text
    features of a sentence must not depend on the other sentences of its batch)."""
    cfg = tmp_path / "c.json"
    cfg.write_text(json.dumps({"model": "baseline", "model_config": TINY, "steps": 6, "batch_size": 4,
                               "warmup_steps": 2, "checkpoint_every": 3, "log_every": 1, "lr": 1e-3, "seed": 1,
                               "device": "cpu", "data": str(hml_folder)}))
    _run(["train", "--config", str(cfg), "--out", str(tmp_path / "full"), "--quiet", "--threads", "1"], tmp_path)
    _run("import torch; torch.set_num_threads(1)\n"
         "from motiongen.train.trainer import load_train_config, train\n"
         f"train(load_train_config({str(cfg)!r}, {{'out': {str(tmp_path / 'cut')!r}}}), progress=False, "
         "stop_after=3)", tmp_path, module=False)
    _run(["train", "--out", str(tmp_path / "cut"), "--resume", "--quiet", "--threads", "1"], tmp_path)
    a = load_file(str(tmp_path / "full" / "model.safetensors"))
    b = load_file(str(tmp_path / "cut" / "model.safetensors"))
    assert all(torch.equal(a[k], b[k]) for k in a)
    rows = (tmp_path / "cut" / "log.csv").read_text().splitlines()[1:]
    assert [r.split(",")[0] for r in rows] == [str(i) for i in range(1, 7)]      # no duplicate rows


def test_a_corrupt_checkpoint_is_a_clear_error(hml_folder, tmp_path):
    train(_cfg(hml_folder, tmp_path / "run", steps=2), progress=False)
    (tmp_path / "run" / "train_state.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(TrainError, match="not a readable motiongen checkpoint"):
        train(_cfg(hml_folder, tmp_path / "run", steps=4), resume=True, progress=False)


def test_log_rows_after_the_checkpoint_are_dropped_on_resume(hml_folder, tmp_path):
    train(_cfg(hml_folder, tmp_path / "run", steps=6), progress=False, stop_after=3)
    log = tmp_path / "run" / "log.csv"
    log.write_text(log.read_text() + "4,1.0,1.0,0.0,1e-3,1.0\n")       # logged, then killed before a checkpoint
    train(_cfg(hml_folder, tmp_path / "run", steps=6), resume=True, progress=False)
    assert [r.split(",")[0] for r in log.read_text().splitlines()[1:]] == [str(i) for i in range(1, 7)]


def test_fine_tuning_starts_from_a_model_folder_with_a_band_limit(hml_folder, tmp_path):
    base = train(_cfg(hml_folder, tmp_path / "base", steps=3), progress=False)
    # one step at lr 0: the folder can only hold the copied weights (and their EMA)
    tuned = train(_cfg(hml_folder, tmp_path / "tuned", steps=1, lr=0.0, init_from=str(base), x0_lowpass_hz=5.0),
                  progress=False)
    a, b = load_file(str(base / "model.safetensors")), load_file(str(tuned / "model.safetensors"))
    assert all(torch.allclose(a[k], b[k]) for k in a)
    cfg = json.loads((tuned / "config.json").read_text())
    assert cfg["diffusion"]["x0_lowpass_hz"] == 5.0
    assert MotionPipeline.from_pretrained(tuned).diffusion.x0_lowpass_hz == 5.0
    with pytest.raises(TrainError, match="started with x0_lowpass_hz=5.0"):
        train(_cfg(hml_folder, tmp_path / "tuned", steps=2, lr=0.0, init_from=str(base)), resume=True, progress=False)
    with pytest.raises(TrainError, match="different architecture"):
        train(_cfg(hml_folder, tmp_path / "wide", init_from=str(base), model_config={**TINY, "latent_dim": 48}),
              progress=False)
    with pytest.raises(TrainError, match="init_from: .*missing"):
        train(_cfg(hml_folder, tmp_path / "none", init_from=str(tmp_path / "missing")), progress=False)
    with pytest.raises(TrainError, match="x0_lowpass_hz must be between"):
        _cfg(hml_folder, tmp_path / "x", x0_lowpass_hz=11.0)


def test_fine_tuning_on_another_corpus_keeps_the_initial_statistics_and_adds_up_the_training(hml_folder, tmp_path):
    """Every run adds to the last: a corpus with other Mean/Std trains in the initial model's normalisation, and the
    folder records the steps and hours of every run before it."""
    base = train(_cfg(hml_folder, tmp_path / "base", steps=3), progress=False)
    other = tmp_path / "other"
    shutil.copytree(hml_folder, other)
    np.save(other / "Mean.npy", np.load(hml_folder / "Mean.npy") + 0.5)
    np.save(other / "Std.npy", np.load(hml_folder / "Std.npy") * 2.0)
    tuned = train(_cfg(other, tmp_path / "tuned", steps=2, init_from=str(base)), progress=False, stop_after=1)
    assert np.allclose(np.load(tuned / "mean.npy"), np.load(base / "mean.npy"))
    assert np.allclose(np.load(tuned / "std.npy"), np.load(base / "std.npy"))
    train(_cfg(other, tmp_path / "tuned", steps=2, init_from=str(base)), resume=True, progress=False)
    assert np.allclose(np.load(tuned / "std.npy"), np.load(base / "std.npy"))      # resume keeps them too
    first = json.loads((base / "config.json").read_text())["training"]
    then = json.loads((tuned / "config.json").read_text())["training"]
    assert first["total_steps"] == 3 and then["total_steps"] == 5
    assert then["total_hours"] >= first["total_hours"] >= 0
    again = train(_cfg(other, tmp_path / "again", steps=1, init_from=str(tuned)), progress=False)
    assert json.loads((again / "config.json").read_text())["training"]["total_steps"] == 6


def test_balanced_sampling_draws_rare_actions_as_often_as_common_ones(hml_folder, tmp_path):
    from motiongen.data.dataset import MotionTextDataset
    from motiongen.train.trainer import _Batches
    ids = (hml_folder / "train.txt").read_text().split()
    rows = ["id,source,action,side,style,licence,split"] + \
        [f"{mid},test,{'kick' if k < 2 else 'walk'},,,x,train" for k, mid in enumerate(ids)]
    ds = MotionTextDataset(hml_folder, "train", max_frames=60)
    with pytest.raises(TrainError, match="clips.csv: not found"):
        _Batches(ds, 4, 0, 1, 0, balance=1.0)
    (hml_folder / "clips.csv").write_text("\n".join(rows) + "\n")
    acts = np.array(ds.item_actions())
    assert set(acts) == {"kick", "walk"} and (acts == "walk").sum() > (acts == "kick").sum()
    w = ds.balanced_weights(1.0)
    assert np.isclose(w[acts == "kick"].sum(), 0.5) and np.isclose(w[acts == "walk"].sum(), 0.5)
    assert np.allclose(ds.balanced_weights(0.0), 1 / len(ds))
    drawn = np.concatenate([_Batches(ds, 4, 0, 1, 0, balance=1.0).indices(s) for s in range(200)])
    share = (acts[drawn] == "kick").mean()
    assert 0.4 < share < 0.6, share
    again = _Batches(ds, 4, 0, 1, 0, balance=1.0)
    assert np.array_equal(again.indices(17), _Batches(ds, 4, 0, 1, 0, balance=1.0).indices(17))   # resumable
    plain = np.concatenate([_Batches(ds, 4, 0, 1, 0).indices(s) for s in range(200)])
    assert (acts[plain] == "kick").mean() < share
    # a clip drawn again is not the same sample again: its crop and caption coin follow the step
    # (within one epoch, where a permutation's seeding would give the same crop every time)
    b = _Batches(ds, 1, 0, 1, 0, balance=1.0)
    seen: dict = {}
    for step in range(b.per_epoch):
        [i] = b.indices(step)
        seen.setdefault(int(i), []).append(b[step]["motion"].numpy().tobytes())
    again = [v for v in seen.values() if len(v) > 1]
    assert again and any(len(set(v)) > 1 for v in again)


# ---- GPU readiness, checked on the CPU (issue 29) -------------------------------------------------------------
def test_each_rank_gets_its_own_device():
    from motiongen.train.trainer import device_for_rank, dist_backend_for
    assert device_for_rank("auto", 3, 0) == torch.device("cpu")
    assert device_for_rank("cpu", 1, 8) == torch.device("cpu")
    assert [device_for_rank("auto", r, 4) for r in range(4)] == [torch.device("cuda", r) for r in range(4)]
    assert device_for_rank("cuda", 5, 4) == torch.device("cuda", 1)      # more ranks than GPUs: they share
    assert device_for_rank("cuda", 1, 1) == torch.device("cuda", 0)
    assert device_for_rank("cuda:2", 0, 4) == torch.device("cuda", 2)
    with pytest.raises(TrainError, match="no CUDA GPU"):
        device_for_rank("cuda", 0, 0)
    with pytest.raises(TrainError, match="cuda:0..cuda:1"):
        device_for_rank("cuda:2", 0, 2)
    assert dist_backend_for("auto", torch.device("cuda", 0), 2, 2) == "nccl"
    assert dist_backend_for("auto", torch.device("cuda", 0), 2, 1) == "gloo"      # two ranks on one GPU
    assert dist_backend_for("auto", torch.device("cpu"), 2, 0) == "gloo"
    assert dist_backend_for("nccl", torch.device("cpu"), 2, 0) == "nccl"


def test_foreach_ema_equals_the_per_tensor_update():
    from motiongen.train.trainer import ema_update
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 5), (7,), (2, 3, 4), ()]
    ema = [torch.randn(s, generator=g) for s in shapes]
    ref = [e.clone() for e in ema]
    for step in range(5):
        vals = [torch.randn(s, generator=g) for s in shapes]
        decay = 0.9 + 0.01 * step
        ema_update(ema, vals, decay)
        for r, v in zip(ref, vals):
            r.mul_(decay).add_(v, alpha=1 - decay)
    assert all(torch.equal(a, b) for a, b in zip(ema, ref))


def test_text_cache_beside_the_corpus_equals_fresh_encodings(hml_folder, tmp_path):
    from motiongen.text.encoders import TextFeatureStore, load_text_encoder
    train(_cfg(hml_folder, tmp_path / "run", steps=1), progress=False)
    [cache] = list(hml_folder.glob("text_features-minilm-*.safetensors"))
    enc = load_text_encoder("minilm")
    store = TextFeatureStore(enc, hml_folder)
    n = store.load()
    assert n >= 7                                    # every caption of the split (and its mirror) is in it
    texts = [t for t in dict.fromkeys(c.text for c in _captions(hml_folder))][:6]
    assert all(t in store for t in texts)
    cached, fresh = store.encode(texts), enc.encode(texts)
    assert torch.equal(cached.mask, fresh.mask)
    assert torch.allclose(cached.tokens, fresh.tokens, atol=1e-5) and torch.allclose(cached.pooled, fresh.pooled, atol=1e-5)
    again = TextFeatureStore(enc, hml_folder)        # the file reads back exactly what was stored
    again.load()
    assert torch.equal(again.encode(texts).tokens, cached.tokens)
    stamp = cache.stat().st_mtime_ns
    train(_cfg(hml_folder, tmp_path / "run2", steps=1), progress=False)
    assert cache.stat().st_mtime_ns == stamp         # nothing new to encode: the file is not rewritten


def _captions(folder):
    from motiongen.data.dataset import read_texts
    return [c for f in sorted((folder / "texts").glob("*.txt")) for c in read_texts(f)]


def test_text_store_batches_any_number_of_sentences(tmp_path):
    from motiongen.text.encoders import TextFeatureStore, load_text_encoder
    enc = load_text_encoder("minilm")
    store = TextFeatureStore(enc, tmp_path)
    texts = [f"a person walks {n} steps forward" for n in range(40)] + ["someone jumps"]
    calls = []
    orig = enc._encode_uncached
    enc_calls = lambda batch: calls.append(len(batch)) or orig(batch)      # noqa: E731
    try:
        enc._encode_uncached = enc_calls
        assert store.add(texts, batch_size=16) == 41
    finally:
        del enc._encode_uncached
    assert sum(calls) == 41 and max(calls) == 16 and len(calls) < 41     # batched, not one pass per sentence
    store.save()
    other = TextFeatureStore(enc, tmp_path)
    assert other.load() == 41


def test_loader_workers_give_the_same_training_as_the_main_process(hml_folder, tmp_path):
    a = train(_cfg(hml_folder, tmp_path / "w0", steps=3, loader_workers=0), progress=False)
    b = train(_cfg(hml_folder, tmp_path / "w2", steps=3, loader_workers=2), progress=False)
    wa, wb = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def test_a_non_finite_loss_stops_before_any_checkpoint(hml_folder, tmp_path, monkeypatch):
    from motiongen.diffusion.gaussian import GaussianDiffusion
    orig = GaussianDiffusion.training_losses

    def poisoned(self, *a, **kw):
        out = orig(self, *a, **kw)
        out["loss"] = out["loss"] * float("nan")
        return out
    monkeypatch.setattr(GaussianDiffusion, "training_losses", poisoned)
    with pytest.raises(TrainError, match="not finite"):
        train(_cfg(hml_folder, tmp_path / "nan", steps=4, log_every=2, checkpoint_every=2), progress=False)
    assert not (tmp_path / "nan" / "train_state.pt").exists()


def test_gpu_only_settings_are_clear_errors_on_the_cpu(hml_folder, tmp_path):
    with pytest.raises(TrainError, match="compile = true is for CUDA"):
        train(_cfg(hml_folder, tmp_path / "c", compile=True), progress=False)
    with pytest.raises(TrainError, match="HiSTF settings"):
        _cfg(hml_folder, tmp_path / "c", scan_chunk=8)
    with pytest.raises(TrainError, match="dist_backend"):
        _cfg(hml_folder, tmp_path / "c", dist_backend="mpi")
    cfg = _cfg(hml_folder, tmp_path / "h", model="histf", steps=1, scan_chunk=8, scan_mode="chunked",
               model_config={"latent_dim": 16, "num_temporal_blocks": 1, "num_layers": 1, "part_dim": 8,
                             "whole_dim": 8})
    _, model = train(cfg, progress=False, return_model=True)
    from motiongen.models.histf.ssm import SelectiveSSM
    assert all(m.scan_chunk == 8 and m.scan_mode == "chunked" for m in model.modules() if isinstance(m, SelectiveSSM))


def _torchrun_worker_code(data, out, result):
    return ("import os, torch\n"
            "torch.set_num_threads(1)\n"
            "from motiongen.train.trainer import load_train_config, train\n"
            f"cfg = load_train_config(None, dict(model='baseline', model_config={TINY!r}, data={str(data)!r}, "
            f"out={str(out)!r}, steps=3, batch_size=4, warmup_steps=1, checkpoint_every=100, log_every=1, lr=1e-3, "
            "seed=1, device='auto'))\n"
            "_, model = train(cfg, progress=False, return_model=True)\n"
            f"torch.save({{k: v.detach().clone() for k, v in model.state_dict().items()}}, "
            f"{str(result)!r} + '/rank' + os.environ['RANK'] + '.pt')\n")


@pytest.mark.slow
def test_torchrun_two_gloo_processes_end_with_identical_weights(hml_folder, tmp_path):
    import subprocess
    import sys
    script = tmp_path / "worker.py"
    script.write_text(_torchrun_worker_code(hml_folder, tmp_path / "run", tmp_path))
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                           str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    w0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    w1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert all(torch.equal(w0[k], w1[k]) for k in w0)
    init = torch.load(tmp_path / "run" / "train_state.pt", weights_only=True)
    assert init["step"] == 3 and all(torch.equal(init["model"][k], w0[k]) for k in w0)   # rank 0 saved them


# ---- the prepared GPU scripts run on the CPU, so they cannot rot -----------------------------------------------
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _script(name, *args, out):
    import subprocess
    import sys
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OUT": str(out), "PYTHON": sys.executable,
           "GPU_CHECK_WORK": str(out) + "-work"}
    return subprocess.run(["bash", os.path.join(ROOT, "scripts", name), *args], env=env, capture_output=True,
                          text=True, timeout=600)


def _script_module(name):
    import importlib
    import sys
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    try:
        return importlib.import_module(name)
    finally:
        sys.path.pop(0)


def test_gpu_check_tiny_trains_and_samples_on_the_cpu(tmp_path, monkeypatch):
    monkeypatch.setenv("GPU_CHECK_WORK", str(tmp_path / "work"))
    gpu_check = _script_module("gpu_check")
    rc = gpu_check.main(["--tiny", "--models", "baseline", "histf", "--parts", "train", "sample", "compare",
                         "--out", str(tmp_path / "out")])
    assert rc == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    for m in ("baseline", "histf"):
        tr = report["train"][m]
        assert tr["ok"] and tr["finite"] and tr["steps"] == 6 and tr["steps_per_s"] > 0
        assert report["sample"][m]["aits_s"] > 0 and report["compare"][m]["ok"]
    assert report["sample"]["histf"]["paper_aits_s"] == 0.28
    assert (tmp_path / "out" / "report.md").read_text().startswith("# motiongen GPU check")


@pytest.mark.slow
def test_gpu_check_tiny_all_parts_with_torchrun(tmp_path):
    proc = _script("gpu_check.sh", "--tiny", out=tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["failures"] == [] and report["ddp"]["identical_weights"] and set(report["train"]) == {
        "finemogen", "histf", "baseline"}


def test_gpu_train_tiny_writes_an_fp16_model_folder(tmp_path):
    corpus = _script_module("gpu_check").write_corpus(tmp_path / "corpus", 12)
    gpu_train = _script_module("gpu_train")
    assert gpu_train.main(["--tiny", "--model", "histf", "--data", str(corpus), "--work", str(tmp_path / "work"),
                           "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["model"] == "histf" and summary["steps"] == 4
    weights = load_file(str(tmp_path / "out" / "model" / "model.safetensors"))
    assert all(v.dtype == torch.float16 for v in weights.values() if v.is_floating_point())
    pipe = MotionPipeline.from_pretrained(tmp_path / "out" / "model")
    [m] = pipe.generate("a person walks forward", seconds=1.0, steps=2)
    assert np.isfinite(m.joints).all()


@pytest.mark.slow
def test_gpu_train_sh_finemogen_tiny(tmp_path):
    corpus = _script_module("gpu_check").write_corpus(tmp_path / "corpus", 12)
    proc = _script("gpu_train.sh", "--tiny", "--model", "finemogen", "--data", str(corpus), "--work",
                   str(tmp_path / "work"), out=tmp_path / "out")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert json.loads((tmp_path / "out" / "summary.json").read_text())["model"] == "finemogen"
    assert (tmp_path / "out" / "model" / "config.json").is_file()


def test_training_defaults_are_the_papers_and_our_additions_are_switches():
    """Both papers predict x0; HiSTF adds its geometric losses (appendix A.2, eq. 8), FineMoGen and MDM do not;
    mirroring and rewording are ours. The CPU configs pin the settings their shipped/comparison runs used."""
    from pathlib import Path

    from motiongen.train.trainer import PAPER_GEOMETRIC_LOSSES, TrainConfig, load_train_config
    for model in ("finemogen", "histf", "baseline"):
        cfg = load_train_config(None, {"model": model})
        assert cfg.parameterization == "x0" and cfg.mirror == 0.0 and cfg.reword is False
        losses = (cfg.loss_pos, cfg.loss_vel, cfg.loss_foot)
        assert losses == ((5.0, 200.0, 200.0) if model == "histf" else (0.0, 0.0, 0.0)), model
    assert PAPER_GEOMETRIC_LOSSES["histf"]["loss_pos"] == 5.0
    assert TrainConfig(model="histf", loss_pos=0).loss_pos == 0.0               # a given weight wins
    with pytest.raises(TrainError, match="loss_vel: expected a number"):
        load_train_config(None, {"model": "histf", "loss_vel": "lots"})
    configs = Path(__file__).resolve().parents[1] / "configs"
    for name, losses in (("finemogen_cpu_small", (5.0, 200.0, 200.0)), ("histf_cpu_small", (5.0, 200.0, 200.0)),
                         ("baseline_cpu_small", (0.0, 0.0, 0.0))):
        cfg = load_train_config(configs / f"{name}.toml")
        assert (cfg.parameterization, cfg.mirror, cfg.reword) == ("skip", 0.5, True), name
        assert (cfg.loss_pos, cfg.loss_vel, cfg.loss_foot) == losses, name


def test_shipped_checkpoints_keep_their_pinned_skip_parameterisation():
    from motiongen.pipeline import PACKAGED_MODELS, MotionPipeline
    for name in ("default", "histf"):
        if (PACKAGED_MODELS / name / "config.json").is_file():
            assert MotionPipeline.from_pretrained(name if name != "default" else None).diffusion.parameterization \
                == "skip"


def test_read_log_reads_the_training_log_by_its_header(tmp_path):
    """scripts/gpu_check.py and gpu_train.py read log.csv through read_log: by column name, not position."""
    from motiongen.train.trainer import LOG_COLUMNS, read_log
    assert LOG_COLUMNS[:2] == ("step", "loss") and "steps_per_s" in LOG_COLUMNS
    (tmp_path / "log.csv").write_text("steps_per_s,step,lr,loss\n2.5,10,0.001,0.75\n3.0,20,0.001,0.5\n")
    rows = read_log(tmp_path)                                   # a run folder, or the file itself
    assert rows == read_log(tmp_path / "log.csv")
    assert [(r["step"], r["loss"], r["steps_per_s"]) for r in rows] == [(10, 0.75, 2.5), (20, 0.5, 3.0)]
