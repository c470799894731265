"""Per-action benchmark: does the model do the action it is asked for? (issue 30, item 3)

    python benchmarks/actions.py [--data CORPUS] [--split test] [--per-action 2] [--samples 1] [--seed 0]
                                 [--model DIR] [--modes shipped raw] [--wordings corpus reworded] [--real-only]
                                 [--actions walk wave ...] [--json OUT]

For every action of the corpus's ``--split`` (labels from the corpus's ``clips.csv`` ``id,source,action,side,
style,licence,split`` when it has one, else derived from each clip's first caption by
motiongen.evaluate.actions.action_of_caption) it prints, per action: the clips of the train split (the targets
are for actions with at least 10), the real clips of the split and the share of them passing the action's rule
(motiongen.evaluate.actions: the ceiling), and the share of generated motions passing it, for

* wording ``corpus``: the clip's own caption; ``reworded``: the frozen rewording of benchmarks/data/
  paraphrases_test.json (first matching rule; actions without a rewording are left out of that column);
* mode ``shipped``: the model folder's sampling and the export cleanup (what ``motiongen generate`` writes);
  ``raw``: no band limit of the x0 estimate (``--x0-lowpass 0``) and no cleanup: what the weights themselves give.

``--per-action`` clips of each action (evenly over the split) x ``--samples`` seeds are generated; keep the
default for a quick run and raise both for figures to quote. Below the table: for in-place gestures, the legs'
speed (knees and ankles), the in-place drift against the real clips of the same actions and how many samples have
the hands right and the legs still, and each mode's jerk
against real. ``--real-only`` skips the model (use ``--split val`` to tune the rules' thresholds there).
"""
from __future__ import annotations

import argparse
import collections
import csv
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
from motion_quality import paraphrase   # benchmarks/ is on the path (run as a script)

HERE = Path(__file__).resolve().parent


def _first_caption(root: Path, item: str) -> str | None:
    from motiongen.data.dataset import read_texts
    f = root / "texts" / f"{item}.txt"
    if not f.is_file():
        return None
    caps = read_texts(f)
    whole = [c.text for c in caps if c.start == 0 and c.end == 0] or [c.text for c in caps]
    return whole[0] if whole else None


def load_labelled(root: Path, split: str) -> list[dict]:
    """Clips of a split as dicts (id, item, action, side, caption); one motion file per clip (its first window,
    never a mirror copy, whose side would be swapped)."""
    from motiongen.evaluate.actions import action_of_caption, normalise_action
    table = root / "clips.csv"
    out = []
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.DictReader(f) if r.get("split") == split]
        for r in rows:
            item = r["id"]
            if not (root / "new_joint_vecs" / f"{item}.npy").is_file():
                windows = sorted((root / "new_joint_vecs").glob(f"{item}_w*.npy"))
                if not windows:
                    continue
                item = windows[0].stem
            cap = _first_caption(root, item)
            if cap is None or not r.get("action"):
                continue
            out.append({"id": r["id"], "item": item, "action": normalise_action(r["action"]),
                        "side": (r.get("side") or "").strip().lower(), "caption": cap})
        return out
    ids = (root / f"{split}.txt").read_text().split()
    seen = set()
    for item in ids:
        clip = re.sub(r"_w\d+$", "", item)
        if item.startswith("M") or clip in seen:        # mirror copies and later windows of a clip
            continue
        seen.add(clip)
        cap = _first_caption(root, item)
        if cap is None:
            continue
        action, side = action_of_caption(cap)
        if action is not None:
            out.append({"id": clip, "item": item, "action": action, "side": side, "caption": cap})
    return out


def _joints(root: Path, item: str) -> np.ndarray:
    from motiongen.motion.features import recover_joints_from_features
    return recover_joints_from_features(np.load(root / "new_joint_vecs" / f"{item}.npy")[:196])


def _even(items: list, n: int) -> list:
    if n <= 0 or len(items) <= n:
        return list(items)
    idx = np.linspace(0, len(items) - 1, n).round().astype(int)
    return [items[i] for i in sorted(set(idx))]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="corpus", help="corpus folder (HumanML3D layout; clips.csv when it has one)")
    ap.add_argument("--split", default="test")
    ap.add_argument("--model", default=None, help="model folder (default: the shipped model)")
    ap.add_argument("--per-action", type=int, default=2, help="clips of each action to generate from")
    ap.add_argument("--samples", type=int, default=1, help="seeds per clip")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--modes", nargs="+", choices=["shipped", "raw"], default=["shipped", "raw"])
    ap.add_argument("--wordings", nargs="+", choices=["corpus", "reworded"], default=["corpus", "reworded"])
    ap.add_argument("--actions", nargs="*", default=None, help="only these actions")
    ap.add_argument("--literal", action="store_true", help="generate each caption literally (no compound plan)")
    ap.add_argument("--real-only", action="store_true", help="only the real clips' pass rates (no model)")
    ap.add_argument("--json", help="also write the figures here")
    args = ap.parse_args(argv)

    from motiongen.evaluate.actions import GESTURES, RULES, check_action, drift, gesture_parts, leg_speed
    from motiongen.evaluate.quality import motion_quality

    root = Path(args.data)
    if not (root / f"{args.split}.txt").is_file() and not (root / "clips.csv").is_file():
        print(f"error: --data {root}: no {args.split}.txt or clips.csv (a corpus folder from 'motiongen data "
              f"build' was expected)", file=sys.stderr)
        return 2
    cmd = "python benchmarks/actions.py " + " ".join(sys.argv[1:] if argv is None else argv)
    clips = load_labelled(root, args.split)
    train_counts = collections.Counter(c["action"] for c in load_labelled(root, "train")) \
        if args.split != "train" else collections.Counter(c["action"] for c in clips)
    if args.actions:
        clips = [c for c in clips if c["action"] in set(args.actions)]
    by_action: dict[str, list[dict]] = collections.defaultdict(list)
    for c in clips:
        by_action[c["action"]].append(c)
    actions = sorted(by_action, key=lambda a: (-len(by_action[a]), a))

    # real clips: every clip of the split
    real = {}
    real_legs, real_drift, real_jerk = collections.defaultdict(list), collections.defaultdict(list), []
    for a in actions:
        res = []
        for c in by_action[a]:
            j = _joints(root, c["item"])
            c["joints"] = j
            ok = check_action(a, j, c["side"])
            if ok is not None:
                res.append(ok)
            if a in GESTURES:
                real_legs[a].append(leg_speed(j))
                real_drift[a].append(drift(j))
            if len(j) >= 8:
                real_jerk.append(motion_quality(j)["jerk"])
        real[a] = res
    table = {a: {"train_clips": train_counts.get(a, 0), "split_clips": len(by_action[a]),
                 "has_rule": a in RULES,
                 "real": float(np.mean(real[a])) if real[a] else None} for a in actions}

    gen: dict[tuple[str, str], dict[str, list]] = {}
    gen_legs, gen_drift, gen_jerk, gen_parts = {}, {}, {}, {}
    if not args.real_only:
        from motiongen.pipeline import MotionPipeline, Prompt, default_model_dir
        rules = json.loads((HERE / "data" / "paraphrases_test.json").read_text())["rules"]
        mdir = args.model or str(default_model_dir())
        pipe = MotionPipeline.from_pretrained(mdir)
        shipped_hz = pipe.diffusion.x0_lowpass_hz
        chosen = [c for a in actions if a in RULES for c in _even(by_action[a], args.per_action)]
        for mode in args.modes:
            pipe.diffusion.x0_lowpass_hz = shipped_hz if mode == "shipped" else 0.0
            for wording in args.wordings:
                todo = []
                for c in chosen:
                    text = c["caption"] if wording == "corpus" else paraphrase(c["caption"], rules)
                    if text is not None:
                        todo.append((c, text))
                if not todo:
                    continue
                t0 = time.perf_counter()
                prompts = [Prompt(text, len(c["joints"]) / 20.0) for c, text in todo]
                motions = pipe.generate(prompts, num_samples=args.samples, seed=args.seed, cleanup=False,
                                        literal=args.literal, batch_size=16)
                res: dict[str, list] = collections.defaultdict(list)
                for k, m in enumerate(motions):
                    c, _ = todo[k // args.samples]
                    j = pipe.joints_for(m.features, cleanup=True)[0] if mode == "shipped" else m.joints
                    res[c["action"]].append(bool(check_action(c["action"], j, c["side"])))
                    if c["action"] in GESTURES:
                        gen_legs.setdefault((mode, wording), collections.defaultdict(list))[c["action"]].append(
                            leg_speed(j))
                        gen_drift.setdefault((mode, wording), collections.defaultdict(list))[c["action"]].append(
                            drift(j))
                        gen_parts.setdefault((mode, wording), []).append(gesture_parts(c["action"], j, c["side"]))
                    gen_jerk.setdefault((mode, wording), []).append(motion_quality(j)["jerk"])
                gen[(mode, wording)] = res
                print(f"# {Path(mdir).name} {mode} ({pipe.diffusion.x0_lowpass_hz:g} Hz band limit, cleanup "
                      f"{'on' if mode == 'shipped' else 'off'}), {wording} wording: {len(motions)} motions in "
                      f"{time.perf_counter() - t0:.0f} s", file=sys.stderr)
        pipe.diffusion.x0_lowpass_hz = shipped_hz

    cols = list(gen)
    print(f"command: {cmd}")
    print(f"corpus: {root} ({'clips.csv labels' if (root / 'clips.csv').is_file() else 'labels from captions'}), "
          f"split {args.split}; generated: {args.per_action} clip(s) per action x {args.samples} seed(s)")
    head = ["action", "train clips", f"{args.split} clips", "real pass"] + [f"{m} {w}" for m, w in cols]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))

    def rate(v):
        return f"{np.mean(v):.0%} ({sum(v)}/{len(v)})" if v else "-"
    for a in actions:
        row = table[a]
        cells = [a, str(row["train_clips"]), str(row["split_clips"]),
                 rate(real[a]) if row["has_rule"] else "no rule"]
        for key in cols:
            v = gen[key].get(a, [])
            cells.append(rate(v))
            row[f"{key[0]} {key[1]}"] = float(np.mean(v)) if v else None
        print("| " + " | ".join(cells) + " |")
    gest = [a for a in actions if a in GESTURES and real_legs.get(a)]
    extra = {}
    if gest:
        rl = float(np.mean([x for a in gest for x in real_legs[a]]))
        rd = float(np.mean([x for a in gest for x in real_drift[a]]))
        print(f"gestures ({', '.join(gest)}): real legs {rl:.2f} m/s, real in-place drift {rd:.2f} m")
        extra["gestures"] = {"real_leg_speed": rl, "real_drift": rd}
        for key in cols:
            legs = [x for a in gest for x in gen_legs.get(key, {}).get(a, [])]
            dr = [x for a in gest for x in gen_drift.get(key, {}).get(a, [])]
            if legs:
                parts = gen_parts.get(key, [])
                print(f"  {key[0]} {key[1]}: legs {np.mean(legs):.2f} m/s = {np.mean(legs) / rl:.1f}x real "
                      f"(target 2x), drift {np.mean(dr):.2f} m (target 0.1 m); hands right in "
                      f"{np.mean([p['hands'] for p in parts]):.0%}, legs still in "
                      f"{np.mean([p['legs_still'] for p in parts]):.0%} of {len(parts)}")
                extra["gestures"][f"{key[0]} {key[1]}"] = {"leg_speed": float(np.mean(legs)),
                                                           "drift": float(np.mean(dr))}
    if real_jerk:
        rj = float(np.mean(real_jerk))
        for key in cols:
            if gen_jerk.get(key):
                print(f"jerk {key[0]} {key[1]}: {np.mean(gen_jerk[key]) / rj:.1f}x real ({rj:.0f} m/s^3)"
                      + (" (target 3x for raw)" if key[0] == "raw" else ""))
    if args.json:
        Path(args.json).write_text(json.dumps({"command": cmd, "actions": table, **extra}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
