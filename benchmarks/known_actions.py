"""How well the known-actions check separates actions a model learned from actions it did not (issue 30, item 4).

    python benchmarks/known_actions.py [--model DIR] [--shared ../shared] [--n 150] [--seed 0]

Known prompts: real single-action sentences from HumanML3D (captions-partial) and KIT-ML that walk, run, jog,
wave, turn or bow (actions every packaged model learned), plus the frozen rewordings of
benchmarks/data/paraphrases_test.json (other words for the corpus's own actions).
Unknown prompts: real sentences from HumanML3D (captions-partial) and KIT-ML whose verb is one of actions the model
does not list (sit, climb, swim, jump, kick, crawl, squat, lie down, throw, pick up ..., less those the model's
known_actions.json lists) and that name none of the known ones. Prints the similarity distributions, the share of each set on the right side of the folder's
threshold, and the threshold that maximises balanced accuracy on these sets, with the command.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
_UNKNOWN = re.compile(r"\b(sits?|sitting|climbs?|climbing|swims?|swimming|jumps?|jumping|kicks?|kicking|crawls?|"
                      r"crawling|squats?|squatting|lies|lying|throws?|throwing|picks?|kneels?|kneeling|cartwheels?|"
                      r"push-?ups?|stretch(es|ing)?|golf|swings?|skips?|skipping|falls?|falling|rolls?|"
                      r"cartwheel|boxing|drinks?|drinking|eats?|eating|sweeps?|lunges?)\b", re.I)
_KNOWN_WORDS = re.compile(r"\b(walk\w*|run\w*|jog\w*|turn\w*|wav\w*|rais\w*|lift\w*|bow\w*|step\w*|mov\w*|"
                          r"dash\w*|sprint\w*|hands?|arms?|forward|backwards?|circle|punch\w*|danc\w*)\b", re.I)


_KNOWN_VERBS = re.compile(r"\b(walk(s|ing)?|runs?|running|jog(s|ging)?|wav(es|ing)|turns?|turning|bows?|bowing)\b", re.I)


def real_sentences(shared: Path) -> list[str]:
    out = []
    h = shared / "data" / "humanml3d" / "captions-partial" / "captions_2427_ids.json"
    if h.is_file():
        for rows in json.loads(h.read_text()).values():
            out += [r[2] for r in rows]
    k = shared / "data" / "kit-ml" / "annotations.json"
    if k.is_file():
        for v in json.loads(k.read_text()).values():
            out += [a["text"] for a in v.get("annotations", [])]
    return sorted({" ".join(s.split()) for s in out})


def unknown_sentences(pool: list[str], known: set[str]) -> list[str]:
    """Sentences of actions outside ``known`` (a kick is unknown only to a model that lists no kick)."""
    from motiongen.evaluate.actions import action_of_caption
    return [s for s in pool if _UNKNOWN.search(s) and not _KNOWN_WORDS.search(s)
            and action_of_caption(s)[0] not in known]


def known_sentences(pool: list[str]) -> list[str]:
    return [s for s in pool if _KNOWN_VERBS.search(s) and not _UNKNOWN.search(s)
            and not re.search(r"\b(then|and|while|after|before)\b", s, re.I)]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--shared", default=str(HERE.parents[1] / "shared"))
    ap.add_argument("--n", type=int, default=150, help="prompts of each kind")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from motiongen.known_actions import KnownActions
    from motiongen.pipeline import default_model_dir
    from motiongen.text.encoders import load_text_encoder

    mdir = Path(args.model or default_model_dir())
    known = KnownActions.load(mdir)
    if known is None:
        print(f"error: --model {mdir}: no known_actions.json (write one: python -m motiongen.known_actions "
              f"--model {mdir} --data CORPUS)", file=sys.stderr)
        return 2
    rng = np.random.default_rng(args.seed)
    pool = real_sentences(Path(args.shared))
    kp, up = known_sentences(pool), unknown_sentences(pool, set(known.actions))
    if not up or not kp:
        print(f"error: --shared {args.shared}: no HumanML3D / KIT-ML sentences found", file=sys.stderr)
        return 2
    kp = [kp[i] for i in rng.permutation(len(kp))[:args.n]]
    kp += [r["text"] for r in json.loads((HERE / "data" / "paraphrases_test.json").read_text())["rules"]]
    up = [up[i] for i in rng.permutation(len(up))[:args.n]]
    enc = load_text_encoder("minilm")
    ks = np.array([max(known.similarities(t, enc).values()) for t in kp])
    us = np.array([max(known.similarities(t, enc).values()) for t in up])
    cmd = "python benchmarks/known_actions.py " + " ".join(sys.argv[1:] if argv is None else argv)
    print(f"command: {cmd}")
    print(f"model: {mdir} ({len(known.actions)} known actions: {', '.join(known.actions)}); threshold "
          f"{known.threshold:g}")
    for name, s in (("known", ks), ("unknown", us)):
        print(f"{name:8s} prompts {len(s):4d}: best similarity p5 {np.percentile(s, 5):.2f}, p25 "
              f"{np.percentile(s, 25):.2f}, median {np.median(s):.2f}, p75 {np.percentile(s, 75):.2f}, "
              f"p95 {np.percentile(s, 95):.2f}")
    print(f"at threshold {known.threshold:g}: known passed {np.mean(ks >= known.threshold):.0%}, unknown warned "
          f"{np.mean(us < known.threshold):.0%}")
    grid = np.round(np.arange(0.30, 0.90, 0.01), 2)
    bal = [(np.mean(ks >= t) + np.mean(us < t)) / 2 for t in grid]
    b = int(np.argmax(bal))
    print(f"best balanced accuracy {bal[b]:.0%} at threshold {grid[b]:.2f} (known passed {np.mean(ks >= grid[b]):.0%}, "
          f"unknown warned {np.mean(us < grid[b]):.0%})")
    worst_k = sorted(zip(ks, kp))[:3]
    worst_u = sorted(zip(us, up))[-3:]
    print("lowest known: " + "; ".join(f"{s:.2f} '{t}'" for s, t in worst_k))
    print("highest unknown: " + "; ".join(f"{s:.2f} '{t}'" for s, t in worst_u))
    return 0


if __name__ == "__main__":
    sys.exit(main())
