"""The prepared check for a lent GPU (scripts/gpu_check.sh runs it): every figure it prints is measured there.

    python scripts/gpu_check.py --out DIR [--tiny] [--models finemogen histf baseline] [--parts train ddp sample compare]
                                [--train-seconds 60] [--batch 64]

Parts (each one's figures go to DIR/report.json and DIR/report.md; a part that fails is reported, the rest run):

* ``train``: each model at paper size (its config's defaults; text width 512 as CLIP ViT-B/32) through the real
  ``motiongen.train.trainer.train`` for at most ``--train-seconds`` (or 300 steps), bf16 autocast on CUDA, batch
  ``--batch``: steps/s, peak GPU memory, loss at the start and the end (falling?), finite, and HiSTF's scan choice.
* ``ddp``: ``torchrun --nproc_per_node 2`` on the one device (gloo when the ranks share a GPU); both ranks must end
  with identical weights, each on the device its LOCAL_RANK names.
* ``sample``: AITS (batch 1, 10 DPM-Solver++ steps, 196 frames, text encoding included, loading excluded, export
  cleanup off) and motions/s at batch ``--batch`` from the weights just trained, beside the papers' figures.
* ``compare``: the same weights, prompts and seeds (DDIM, 10 steps, fp32) on CUDA and on the CPU: the largest
  difference of the outputs (features), which must stay under 1% of their largest value.

The data are synthetic (no corpus or text-encoder weights travel to a GPU machine): a corpus in the HumanML3D
layout whose motions are smooth signals tied to their captions' wording, and a randomly initialised CLIP text tower
of the papers' size (12 layers, width 512) built from its config. Throughput and memory do not depend on the
values; the loss falls where training works. ``--tiny``: tiny models and data on the CPU, seconds, for the test
suite (so the script cannot rot).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

MODELS = ("finemogen", "histf", "baseline")
PARTS = ("train", "ddp", "sample", "compare")
# Published figures the check is set against (the papers' own GPUs; "" where a paper gives none).
PAPER = {"histf": {"aits_s": 0.28, "gpu": "RTX 4090", "batch": 64, "source": "HiSTF Mamba, sec. 4.1 / app. A.1"},
         "finemogen": {"aits_s": None, "gpu": "Tesla V100", "batch": 128, "source": "FineMoGen, sec. 4 (no AITS)"},
         "baseline": {"aits_s": None, "gpu": "", "batch": None, "source": "motiongen's transformer baseline"}}
# the tiny models of --tiny: configs/tiny_<model>.toml
TINY_MODELS = {name: ROOT / "configs" / f"tiny_{name}.toml" for name in MODELS}
WORDS = [("walks forward", 0.8), ("runs in a circle", 2.0), ("waves the right hand", 1.3), ("jumps twice", 1.6),
         ("sits down slowly", 0.4), ("turns to the left", 0.6), ("kicks with the left leg", 1.1),
         ("dances happily", 2.4)]


# ---- synthetic inputs ---------------------------------------------------------------------------------------
def write_corpus(root: Path, items: int, seed: int = 0, feature_dim: int = 263) -> Path:
    """A HumanML3D-layout corpus of ``items`` motions (40..199 frames): per caption class a frequency, per item a
    phase and amplitudes, so the caption tells the model something about the motion."""
    from motiongen.data.dataset import Caption, write_texts
    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True, exist_ok=True)
    (root / "texts").mkdir(exist_ok=True)
    ids, all_frames = [], []
    for i in range(items):
        k = i % len(WORDS)
        words, hz = WORDS[k]
        T = int(rng.integers(40, 200))
        t = np.arange(T)[:, None] / 20.0
        amp = rng.normal(size=(1, feature_dim)) * 0.5
        phase = rng.uniform(0, 2 * np.pi, size=(1, feature_dim))
        motion = (amp * np.sin(2 * np.pi * hz * t + phase) + 0.05 * rng.normal(size=(T, feature_dim)))
        mid = f"{i:06d}"
        np.save(root / "new_joint_vecs" / f"{mid}.npy", motion.astype(np.float32))
        write_texts(root / "texts" / f"{mid}.txt", [Caption(f"a person {words}", tuple(f"a person {words}".split()))])
        ids.append(mid)
        all_frames.append(motion)
    stacked = np.concatenate(all_frames)
    np.save(root / "Mean.npy", stacked.mean(0).astype(np.float32))
    np.save(root / "Std.npy", (stacked.std(0) + 1e-3).astype(np.float32))
    for split in ("train", "val", "test"):
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


# ---- parts ----------------------------------------------------------------------------------------------------
def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def part_train(args, ctx) -> dict:
    from motiongen.models.histf.ssm import SelectiveSSM
    from motiongen.train.trainer import load_train_config, read_log, train
    out = {}
    for name in args.models:
        run = ctx["work"] / f"run-{name}"
        cfg = load_train_config(TINY_MODELS[name] if args.tiny else None, {
            "model": name, "data": str(ctx["corpus"]),
            "out": str(run), "text_encoder": "clip", "clip_path": str(ctx["clip"]), "steps": args.steps,
            "batch_size": args.batch, "lr": 2e-4, "warmup_steps": 10 if not args.tiny else 1, "schedule": "constant",
            "log_every": args.log_every, "checkpoint_every": 10 ** 6, "max_minutes": args.train_seconds / 60,
            "amp": ctx["device"].type == "cuda", "device": "auto", "seed": 0})
        if ctx["device"].type == "cuda":
            torch.cuda.reset_peak_memory_stats(ctx["device"])
        t0 = time.perf_counter()
        res = {"batch": args.batch, "amp": "bf16" if cfg.amp else "off"}
        try:
            _, model = train(cfg, progress=False, return_model=True)
            _sync(ctx["device"])
            res["ok"] = True
        except Exception as e:                    # reported, and the other models still run
            res.update(ok=False, error=f"{type(e).__name__}: {e}", traceback=traceback.format_exc()[-3000:])
            out[name] = res
            continue
        wall = time.perf_counter() - t0
        rows = read_log(run)
        steps = [int(r["step"]) for r in rows]
        loss = [r["loss"] for r in rows]
        sps = [r["steps_per_s"] for r in rows]
        k = max(1, len(loss) // 4)
        res.update(steps=steps[-1], wall_s=round(wall, 1), parameters_M=round(model.num_parameters() / 1e6, 2),
                   steps_per_s=round(float(np.median(sps[1:] if len(sps) > 1 else sps)), 3),
                   samples_per_s=round(float(np.median(sps[1:] if len(sps) > 1 else sps)) * args.batch, 1),
                   loss_start=round(float(np.mean(loss[:k])), 4), loss_end=round(float(np.mean(loss[-k:])), 4),
                   finite=bool(np.isfinite(loss).all()))
        res["loss_falling"] = res["loss_end"] < res["loss_start"]
        if ctx["device"].type == "cuda":
            res["peak_memory_GiB"] = round(torch.cuda.max_memory_allocated(ctx["device"]) / 2 ** 30, 2)
        if name == "histf":
            choices = {}
            for m in model.modules():
                if isinstance(m, SelectiveSSM):
                    for (shape, grad, _dev), (mode, chunk) in m._auto_choice.items():
                        key = f"{'train' if grad else 'eval'} {tuple(shape)}"
                        choices[key] = f"{mode}" + (f" (chunk {chunk})" if mode == "chunked" else "")
            res["scan_choices"] = choices or {"all": "sequential (CPU)" if ctx["device"].type == "cpu" else "?"}
        ctx.setdefault("runs", {})[name] = run
        out[name] = res
        del model
        if ctx["device"].type == "cuda":
            torch.cuda.empty_cache()
    return out


def ddp_worker(corpus: str, clip: str, result_dir: str, tiny: bool) -> None:
    """One torchrun rank: a few steps of a small baseline, then its weights and device to result_dir."""
    from motiongen.train.trainer import load_train_config, train
    torch.set_num_threads(1)
    rank = int(os.environ["RANK"])
    cfg = load_train_config(TINY_MODELS["baseline"], {"model": "baseline", "data": corpus,
                                   "out": str(Path(result_dir) / "run"), "text_encoder": "clip", "clip_path": clip,
                                   "steps": 4, "batch_size": 8, "warmup_steps": 1, "log_every": 1,
                                   "checkpoint_every": 100, "device": "auto", "seed": 0})
    _, model = train(cfg, progress=False, return_model=True)
    dev = next(model.parameters()).device
    torch.save({"device": str(dev), "local_rank": os.environ.get("LOCAL_RANK"),
                "weights": {k: v.detach().cpu() for k, v in model.state_dict().items()}},
               Path(result_dir) / f"rank{rank}.pt")


def part_ddp(args, ctx) -> dict:
    result = ctx["work"] / "ddp"
    result.mkdir(exist_ok=True)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__,
           "--ddp-worker", str(ctx["corpus"]), str(ctx["clip"]), str(result)] + (["--tiny"] if args.tiny else [])
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(
        [str(ROOT / "src")] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=args.ddp_timeout)
    res = {"command": "torchrun --standalone --nproc_per_node 2 (baseline, 4 steps)", "rc": proc.returncode,
           "wall_s": round(time.perf_counter() - t0, 1)}
    if proc.returncode != 0:
        res.update(ok=False, stderr=proc.stderr[-3000:])
        return res
    r0, r1 = (torch.load(result / f"rank{r}.pt", weights_only=True) for r in (0, 1))
    same = all(torch.equal(r0["weights"][k], r1["weights"][k]) for k in r0["weights"])
    res.update(ok=same, identical_weights=same, devices=[r0["device"], r1["device"]],
               local_ranks=[r0["local_rank"], r1["local_rank"]])
    return res


def _prompts(n: int) -> list[str]:
    return [f"a person {WORDS[i % len(WORDS)][0]}" for i in range(n)]


def part_sample(args, ctx) -> dict:
    from motiongen.pipeline import MotionPipeline
    out = {}
    for name, run in ctx.get("runs", {}).items():
        pipe = MotionPipeline.from_pretrained(run, device=ctx["device"], clip_path=str(ctx["clip"]))
        kw = dict(sampler="dpm", steps=args.sample_steps, cleanup=False)
        pipe.generate(_prompts(1)[0], args.seconds, **kw)                        # warm-up
        texts = _prompts(args.sentences)
        t0 = time.perf_counter()
        for i, t in enumerate(texts):
            pipe.generate(t, args.seconds, seed=i, **kw)
        aits = (time.perf_counter() - t0) / len(texts)
        batch = _prompts(args.batch)
        pipe.generate(batch[:2], args.seconds, batch_size=args.batch, **kw)       # warm-up of the batched shapes
        t0 = time.perf_counter()
        pipe.generate(batch, args.seconds, batch_size=args.batch, **kw)
        mps = args.batch / (time.perf_counter() - t0)
        out[name] = {"aits_s": round(aits, 4), f"motions_per_s_batch{args.batch}": round(mps, 2),
                     "steps": args.sample_steps, "frames": int(round(args.seconds * 20)),
                     "paper_aits_s": PAPER[name]["aits_s"], "paper_gpu": PAPER[name]["gpu"],
                     "paper_source": PAPER[name]["source"]}
    return out


def part_compare(args, ctx) -> dict:
    """CUDA against CPU; without CUDA (``--tiny``) the CPU against itself, which only exercises this code."""
    from motiongen.pipeline import MotionPipeline
    first = "cuda" if ctx["device"].type == "cuda" else "cpu"
    out = {"devices": f"{first} vs cpu" + ("" if first == "cuda" else " (no CUDA: exercises the code only)")}
    for name, run in ctx.get("runs", {}).items():
        feats = []
        for dev in (first, "cpu"):
            pipe = MotionPipeline.from_pretrained(run, device=dev, clip_path=str(ctx["clip"]))
            ms = pipe.generate(_prompts(2), args.seconds, sampler="ddim", steps=10, cleanup=False, seed=3)
            feats.append(np.stack([m.features for m in ms]))
        diff = np.abs(feats[0] - feats[1])
        scale = float(np.abs(feats[1]).max())
        out[name] = {"max_abs_diff": float(diff.max()), "max_abs_value": scale,
                     "relative": float(diff.max() / max(scale, 1e-12)), "ok": bool(diff.max() <= 1e-2 * scale)}
    return out


# ---- driver ---------------------------------------------------------------------------------------------------
def environment() -> dict:
    env = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.cuda.is_available(),
           "cpus": os.cpu_count()}
    if torch.cuda.is_available():
        env["gpu"] = torch.cuda.get_device_name(0)
        env["gpu_memory_GiB"] = round(torch.cuda.get_device_properties(0).total_memory / 2 ** 30, 1)
        env["gpus"] = torch.cuda.device_count()
    try:
        import mamba_ssm  # noqa: F401
        env["mamba_ssm"] = "installed: HiSTF's auto scan uses its CUDA kernel"
    except Exception as e:
        env["mamba_ssm"] = f"not installed ({type(e).__name__}): HiSTF's auto scan uses the PyTorch scans"
    return env


def write_report(path: Path, report: dict) -> None:
    (path / "report.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    lines = ["# motiongen GPU check", "", f"command: `{report['command']}`", "",
             "environment: " + ", ".join(f"{k} {v}" for k, v in report["environment"].items()), ""]
    for part in PARTS:
        if part not in report:
            continue
        lines += [f"## {part}", "", "```", json.dumps(report[part], indent=2, default=str), "```", ""]
    lines.append(f"total: {report['total_s']} s; failures: {report['failures'] or 'none'}")
    (path / "report.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/gpu-check"))
    ap.add_argument("--tiny", action="store_true", help="tiny models and data on the CPU (the test suite's run)")
    ap.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    ap.add_argument("--parts", nargs="+", choices=PARTS, default=list(PARTS))
    ap.add_argument("--train-seconds", type=float, default=50.0)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--items", type=int, default=512, help="motions in the synthetic corpus")
    ap.add_argument("--sentences", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=9.8)
    ap.add_argument("--sample-steps", type=int, default=10)
    ap.add_argument("--log-every", type=int, default=10)
    ap.add_argument("--ddp-timeout", type=float, default=240.0)
    ap.add_argument("--ddp-worker", nargs=3, metavar=("CORPUS", "CLIP", "RESULT"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.ddp_worker:
        ddp_worker(*args.ddp_worker, tiny=args.tiny)
        return 0
    if args.tiny:
        args.steps, args.batch, args.items, args.sentences = min(args.steps, 6), min(args.batch, 4), 16, 1
        args.seconds, args.sample_steps, args.log_every = 2.0, 2, 2
        args.train_seconds = min(args.train_seconds, 30.0)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    work = Path(os.environ.get("GPU_CHECK_WORK", "/tmp/motiongen-gpu-check"))
    import shutil

    from motiongen.text.random_clip import write_random_clip
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    t_start = time.perf_counter()
    device = torch.device("cuda" if torch.cuda.is_available() and not args.tiny else "cpu")
    ctx = {"work": work, "device": device,
           "corpus": write_corpus(work / "corpus", args.items),
           "clip": write_random_clip(work / "clip", *((32, 1, 2) if args.tiny else (512, 12, 8)))}
    report = {"command": "python scripts/gpu_check.py " + " ".join(argv if argv is not None else sys.argv[1:]),
              "environment": environment(), "device": str(device)}
    print(json.dumps(report["environment"]), flush=True)
    failures = []
    for part in PARTS:
        if part not in args.parts:
            continue
        t0 = time.perf_counter()
        try:
            report[part] = globals()[f"part_{part}"](args, ctx)
        except Exception as e:
            report[part] = {"ok": False, "error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
        res = report[part]
        bad = [k for k, v in res.items() if isinstance(v, dict) and v.get("ok") is False]
        if res.get("ok") is False or bad:
            failures.append(part + (f" ({', '.join(bad)})" if bad else ""))
        print(f"{part}: {time.perf_counter() - t0:.1f} s {json.dumps(res, default=str)[:2000]}", flush=True)
        write_report(out, {**report, "total_s": round(time.perf_counter() - t_start, 1), "failures": failures})
    report.update(total_s=round(time.perf_counter() - t_start, 1), failures=failures)
    write_report(out, report)
    print(f"report: {out / 'report.md'} ({report['total_s']} s; failures: {failures or 'none'})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
