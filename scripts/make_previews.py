"""Regenerate the README's preview gifs with the shipped default model (docs/media/*.gif).

    python scripts/make_previews.py
"""
from __future__ import annotations

from pathlib import Path

from motiongen.motion.render import render_motion
from motiongen.pipeline import MotionPipeline
from motiongen.plan import Plan

OUT = Path(__file__).resolve().parents[1] / "docs" / "media"


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    pipe = MotionPipeline.from_pretrained()
    jobs = {"walk": "a person walks forward and waves with the left hand", "turn": "a person walks in a left turn"}
    for name, text in jobs.items():
        [m] = pipe.generate(text, 4.0, seed=0)
        render_motion(m.joints, OUT / f"{name}.gif", title=text, size=(240, 240))
    plan = Plan.from_dict({"stages": [{"text": "a person walks forward", "seconds": 2},
                                      {"text": "a person waves with the right hand", "seconds": 2,
                                       "parts": {"right_arm": "wave the right hand above the head"}}]})
    [m] = pipe.generate(plan, seed=0)
    render_motion(m.joints, OUT / "plan.gif", title="walk, then wave", size=(240, 240))
    for f in sorted(OUT.glob("*.gif")):
        print(f, f.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
