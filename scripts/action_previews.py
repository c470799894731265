"""Preview GIFs (and optional PNG strips) of one clip per action of a corpus built by `motiongen data build`,
rendered with motiongen's own stick-figure renderer (left limbs red, right limbs blue), so a person can check the
retargeting: a kick kicks with the named leg, a lie-down ends lying.

    PYTHONPATH=src python scripts/action_previews.py /tmp/corpus-broad --out docs/media/actions [--png /tmp/strips]
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np

from motiongen.motion.render import render_motion

OLD_ACTIONS = {"walk", "run", "turn", "raise hand", "wave", "other"}   # what the Bandai-only corpus already had
PREFER = ("hdm05", "deepmimic", "m21-style", "snu-cmu69-tennis-indian", "snu-basketball", "ase-sword-shield",
          "snu-martial-arts", "bandai-namco")


def pick_clips(corpus: Path, actions: set[str] | None = None) -> dict[str, dict]:
    """One unmirrored train clip per action (the first by source preference, then id), preferring sided clips."""
    with open(corpus / "clips.csv", newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if not r["id"].startswith("M") and r["action"] not in OLD_ACTIONS]
    out: dict[str, dict] = {}
    rank = lambda r: (PREFER.index(r["source"]) if r["source"] in PREFER else 99, r["side"] in ("", "both"), r["id"])
    for r in sorted(rows, key=rank):
        if (actions is None or r["action"] in actions) and r["action"] not in out:
            out[r["action"]] = r
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("corpus")
    ap.add_argument("--out", default="docs/media/actions")
    ap.add_argument("--png", help="also write a 6-frame PNG strip per action into this folder")
    ap.add_argument("--fps", type=float, default=8.0, help="frames per second of the GIF (subsampled from 20)")
    ap.add_argument("--actions", nargs="+")
    args = ap.parse_args()
    corpus, out = Path(args.corpus), Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for action, r in pick_clips(corpus, set(args.actions) if args.actions else None).items():
        j = np.load(corpus / "new_joints" / f"{r['id']}.npy")
        step = max(1, round(20 / args.fps))
        j = j[::step][:60]
        name = action.replace(" ", "-")
        title = f"{action}{' (' + r['side'] + ')' if r['side'] else ''} - {r['source']}"
        path = render_motion(j, out / f"{name}.gif", fps=20 / step, title=title, size=(220, 220))
        print(f"{path} {path.stat().st_size // 1024} KB  {r['id']}")
        if args.png:
            import matplotlib
            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
            Path(args.png).mkdir(parents=True, exist_ok=True)
            idx = np.linspace(0, len(j) - 1, 6).astype(int)
            fig = plt.figure(figsize=(12, 2.4))
            from motiongen.skeleton import HUMANML3D
            for k, t in enumerate(idx):
                ax = fig.add_subplot(1, 6, k + 1)
                for chain in HUMANML3D.kinematic_chain:
                    names = [HUMANML3D.joint_names[c] for c in chain[1:]]
                    col = "r" if all(n.startswith("left") for n in names) else (
                        "b" if all(n.startswith("right") for n in names) else "k")
                    ax.plot(j[t, list(chain), 2], j[t, list(chain), 1], col, lw=2)   # side view: z right, y up
                ax.set_xlim(j[t, 0, 2] - 1, j[t, 0, 2] + 1)
                ax.set_ylim(0, 2)
                ax.set_aspect("equal")
                ax.set_title(f"{t * step / 20:.1f}s", fontsize=7)
                ax.axis("off")
            fig.suptitle(title + " (side view, facing right at the start; left limbs red, right blue)", fontsize=8)
            fig.savefig(Path(args.png) / f"{name}.png", dpi=70)
            plt.close(fig)


if __name__ == "__main__":
    main()
