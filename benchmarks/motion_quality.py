"""Motion quality of a model's output beside real clips of the corpus test split (issue: usable animation).

    python benchmarks/motion_quality.py [--model DIR ...] [--data corpus] [--max-clips 48] [--samples 3]
                                        [--captions original|paraphrased] [--seed 0]

For each test clip (its first caption, its length up to 196 frames) every model generates ``--samples`` motions
with seeds seed, seed+1, ...; the real row measures the clips themselves. Figures (means over motions; see
motiongen.evaluate.quality): jerk, share of power above 4 Hz, foot skating, floor penetration, floating, bone-length
CV, root speed (all / locomotion captions / in-place captions), drift of in-place actions, the seed spread
of one caption relative to the spread between real clips that share a caption, and the share of motions that pass
a rule-based check of their (original) caption (motiongen.evaluate.quality.action_check: turns turn the named way,
travel travels, raised or waving hands are the named ones). The raw model output (what the
targets are about) and the foot-cleaned export are reported apart. ``--model`` defaults to the shipped model;
``--captions paraphrased`` swaps each caption for the frozen wording of benchmarks/data/paraphrases_test.json.
Ablations: ``--x0-lowpass HZ`` samples with another band limit of the x0 estimate than the model folder's
(0 = none; motiongen.diffusion.bandlimit), ``--ric-joints`` measures the joints as the ric channels give them,
without the fixed bone lengths (motiongen.motion.features.rigid_bone_lengths).
"""
from __future__ import annotations

import argparse
import collections
import json
import re
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


def paraphrase(caption: str, rules: list[dict]) -> str | None:
    """The frozen rewording of ``caption``: the text of the first rule whose ``match`` regex finds it, else None."""
    for r in rules:
        if re.search(r["match"], caption.lower()):
            return r["text"]
    return None


def load_clips(data: str, split: str, max_clips: int | None):
    from motiongen.data.dataset import load_split_ids, read_texts
    root = Path(data)
    clips = []
    for cid in load_split_ids(root, split):
        caps = read_texts(root / "texts" / f"{cid}.txt")
        whole = [c for c in caps if c.start == 0 and c.end == 0]
        if not whole:
            continue
        feats = np.load(root / "new_joint_vecs" / f"{cid}.npy")[:196]
        if len(feats) < 20:
            continue
        clips.append({"id": cid, "caption": whole[0].text, "features": feats})
    clips.sort(key=lambda c: c["id"])
    if max_clips:                      # an even sample over the split (ids are hashes, so any order is fair)
        idx = np.linspace(0, len(clips) - 1, min(max_clips, len(clips))).round().astype(int)
        clips = [clips[i] for i in sorted(set(idx))]
    return clips


def summarise(rows: list[dict], captions: list[str]) -> dict:
    from motiongen.evaluate.quality import is_locomotion
    out = {}
    for key in ("jerk", "high_freq", "foot_skating", "penetration", "floating", "bone_cv", "root_speed"):
        out[key] = float(np.mean([r[key] for r in rows]))
    loco = [r for r, c in zip(rows, captions) if is_locomotion(c)]
    still = [r for r, c in zip(rows, captions) if not is_locomotion(c)]
    out["root_speed_locomotion"] = float(np.mean([r["root_speed"] for r in loco])) if loco else float("nan")
    out["root_speed_in_place"] = float(np.mean([r["root_speed"] for r in still])) if still else float("nan")
    out["drift_in_place"] = float(np.mean([r["drift"] for r in still])) if still else float("nan")
    checked = [r["action_ok"] for r in rows if r.get("action_ok") is not None]
    out["action_ok"] = float(np.mean(checked)) if checked else float("nan")
    return out


def real_spread(clips) -> float:
    from motiongen.evaluate.quality import spread
    from motiongen.motion.features import recover_joints_from_features
    groups = collections.defaultdict(list)
    for c in clips:
        groups[" ".join(c["caption"].lower().split()).strip(".")].append(c)
    vals = [spread([recover_joints_from_features(c["features"]) for c in g]) for g in groups.values() if len(g) > 1]
    return float(np.mean(vals)) if vals else float("nan")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", nargs="*", default=None, help="model directories (default: the shipped model)")
    ap.add_argument("--data", default="corpus")
    ap.add_argument("--split", default="test")
    ap.add_argument("--max-clips", type=int, default=48)
    ap.add_argument("--samples", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--captions", choices=["original", "paraphrased"], default="original")
    ap.add_argument("--json", help="also write the figures here")
    ap.add_argument("--x0-lowpass", type=float, default=None, metavar="HZ",
                    help="ablation: band limit of the x0 estimate while sampling (default: the model's own; 0 = off)")
    ap.add_argument("--sampler", default=None, help="ddim | dpm | ddpm (default: the model's)")
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    ap.add_argument("--guidance", type=float, default=None, help="ablation: guidance scale (default: the model's)")
    ap.add_argument("--ric-joints", action="store_true",
                    help="ablation: joints from the ric channels as decoded, without fixed bone lengths")
    args = ap.parse_args(argv)

    from motiongen.evaluate.quality import action_check, motion_quality, spread
    from motiongen.motion.features import recover_joints_from_features
    from motiongen.pipeline import MotionPipeline, Prompt, default_model_dir

    all_clips = load_clips(args.data, args.split, None)
    clips = load_clips(args.data, args.split, args.max_clips)
    if args.captions == "paraphrased":
        rules = json.loads((HERE / "data" / "paraphrases_test.json").read_text())["rules"]
        kept = []
        for c in clips:
            p = paraphrase(c["caption"], rules)
            if p is not None:
                kept.append({**c, "original": c["caption"], "caption": p})
        clips = kept
    captions = [c.get("original", c["caption"]) for c in clips]     # locomotion or not: from the real caption
    real_rows = []
    for c, cap in zip(clips, captions):
        j = recover_joints_from_features(c["features"])
        real_rows.append({**motion_quality(j), "action_ok": action_check(cap, j)})
    table = {"real": {**summarise(real_rows, captions), "spread": real_spread(all_clips)}}
    cmd = "python benchmarks/motion_quality.py " + " ".join(sys.argv[1:] if argv is None else argv)
    for mdir in args.model or [str(default_model_dir())]:
        pipe = MotionPipeline.from_pretrained(mdir)
        if args.x0_lowpass is not None:
            pipe.diffusion.x0_lowpass_hz = args.x0_lowpass
        pipe.rigid_skeleton = not args.ric_joints
        name = Path(mdir).name
        print(f"# {name}: x0 band limit {pipe.diffusion.x0_lowpass_hz:g} Hz, "
              f"{'ric joints' if args.ric_joints else 'fixed bone lengths'}", file=sys.stderr)
        prompts = [Prompt(c["caption"], len(c["features"]) / 20.0) for c in clips]
        t0 = time.perf_counter()
        # literal: the benchmark measures the model on the caption itself, not on a plan read from it
        motions = pipe.generate(prompts, num_samples=args.samples, seed=args.seed, cleanup=False, literal=True,
                                batch_size=16, guidance_scale=args.guidance,
                                sampler=args.sampler, steps=args.steps)
        seconds = time.perf_counter() - t0
        raw, clean, spreads = [], [], []
        for i in range(len(clips)):
            group = motions[i * args.samples:(i + 1) * args.samples]
            for m in group:
                ok = action_check(captions[i], m.joints)
                raw.append({**motion_quality(m.joints), "action_ok": ok})
                cleaned, _ = pipe.joints_for(m.features, cleanup=True)      # exactly what is exported
                clean.append({**motion_quality(cleaned), "action_ok": action_check(captions[i], cleaned)})
            if len(group) > 1:
                spreads.append(spread([m.joints for m in group]))
        caps = [c for c in captions for _ in range(args.samples)]
        s = float(np.mean(spreads)) if spreads else float("nan")
        table[f"{name} (raw)"] = {**summarise(raw, caps), "spread": s}
        table[f"{name} (cleaned)"] = {**summarise(clean, caps), "spread": s}
        print(f"# {name}: {len(motions)} motions in {seconds:.0f} s", file=sys.stderr)
    cols = [("jerk", "jerk m/s^3", "{:.0f}"), ("high_freq", ">4 Hz", "{:.1%}"), ("foot_skating", "skating", "{:.3f}"),
            ("penetration", "penetr. m", "{:.3f}"), ("floating", "float m", "{:.3f}"), ("bone_cv", "bone CV", "{:.2%}"),
            ("root_speed_locomotion", "speed loco", "{:.2f}"), ("root_speed_in_place", "speed still", "{:.2f}"),
            ("drift_in_place", "drift still", "{:.2f}"), ("spread", "spread m", "{:.3f}"),
            ("action_ok", "action check", "{:.0%}")]
    print(f"command: {cmd}")
    print(f"clips: {len(clips)} of the {args.split} split, {args.samples} samples each, captions {args.captions}")
    print("| measure | " + " | ".join(table) + " |")
    print("|---|" + "---|" * len(table))
    for key, label, fmt in cols:
        print(f"| {label} | " + " | ".join(fmt.format(row[key]) for row in table.values()) + " |")
    real = table["real"]
    for name, row in table.items():
        if name == "real":
            continue
        print(f"{name}: jerk {row['jerk'] / real['jerk']:.1f}x real (target 2x), >4 Hz {row['high_freq']:.1%} "
              f"(target 10%), skating {row['foot_skating'] / max(real['foot_skating'], 1e-9):.1f}x real (target 1.5x), "
              f"bone CV {row['bone_cv']:.2%} (target 1%), seed spread / real spread {row['spread'] / real['spread']:.2f} "
              f"(target 0.5)")
    if args.json:
        Path(args.json).write_text(json.dumps({"command": cmd, "table": table}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
