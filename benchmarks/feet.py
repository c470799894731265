"""Feet as animators see them: the model's raw output, the export (the foot pass of motion/cleanup.py) and real
clips of the same actions, side by side, grouped by action (walks, runs, turns, in place).

Real clips come from the test split of a corpus built by ``motiongen data build`` (captions give the action);
each generated motion is sampled from the clip's first caption at the clip's length (at most --max-seconds).
Per group and overall it prints the mean of :func:`motiongen.evaluate.physical.foot_metrics` over clips (and
seeds): our skating ratio, GMD / OmniControl's skating ratio and skate speed, penetration, floating, toe
acceleration, the legs' share of power above 4 Hz, plus the real clips after the foot pass ("real+pass": what the
pass does to motion that needs none).

    PYTHONPATH=src python -m motiongen.cli data build --source ../shared/data/bvh --out /tmp/feet-corpus
    PYTHONPATH=src python benchmarks/feet.py --corpus /tmp/feet-corpus                 # 3 clips per action, 1 seed
    PYTHONPATH=src python benchmarks/feet.py --corpus /tmp/feet-corpus --clips 20 --seeds 3
    PYTHONPATH=src python benchmarks/feet.py --corpus /tmp/feet-corpus --foot max_correction=0.25   # other settings
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np

from motiongen.evaluate.physical import foot_metrics
from motiongen.evaluate.quality import is_locomotion
from motiongen.motion.cleanup import FootSettings, contacts_from_features, plant_feet
from motiongen.motion.features import recover_joints_from_features

GROUPS = ("walks", "runs", "turns", "in place")
SHOWN = ("skating", "skating_gmd", "skate_speed_cm_s", "penetration_cm", "floating_cm", "toe_acc_peak",
         "toe_acc_mean", "leg_high_freq", "feet_low_share", "airborne_share", "foot_jump_cm")


def action_of(caption: str) -> str | None:
    c = caption.lower()
    if re.search(r"\bturn", c):
        return "turns"
    if re.search(r"\b(run|runs|running|jog|jogs|jogging|sprint\w*|dash\w*)\b", c):
        return "runs"
    if re.search(r"\b(walk\w*|stroll\w*|march\w*|wander\w*|amble\w*|saunter\w*|strid\w*|strut\w*|limp\w*)\b", c):
        return "walks"
    if not is_locomotion(c) or re.search(r"\b(in place|on the spot)\b", c):
        return "in place"
    return None


def first_caption(path: Path) -> str:
    return path.read_text().splitlines()[0].split("#")[0].strip()


def pick_clips(corpus: Path, per_group: int, min_frames: int = 40) -> dict[str, list[str]]:
    ids = (corpus / "test.txt").read_text().split()
    picked: dict[str, list[str]] = {g: [] for g in GROUPS}
    for sid in ids:                      # the split's own order: deterministic, spread over sources
        txt = corpus / "texts" / f"{sid}.txt"
        if not txt.is_file():
            continue
        g = action_of(first_caption(txt))
        if g and len(picked[g]) < per_group:
            if len(np.load(corpus / "new_joint_vecs" / f"{sid}.npy", mmap_mode="r")) >= min_frames:
                picked[g].append(sid)
    return picked


def mean_metrics(rows: list[dict]) -> dict:
    return {k: float(np.mean([r[k] for r in rows])) for k in SHOWN} if rows else {}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", required=True, type=Path, help="a corpus folder (motiongen data build)")
    ap.add_argument("--model", default=None, help="model folder (default: the packaged model)")
    ap.add_argument("--clips", type=int, default=3, help="clips per action (default 3)")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per clip (default 1)")
    ap.add_argument("--max-seconds", type=float, default=6.0)
    ap.add_argument("--sampler"), ap.add_argument("--steps", type=int), ap.add_argument("--guidance", type=float)
    ap.add_argument("--json", type=Path, help="also write the table here")
    ap.add_argument("--foot", action="append", default=[], metavar="KEY=VALUE",
                    help="a FootSettings field for the export and real+pass columns, e.g. max_correction=0.25")
    a = ap.parse_args(argv)
    try:
        overrides = {k: float(v) for k, v in (o.split("=", 1) for o in a.foot)}
        settings = replace(FootSettings(), **{k: type(getattr(FootSettings(), k))(v) for k, v in overrides.items()})
    except (ValueError, TypeError, AttributeError) as e:
        print(f"error: --foot {a.foot}: expected FootSettings fields as KEY=NUMBER ({e})", file=sys.stderr)
        return 2
    if not (a.corpus / "test.txt").is_file():
        print(f"error: --corpus {a.corpus}: no test.txt (build one with motiongen data build)", file=sys.stderr)
        return 2
    from motiongen.pipeline import MotionPipeline, Prompt
    pipe = MotionPipeline.from_pretrained(a.model)
    picked = pick_clips(a.corpus, a.clips)
    table: dict[str, dict[str, dict]] = {}
    allrows: dict[str, list] = {"raw": [], "export": [], "real": [], "real+pass": []}
    for group, sids in picked.items():
        rows: dict[str, list] = {k: [] for k in allrows}
        prompts = []
        for sid in sids:
            feats = np.load(a.corpus / "new_joint_vecs" / f"{sid}.npy")
            real = recover_joints_from_features(feats)
            rows["real"].append(foot_metrics(real))
            rows["real+pass"].append(foot_metrics(plant_feet(real, contacts_from_features(feats),
                                                              settings=settings)))
            secs = min(len(feats) / 20.0, a.max_seconds)
            prompts.append(Prompt(first_caption(a.corpus / "texts" / f"{sid}.txt"), secs))
        if prompts:
            motions = pipe.generate(prompts, num_samples=a.seeds, seed=0, cleanup=False, literal=True,
                                    sampler=a.sampler, steps=a.steps, guidance_scale=a.guidance)
            for m in motions:
                raw, _ = pipe.joints_for(m.features, cleanup=False)
                if a.foot:                            # the pipeline's pass (as joints_for) with other settings
                    exported = plant_feet(raw, contacts_from_features(m.features), settings=settings)
                else:
                    exported, _ = pipe.joints_for(m.features, cleanup=True)   # exactly what is exported
                rows["raw"].append(foot_metrics(raw))
                rows["export"].append(foot_metrics(exported))
        table[group] = {k: mean_metrics(v) for k, v in rows.items()}
        for k in allrows:
            allrows[k] += rows[k]
        table[group]["clips"] = sids
    table["all"] = {k: mean_metrics(v) for k, v in allrows.items()}
    cols = ("raw", "export", "real", "real+pass")
    for group, t in table.items():
        n = len(t.get("clips", [])) if group != "all" else sum(len(table[g]["clips"]) for g in GROUPS)
        if not t.get("real"):
            continue
        print(f"\n{group} ({n} real clips, {n * a.seeds} generated)")
        print(f"  {'':18s}" + "".join(f"{c:>11s}" for c in cols) + "   export/real")
        for k in SHOWN:
            vals = [t[c][k] for c in cols]
            ratio = vals[1] / vals[2] if vals[2] > 1e-9 else float("nan")
            print(f"  {k:18s}" + "".join(f"{v:11.3f}" for v in vals) + f"   {ratio:8.2f}")
    if a.json:
        a.json.write_text(json.dumps(table, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
