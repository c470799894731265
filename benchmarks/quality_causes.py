"""Where does shaking come from? Experiments behind docs/motion_quality.md, for any model directory.

    python benchmarks/quality_causes.py [--model DIR] [--data corpus] [--clips 8]

1. x_t sensitivity: at diffusion step t, how much the x0 estimate moves when x_t moves (ratio of norms along a
   random direction; a denoiser that follows its input at low noise gives about 1/sqrt(abar_t) ~ 1).
2. Denoising error: the x0 error of one denoising call at t = 1 ... 500 on real test motions, next to the error of
   simply returning x_t / sqrt(abar_t) (what "follow the input" gives).
3. Sampler and guidance: jerk of the same captions under DDIM 50, DDIM 200, DPM-Solver++ 15, and guidance off.
4. Joints from the ric positions vs. from the 6D rotations on the fixed skeleton: jerk and bone-length CV.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None)
    ap.add_argument("--data", default="corpus")
    ap.add_argument("--clips", type=int, default=8)
    args = ap.parse_args(argv)

    from motion_quality import load_clips

    from motiongen.evaluate.quality import motion_quality
    from motiongen.models.condition import MotionCondition
    from motiongen.motion.features import recover_joints_from_features, recover_joints_from_rotations
    from motiongen.pipeline import MotionPipeline, Prompt, default_model_dir

    mdir = args.model or str(default_model_dir())
    pipe = MotionPipeline.from_pretrained(mdir)
    d = pipe.diffusion
    clips = load_clips(args.data, "test", args.clips)
    T = min(len(c["features"]) for c in clips)
    x0 = torch.tensor(np.stack([(c["features"][:T] - pipe.mean) / pipe.std for c in clips]), dtype=torch.float32)
    mask = torch.ones(len(clips), T, dtype=torch.bool)
    cond = MotionCondition(pipe.encode_texts([c["caption"] for c in clips]))
    g = torch.Generator().manual_seed(0)
    print(f"model: {mdir} (parameterisation: {d.parameterization})")
    print("1. x_t sensitivity |d x0_hat| / |d x_t| (following the input: ~1)")
    for t in (1, 10, 50, 200, 800):
        tt = torch.full((len(clips),), t)
        noise = torch.randn(x0.shape, generator=g)
        xt = d.q_sample(x0, tt, noise)
        dx = torch.randn(x0.shape, generator=g) * 0.01
        with torch.no_grad():
            a = d.predict_x0(pipe.denoiser, xt, tt, cond, mask)
            b = d.predict_x0(pipe.denoiser, xt + dx, tt, cond, mask)
        print(f"   t={t:4d}: {float((b - a).norm() / dx.norm()):.3f}")
    print("2. x0 MSE of one denoising call on real test motions: model vs. returning x_t / sqrt(abar_t)")
    for t in (1, 10, 50, 200, 500):
        tt = torch.full((len(clips),), t)
        xt = d.q_sample(x0, tt, torch.randn(x0.shape, generator=g))
        with torch.no_grad():
            pred = d.predict_x0(pipe.denoiser, xt, tt, cond, mask)
        abar = float(d.alphas_cumprod[t])
        print(f"   t={t:4d}: model {float(((pred - x0) ** 2).mean()):.4f}, identity "
              f"{float(((xt / abar ** 0.5 - x0) ** 2).mean()):.4f}")
    print("3. jerk (m/s^3) of the same captions by sampler (real clips: "
          f"{np.mean([motion_quality(recover_joints_from_features(c['features']))['jerk'] for c in clips]):.0f})")
    prompts = [Prompt(c["caption"], len(c["features"]) / 20) for c in clips]
    settings = [("ddim", 50, None), ("ddim", 200, None), ("dpm", 15, None), ("ddim", 50, 1.0)]
    last = None
    for sampler, steps, guidance in settings:
        ms = pipe.generate(prompts, sampler=sampler, steps=steps, guidance_scale=guidance, cleanup=False,
                           literal=True)
        jerk = np.mean([motion_quality(m.joints)["jerk"] for m in ms])
        label = f"{sampler} {steps}" + (" guidance off" if guidance == 1.0 else "")
        print(f"   {label:<22} {jerk:8.0f}")
        if last is None:
            last = ms
    print("4. joints from ric positions vs from 6D rotations on the fixed skeleton (DDIM 50 motions above)")
    for name, fn in (("ric positions", recover_joints_from_features), ("6D rotations (FK)", recover_joints_from_rotations)):
        q = [motion_quality(fn(m.features)) for m in last]
        print(f"   {name:<18} jerk {np.mean([x['jerk'] for x in q]):7.0f}  bone CV {np.mean([x['bone_cv'] for x in q]):.2%}"
              f"  high-freq {np.mean([x['high_freq'] for x in q]):.1%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
