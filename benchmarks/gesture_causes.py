"""Why do in-place gestures move the legs? Measures each suspected cause (issue 30, item 2) for any model folder.

    python benchmarks/gesture_causes.py [--model DIR] [--data CORPUS] [--samples 4] [--seconds 4]

For three gesture sentences x ``--samples`` seeds it prints, per setting, the legs' (knees, ankles) mean horizontal
speed split into slow motion (below 2 Hz: steps, sway, drift) and fast motion (above 4 Hz: jitter), the pelvis's
drift over the clip, and the share of samples whose legs stay still (legs under 2x the real gestures' speed):

1. the weights alone: no band limit, no cleanup, guidance 0 (the unconditional model: the motion prior), 1 (the
   conditional model alone) and 2.5 (the shipped scale);
2. the shipped sampling (the folder's band limit and the export's foot pass) at the shipped guidance;
3. per-part conditioning: the same sentence with the legs and pelvis told "a person stands still" (a FineMoGen
   plan: those parts read their own text, the arms and the rest read the sentence);
4. does the text reach the legs at all: the denoiser's one-step x0 estimate from the same noisy input at diffusion
   steps t = 900, 500, 100, for the gesture sentence against "a person walks forward" — the legs' share of the
   difference between the two estimates, next to the legs' share of the features;
5. with ``--data``, the real gesture clips of the corpus's train split (leg speed, drift): what the data teaches.
"""
from __future__ import annotations

import argparse
import csv
from pathlib import Path

import numpy as np
import torch

PROMPTS = ["a person waves with the right hand", "a person raises both hands", "someone waves the left hand"]
WALK = "a person walks forward"
LEG_JOINTS = [4, 5, 7, 8]            # knees and ankles (motiongen.skeleton HumanML3D order)
GESTURE_ACTIONS = ("wave", "raise hand")
FPS = 20.0


def band_speeds(joints: np.ndarray, fps: float = FPS) -> tuple[float, float, float]:
    """(total, below 2 Hz, above 4 Hz) mean horizontal speed of the knees and ankles, m/s.

    The bands are zero-phase 4th-order Butterworth filters (scipy ``sosfiltfilt``) of the positions: the slow part
    is the 2 Hz low-pass, the fast part what a 4 Hz low-pass removes.
    """
    from scipy.signal import butter, sosfiltfilt

    legs = joints[:, LEG_JOINTS][..., [0, 2]].astype(np.float64)          # (T, 4, 2)

    def speed(x):
        return float(np.linalg.norm(np.diff(x, axis=0), axis=-1).mean() * fps)

    def lowpass(x, hz):
        return sosfiltfilt(butter(4, hz, fs=fps, output="sos"), x, axis=0)

    return speed(legs), speed(lowpass(legs, 2.0)), speed(legs - lowpass(legs, 4.0))


def drift(joints: np.ndarray) -> float:
    return float(np.linalg.norm(joints[-1, 0, [0, 2]] - joints[0, 0, [0, 2]]))


def summarise(name: str, rows: list[tuple], still: float) -> None:
    r = np.array(rows)
    print(f"| {name} | {r[:, 0].mean():.3f} | {r[:, 1].mean():.3f} | {r[:, 2].mean():.3f} | {r[:, 3].mean():.2f} | "
          f"{(r[:, 0] < still).mean():.0%} |")


def real_gestures(data: Path, limit: int = 400) -> list[tuple]:
    rows = []
    with open(data / "clips.csv", newline="") as f:
        clips = [r for r in csv.DictReader(f) if r["split"] == "train" and r["action"] in GESTURE_ACTIONS]
    for r in clips[:limit]:
        path = data / "new_joints" / f"{r['id']}.npy"
        if path.exists():
            j = np.load(path)
            rows.append((*band_speeds(j), drift(j)))
    return rows


def leg_share_of_text_effect(pipe, seconds: float, seed: int) -> list[tuple[int, float, float]]:
    """(t, legs' share of |x0(gesture) - x0(walk)|^2, legs' share of |x0(gesture)|^2) for one noisy input."""
    frames = int(round(seconds * FPS))
    parts = pipe.skeleton.finemogen_part_feature_indices()
    D = pipe.skeleton.feature_dim
    leg_idx = torch.as_tensor(np.concatenate([parts["left_leg"], parts["right_leg"]]))
    g = torch.Generator().manual_seed(seed)
    x0 = torch.randn(1, frames, D, generator=g)
    noise = torch.randn(1, frames, D, generator=g)
    mask = torch.ones(1, frames, dtype=torch.bool)
    from motiongen.models.condition import MotionCondition
    conds = [MotionCondition(pipe.encode_texts([t]).to(pipe.device)) for t in (PROMPTS[0], WALK)]
    out = []
    with torch.no_grad():
        for t in (900, 500, 100):
            tt = torch.tensor([t])
            xt = pipe.diffusion.q_sample(x0, tt, noise)
            est = [pipe.denoiser(xt, tt, c, mask) for c in conds]
            diff = (est[0] - est[1]).pow(2).sum(dim=(0, 1))
            own = est[0].pow(2).sum(dim=(0, 1))
            out.append((t, float(diff[leg_idx].sum() / diff.sum()), float(own[leg_idx].sum() / own.sum())))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", type=Path, default=None, help="a corpus (motiongen data build) for the real figures")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    import motiongen
    from motiongen.plan import Plan
    from motiongen.pipeline import Prompt

    pipe = motiongen.MotionPipeline.from_pretrained(args.model)
    shipped_hz = pipe.diffusion.x0_lowpass_hz
    shipped_g = float(pipe.info.get("sampling", {}).get("guidance_scale", 2.5))
    real = real_gestures(args.data) if args.data else []
    real_speed = float(np.mean([r[0] for r in real])) if real else 0.03
    still = 2.0 * real_speed
    print(f"model: {args.model or 'shipped'}; {len(PROMPTS)} gesture sentences x {args.samples} seeds, "
          f"{args.seconds:g} s; 'legs still' = leg speed under {still:.3f} m/s (2x real"
          f"{'' if real else ', real taken as 0.03 m/s: give --data for the measured figure'})")
    print("\n| setting | legs m/s | below 2 Hz | above 4 Hz | drift m | legs still |\n|---|---|---|---|---|---|")
    if real:
        summarise(f"real gestures, corpus train split ({len(real)} clips)", real, still)

    def run(name, prompts, guidance, lowpass, cleanup):
        pipe.diffusion.x0_lowpass_hz = lowpass
        rows = []
        for p in prompts:
            for m in pipe.generate([p], seconds=args.seconds, seed=0, num_samples=args.samples,
                                   guidance_scale=guidance, cleanup=cleanup, check_actions=False):
                rows.append((*band_speeds(m.joints), drift(m.joints)))
        summarise(name, rows, still)

    for g in (0.0, 1.0, shipped_g):
        run(f"weights alone, guidance {g:g}" + (" (no text: the prior)" if g == 0 else ""), PROMPTS, g, 0.0, False)
    run(f"shipped sampling ({shipped_hz:g} Hz band limit, foot pass), guidance {shipped_g:g}", PROMPTS, shipped_g,
        shipped_hz, True)
    still_legs = {"left_leg": "a person stands still", "right_leg": "a person stands still",
                  "pelvis": "a person stands still"}
    plans = [Prompt(plan=Plan.from_dict({"stages": [{"text": p, "seconds": args.seconds, "parts": still_legs}]}))
             for p in PROMPTS]
    run(f"legs and pelvis read 'a person stands still', weights alone, guidance {shipped_g:g}", plans, shipped_g,
        0.0, False)
    run(f"'{WALK}', weights alone, guidance {shipped_g:g} (for scale)", [WALK], shipped_g, 0.0, False)
    pipe.diffusion.x0_lowpass_hz = shipped_hz

    print("\nDoes the text reach the legs? One-step x0 estimates from the same noisy input, "
          f"'{PROMPTS[0]}' against '{WALK}':")
    print("| t | legs' share of the difference | legs' share of the estimate |\n|---|---|---|")
    for t, share, own in leg_share_of_text_effect(pipe, args.seconds, seed=0):
        print(f"| {t} | {share:.0%} | {own:.0%} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
