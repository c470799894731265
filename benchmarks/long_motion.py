"""Long motion and control with one model (default: the shipped one), on this machine.

    python benchmarks/long_motion.py [--model DIR|NAME] [--steps N] [--seed 0] [--skip-5min]

Prints, with the command that produced them:
* time for a 60 s plan (12 stages x 5 s) and for 5 minutes (60 stages x 5 s, windows where the model's own
  composition ends);
* seam jerk: per boundary (stage boundaries, and window seams of windowed motion), the largest jerk within 5
  frames of it over the median jerk elsewhere (goal: under 2), mean and worst over boundaries, on the raw output;
* the busiest stage's own jerk away from its boundaries (90th percentile over the median), for scale;
* for a model that eases its stage boundaries (``transition_lowpass_hz``): the same 60 s plan without the easing,
  and what the easing changes (joint speed near the boundaries, the largest joint displacement);
* foot skating and bone-length CV of the long motion beside single-stage motions of the same sentences (5 s
  each, same seeds);
* key-pose error: mean joint error at 3 key frames (poses taken from another motion) after the final step;
* path error: mean and max horizontal root error along a quarter circle of radius 2 m over 6 s.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

SENTENCES = [
    "a person walks forward", "a person jumps in place", "a person waves with the right hand",
    "a person turns around to the left", "a person runs forward", "a person sits down",
    "a person stands up", "a person kicks with the right leg", "a person raises both arms",
    "a person walks backwards", "a person squats down", "a person waves with the left hand",
]


def jerk_per_frame(joints: np.ndarray, fps: float = 20.0) -> np.ndarray:
    """|third difference| (m/s^3) per frame, mean over joints; index i covers frames i .. i+3."""
    return np.linalg.norm(np.diff(joints, n=3, axis=0) * fps ** 3, axis=-1).mean(-1)


def seam_ratios(joints: np.ndarray, boundaries: list[int], radius: int = 5) -> list[float]:
    jerk = jerk_per_frame(joints)
    near = np.zeros(len(jerk), bool)
    for b in boundaries:
        near[max(0, b - radius - 2):min(len(jerk), b + radius)] = True      # windows of 4 frames touching it
    base = float(np.median(jerk[~near])) if (~near).any() else float(np.median(jerk))
    out = []
    for b in boundaries:
        lo, hi = max(0, b - radius - 2), min(len(jerk), b + radius)
        out.append(float(jerk[lo:hi].max() / max(base, 1e-9)))
    return out


def quality(joints: np.ndarray) -> dict:
    from motiongen.evaluate.quality import motion_quality
    q = motion_quality(joints)
    return {"foot_skating": q["foot_skating"], "bone_cv": q["bone_cv"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-5min", action="store_true")
    ap.add_argument("--x0-lowpass", type=float, default=None, metavar="HZ",
                    help="ablation: band limit of the x0 estimate (default: the model's own; 0 = off)")
    ap.add_argument("--transition-lowpass", type=float, default=None, metavar="HZ",
                    help="ablation: band limit near stage boundaries (default: the model's own; 0 = off)")
    ap.add_argument("--transition-seconds", type=float, default=None, metavar="S",
                    help="ablation: how far from a boundary the easing reaches (default: the model's own)")
    ap.add_argument("--json", help="also write the figures here")
    a = ap.parse_args()
    import torch

    from motiongen.control import KeyPose, MotionControl
    from motiongen.pipeline import MotionPipeline
    print("command: python " + " ".join(sys.argv))
    print(f"machine: {platform.machine()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    pipe = MotionPipeline.from_pretrained(a.model)
    if a.x0_lowpass is not None:
        pipe.diffusion.x0_lowpass_hz = a.x0_lowpass
    if a.transition_lowpass is not None:
        pipe.diffusion.transition_lowpass_hz = a.transition_lowpass
    if a.transition_seconds is not None:
        pipe.diffusion.transition_seconds = a.transition_seconds
    kw = {"steps": a.steps} if a.steps else {}
    print(f"model: {pipe.model_dir} ({pipe.denoiser.model_type}, windows of up to {pipe.window_frames()} frames, "
          f"x0 band limit {pipe.diffusion.x0_lowpass_hz:g} Hz, {pipe.diffusion.transition_lowpass_hz:g} Hz within "
          f"{pipe.diffusion.transition_seconds:g} s of stage boundaries and window joins)")
    res: dict = {}

    def long_run(n_stages: int, label: str):
        stages = [(SENTENCES[i % len(SENTENCES)], 5.0) for i in range(n_stages)]
        t0 = time.perf_counter()
        [m] = pipe.generate_long(stages, seed=a.seed, cleanup=False, **kw)
        secs = time.perf_counter() - t0
        lm = m.meta.get("long_motion", {})
        windows = lm.get("windows", [[0, m.num_frames]])
        overlap = int(lm.get("overlap_frames", 0))
        joins = [int(w[0]) + overlap - min(5, overlap // 2) for w in windows[1:]]     # where windows meet
        stage_bounds = [100 * i for i in range(1, n_stages)]
        ratios = seam_ratios(m.joints, stage_bounds + joins)
        stage_r, join_r = ratios[:len(stage_bounds)], ratios[len(stage_bounds):]
        worst = int(np.argmax(stage_r))
        # for scale: each stage's own frames, away from both boundaries (90th percentile of jerk over the median)
        jerk = jerk_per_frame(m.joints)
        base = float(np.median(np.concatenate([jerk[100 * i + 8:100 * i + 92] for i in range(n_stages)])))
        busiest = [float(np.percentile(jerk[100 * i + 8:100 * i + 92], 90)) / base for i in range(n_stages)]
        top = int(np.argmax(busiest))
        q = quality(m.joints)
        drift_height = float(abs(np.median(m.joints[-100:, 0, 1]) - np.median(m.joints[:100, 0, 1])))
        joined = (f"; window joins mean {statistics.mean(join_r):.2f}, worst {max(join_r):.2f} over {len(join_r)}"
                  if join_r else "")
        print(f"{label}: {m.num_frames / 20:g} s in {secs:.1f} s, {len(windows)} window(s); seam jerk ratio at "
              f"stage boundaries mean {statistics.mean(stage_r):.2f}, worst {max(stage_r):.2f} over "
              f"{len(stage_r)} (worst: '{stages[worst][0]}' -> '{stages[worst + 1][0]}'){joined}; "
              f"foot skating {q['foot_skating']:.3f}, bone CV {100 * q['bone_cv']:.1f}%, "
              f"root height change first->last 5 s {100 * drift_height:.1f} cm; busiest stage away from its "
              f"boundaries: '{stages[top][0]}', 90th-percentile jerk {busiest[top]:.2f}x the median", flush=True)
        res[label] = {"seconds_generated": m.num_frames / 20, "wall_s": secs, "windows": len(windows),
                      "stage_seam_ratio_mean": statistics.mean(stage_r), "stage_seam_ratio_max": max(stage_r),
                      "window_join_ratio_mean": statistics.mean(join_r) if join_r else None,
                      "window_join_ratio_max": max(join_r) if join_r else None, **q,
                      "root_height_change_m": drift_height}
        return m

    m60 = long_run(12, "60 s plan")
    if pipe.diffusion.transition_lowpass_hz:          # what the transition easing changes: the same plan without it
        eased_hz = pipe.diffusion.transition_lowpass_hz
        pipe.diffusion.transition_lowpass_hz = 0.0
        plain = long_run(12, "60 s plan, transition easing off")
        pipe.diffusion.transition_lowpass_hz = eased_hz

        def speed_near(j):                            # mean joint speed within 0.3 s of the stage boundaries
            v = np.linalg.norm(np.diff(j, axis=0) * 20, axis=-1).mean(-1)
            return float(np.concatenate([v[100 * i - 6:100 * i + 6] for i in range(1, 12)]).mean())
        moved = float(np.linalg.norm(m60.joints - plain.joints, axis=-1).max())
        print(f"transition easing ({eased_hz:g} Hz within {pipe.diffusion.transition_seconds:g} s of boundaries): "
              f"mean joint speed within 0.3 s of a boundary {speed_near(m60.joints):.3f} m/s, without it "
              f"{speed_near(plain.joints):.3f}; largest joint displacement {100 * moved:.1f} cm"
              + (" (by windows: each window continues the one before, so a change carries on; not local)"
                 if len(m60.meta.get("long_motion", {}).get("windows", [0])) > 1 else ""), flush=True)
        res["transition_easing"] = {"speed_near_boundaries": speed_near(m60.joints),
                                    "speed_near_boundaries_off": speed_near(plain.joints), "max_displacement_m": moved}
    if not a.skip_5min:
        long_run(60, "5 min plan")
    # single-stage reference: the same sentences, 5 s each
    singles = [pipe.generate(s, 5.0, seed=a.seed, cleanup=False, literal=True, **kw)[0] for s in SENTENCES]
    qs = [quality(m.joints) for m in singles]
    ref = {k: float(np.mean([q[k] for q in qs])) for k in qs[0]}
    single_ratios = [max(seam_ratios(m.joints, [50])) for m in singles]      # mid-clip "boundary", for scale
    print(f"single-stage 5 s motions (same sentences): foot skating {ref['foot_skating']:.3f}, bone CV "
          f"{100 * ref['bone_cv']:.1f}%, jerk ratio at mid-clip (no seam) mean {statistics.mean(single_ratios):.2f}")
    res["single_stage"] = {**ref, "midclip_ratio_mean": statistics.mean(single_ratios)}
    # key poses from another motion
    [src] = pipe.generate("a person walks forward and raises the right arm", 6.0, seed=a.seed + 7, literal=True,
                          cleanup=False, **kw)
    keys = [KeyPose(f, src.joints[f]) for f in (20, 60, 100)]
    [m] = pipe.generate("a person walks forward", 6.0, seed=a.seed, control=MotionControl(keyposes=keys), **kw)
    errs = [k["mean_joint_error_m"] for k in m.meta["control"]["keyframes"]]
    print(f"key poses (frames 20, 60, 100 of another motion): mean joint error {100 * np.mean(errs):.2f} cm, "
          f"worst {100 * max(errs):.2f} cm (exported joints, after the foot cleanup)")
    res["keyframes"] = {"mean_error_m": float(np.mean(errs)), "max_error_m": float(max(errs))}
    # a quarter circle
    T = 120
    ang = np.linspace(0, math.pi / 2, T)
    path = np.stack([2 * (1 - np.cos(ang)), 2 * np.sin(ang)], 1)
    [m] = pipe.generate("a person walks forward", 6.0, seed=a.seed, control=MotionControl(trajectory=path), **kw)
    tr = m.meta["control"]["trajectory"]
    q = quality(m.joints)
    print(f"path (quarter circle, r = 2 m, 6 s): mean horizontal error {100 * tr['mean_error_m']:.2f} cm, max "
          f"{100 * tr['max_error_m']:.2f} cm; foot skating {q['foot_skating']:.3f} (exported)")
    res["trajectory"] = {**tr, **q}
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
