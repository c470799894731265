"""Regenerate the README's preview gifs with the shipped default model (docs/media/*.gif).

    python scripts/make_previews.py          # walk, turn, plan, path, continue
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
    # control: a quarter-circle path, and a continuation of the walk above
    import numpy as np

    from motiongen.control import MotionControl
    ang = np.linspace(0, np.pi / 2, 120)
    path = np.stack([2 * (1 - np.cos(ang)), 2 * np.sin(ang)], 1)
    [m] = pipe.generate("a person walks forward", 6.0, seed=0, control=MotionControl(trajectory=path))
    render_motion(m.joints, OUT / "path.gif", title="--trajectory: a quarter circle", size=(240, 240))
    [walk] = pipe.generate("a person walks forward", 3.0, seed=0, literal=True)
    [cont] = pipe.generate_long("a person waves with the right hand", prefix=walk.features, seconds=3.0, seed=0)
    render_motion(cont.joints, OUT / "continue.gif", title="--prefix: walk (given), then wave", size=(240, 240))
    for f in sorted(OUT.glob("*.gif")):
        print(f, f.stat().st_size // 1024, "KiB")


if __name__ == "__main__":
    main()
