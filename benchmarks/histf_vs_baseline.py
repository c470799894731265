"""HiSTF Mamba against the MDM-style baseline, trained the same way, in one table (issue 31, item 3).

    PYTHONPATH=src python benchmarks/histf_vs_baseline.py --data corpus --evaluator runs/evaluator \\
        --out /tmp/histf-vs --steps 850 --batch 16 --minutes 25 [--models histf baseline histf-token]

Two comparisons, each model from its comparison config (``configs/histf_cpu_small.toml``,
``configs/baseline_cpu_small.toml``: learning rate, schedule, EMA, losses, width) with the batch overridden:

* ``steps``: every model trains ``--steps`` steps at batch ``--batch`` (the same examples seen, in the same order:
  the data order depends on the seed only) -- is it learning as well per example?
* ``clock``: every model trains at batch ``--batch`` for ``--minutes`` of wall-clock (its config's step count is
  the cosine schedule's length; training stops at the budget) -- what does the same machine time buy?

Then each run folder is evaluated (``motiongen evaluate``'s FID / R-precision / MM-Dist on ``--split``, with the
evaluator of ``--evaluator``; skipped, and said so, without one) and given the prompts "a person raises the left
hand" / "... right hand" from the same seeds: the left-minus-right wrist height of each (metres; a model that
follows the text gives opposite signs). ``histf-token`` is HiSTF with the packaged model's conditioning (one
prepended condition token only: ``condition_every_block = false``, ``condition_norm = false``).
Runs go to ``--out/<mode>-<model>`` (must not exist yet, or pass ``--reuse`` to evaluate runs already there).
"""
from __future__ import annotations

import argparse
import csv
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = {"histf": ("configs/histf_cpu_small.toml", {}),
           "histf-token": ("configs/histf_cpu_small.toml", {"condition_every_block": False, "condition_norm": False}),
           "baseline": ("configs/baseline_cpu_small.toml", {})}
LEFT, RIGHT = "a person raises the left hand", "a person raises the right hand"


def train_one(name: str, mode: str, args, run: Path) -> dict:
    from motiongen.train.trainer import load_train_config, train
    path, extra = CONFIGS[name]
    cfg = load_train_config(ROOT / path, {"data": args.data, "out": str(run), "batch_size": args.batch,
                                          "seed": args.seed, "device": args.device})
    cfg.model_config = {**cfg.model_config, **extra}
    if mode == "steps":
        cfg.steps, cfg.max_minutes = args.steps, 0.0
    else:
        cfg.max_minutes = args.minutes
    cfg.checkpoint_every = max(1, min(cfg.checkpoint_every, cfg.steps))
    t0 = time.perf_counter()
    if not (args.reuse and (run / "config.json").is_file()):
        train(cfg, progress=not args.quiet)
    return {"train_s": time.perf_counter() - t0 if not args.reuse else float("nan")}   # includes loading


def run_figures(run: Path) -> dict:
    """Steps done (the saved model's, from its config.json) and the last logged loss of a run folder (the log
    has a row every ``log_every`` steps; a run stopped by its time budget may end between rows)."""
    import json
    steps = int(json.loads((run / "config.json").read_text())["training"]["steps"])
    rows = list(csv.DictReader((run / "log.csv").open())) if (run / "log.csv").is_file() else []
    out = {"steps": steps, "loss": float(rows[-1]["loss"]) if rows else None,
           "loss_step": int(rows[-1]["step"]) if rows else 0, "s_per_step": None}
    if rows:      # the log's own speed: each row's steps since the previous row over its steps/s
        done = np.diff([0] + [int(r["step"]) for r in rows])
        secs = done / np.maximum([float(r["steps_per_s"]) for r in rows], 1e-9)
        out["s_per_step"] = float(secs.sum() / done.sum())
    return out


def left_right(run: Path, seeds: int, steps: int | None) -> tuple[float, float]:
    from motiongen.pipeline import MotionPipeline
    pipe = MotionPipeline.from_pretrained(run)
    gaps = {}
    for text in (LEFT, RIGHT):
        ms = pipe.generate([text] * seeds, seconds=4.0, seed=0, steps=steps)
        gaps[text] = float(np.mean([(m.joints[:, 20, 1] - m.joints[:, 21, 1]).mean() for m in ms]))
    return gaps[LEFT], gaps[RIGHT]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="corpus folder (motiongen data build) or HumanML3D layout")
    ap.add_argument("--evaluator", help="evaluator folder (motiongen train-evaluator); without it no metrics")
    ap.add_argument("--out", required=True, help="folder for the runs")
    ap.add_argument("--models", nargs="+", default=["histf", "baseline"], choices=list(CONFIGS))
    ap.add_argument("--modes", nargs="+", default=["steps", "clock"], choices=["steps", "clock"])
    ap.add_argument("--steps", type=int, default=850)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--minutes", type=float, default=25.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--split", default="test")
    ap.add_argument("--replications", type=int, default=3)
    ap.add_argument("--max-items", type=int, help="evaluate on this many items of the split (quick runs)")
    ap.add_argument("--eval-steps", type=int, help="sampler steps for evaluation (default: each model's own)")
    ap.add_argument("--lr-seeds", type=int, default=4, help="seeds per left/right prompt")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--reuse", action="store_true", help="evaluate the runs already in --out instead of training")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if not Path(args.data).is_dir():
        sys.exit(f"error: --data '{args.data}' is not a folder")
    if args.evaluator and not Path(args.evaluator).is_dir():
        sys.exit(f"error: --evaluator '{args.evaluator}' is not a folder")
    out = Path(args.out)
    runs = {}
    for mode in args.modes:
        for name in args.models:
            run = out / f"{mode}-{name}"
            if run.exists() and any(run.iterdir()) and not args.reuse:
                sys.exit(f"error: '{run}' exists and is not empty (pass --reuse to evaluate it, or another --out)")
            fig = train_one(name, mode, args, run)
            runs[run] = {"mode": mode, "model": name, **fig, **run_figures(run)}
    metrics = {}
    if args.evaluator:
        from motiongen.evaluate.runner import evaluate_models
        res = evaluate_models([str(r) for r in runs], args.data, args.evaluator, split=args.split,
                              replications=args.replications, mm_texts=0, max_items=args.max_items,
                              seed=args.seed, steps=args.eval_steps, progress=not args.quiet)
        metrics = res["rows"]
    from motiongen.models.pretrained import load_model_dir
    print(f"\ndata {args.data}, batch {args.batch}, seed {args.seed}; steps mode: {args.steps} steps; clock mode: "
          f"{args.minutes} min; metrics on the {args.split} split"
          + (f", {args.replications} replications" if args.evaluator else " (no --evaluator: not evaluated)")
          + (f"; sampling with {args.eval_steps} steps" if args.eval_steps else "; each model's own sampler")
          + ". run min: the training call with its loading; s/step: the training log's own speed; loss: the last"
            " logged row")
    head = ["mode", "model", "params", "steps", "examples", "run min", "s/step", "loss (at step)", "top-1", "FID",
            "MM-Dist", "L-R wrist, L prompt", "L-R wrist, R prompt"]
    print("| " + " | ".join(head) + " |")
    print("|---" * len(head) + "|")
    for run, r in runs.items():
        model, *_ = load_model_dir(run)
        row = metrics.get(run.name, {})

        def cell(k, digits=3, row=row):
            return f"{row[k][0]:.{digits}f}" if k in row else "-"
        gl, gr = left_right(run, args.lr_seeds, args.eval_steps)
        run_min = "-" if args.reuse else f"{r['train_s'] / 60:.1f}"
        sps = "-" if r["s_per_step"] is None else f"{r['s_per_step']:.2f}"
        loss = "-" if r["loss"] is None else f"{r['loss']:.3f} ({r['loss_step']})"
        print(f"| {r['mode']} | {r['model']} | {model.num_parameters() / 1e6:.2f}M | {r['steps']} | "
              f"{r['steps'] * args.batch} | {run_min} | {sps} | {loss} | "
              f"{cell('top1')} | {cell('fid', 2)} | {cell('mm_dist', 2)} | {gl:+.3f} | {gr:+.3f} |")
    if "Real motions" in metrics:
        real = metrics["Real motions"]
        print(f"\nreal motions: top-1 {real['top1'][0]:.3f}, FID {real['fid'][0]:.2f}, MM-Dist {real['mm_dist'][0]:.2f}")


if __name__ == "__main__":
    main()
