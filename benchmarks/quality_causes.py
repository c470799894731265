"""Where does shaking come from? Experiments behind docs/motion_quality.md, for any model directory.

    python benchmarks/quality_causes.py [--model DIR] [--data corpus] [--clips 8]

1. x_t sensitivity: at diffusion step t, how much the x0 estimate moves when x_t moves (ratio of norms along a
   random direction; a denoiser that follows its input at low noise gives about 1/sqrt(abar_t) ~ 1).
2. Denoising error: the x0 error of one denoising call at t = 1 ... 500 on real test motions, next to the error of
   simply returning x_t / sqrt(abar_t) (what "follow the input" gives).
3. Sampler and guidance: jerk of the same captions under DDIM 50, DDIM 200, DPM-Solver++ 15, and guidance off.
4. Joints from the ric positions vs. from the 6D rotations on the fixed skeleton vs. the ric positions on fixed
   bone lengths (what the pipeline gives): jerk and bone-length CV.
5. Walking gait, for the test clips whose caption says walk: the share of frames with a foot near the floor and,
   among them, the share where it slides (foot skating), from the joint positions and from the features' own
   velocity channels, generated against real. (If both slide, skating is in the model, not in the decoding.)

``--x0-lowpass HZ`` overrides the model folder's band limit of the x0 estimate (0 = off).
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
    ap.add_argument("--x0-lowpass", type=float, default=None, metavar="HZ")
    args = ap.parse_args(argv)

    from motion_quality import load_clips

    from motiongen.evaluate.quality import motion_quality
    from motiongen.models.condition import MotionCondition
    from motiongen.motion.features import (
        recover_joints_from_features,
        recover_joints_from_rotations,
        rigid_bone_lengths,
    )
    from motiongen.pipeline import MotionPipeline, Prompt, default_model_dir

    mdir = args.model or str(default_model_dir())
    pipe = MotionPipeline.from_pretrained(mdir)
    d = pipe.diffusion
    if args.x0_lowpass is not None:
        d.x0_lowpass_hz = args.x0_lowpass
    clips = load_clips(args.data, "test", args.clips)
    T = min(len(c["features"]) for c in clips)
    x0 = torch.tensor(np.stack([(c["features"][:T] - pipe.mean) / pipe.std for c in clips]), dtype=torch.float32)
    mask = torch.ones(len(clips), T, dtype=torch.bool)
    cond = MotionCondition(pipe.encode_texts([c["caption"] for c in clips]))
    g = torch.Generator().manual_seed(0)
    print(f"model: {mdir} (parameterisation: {d.parameterization}, x0 band limit {d.x0_lowpass_hz:g} Hz)")
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
    if d.x0_lowpass_hz:
        from motiongen.diffusion.bandlimit import lowpass_frames
        floor = lowpass_frames(x0, mask, d.fps, d.x0_lowpass_hz, pipe.skeleton.layout.slices["foot_contact"])
        print(f"   the band limit alone, applied to the true x0: {float(((floor - x0) ** 2).mean()):.4f} (its floor)")
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
    for name, fn in (("ric positions", recover_joints_from_features), ("6D rotations (FK)", recover_joints_from_rotations),
                     ("ric, fixed bones", lambda f: rigid_bone_lengths(recover_joints_from_features(f)))):
        q = [motion_quality(fn(m.features)) for m in last]
        print(f"   {name:<18} jerk {np.mean([x['jerk'] for x in q]):7.0f}  bone CV {np.mean([x['bone_cv'] for x in q]):.2%}"
              f"  high-freq {np.mean([x['high_freq'] for x in q]):.1%}")
    walks = [c for c in load_clips(args.data, "test", None) if "walk" in c["caption"].lower()][:args.clips]
    gen = pipe.generate([Prompt(c["caption"], len(c["features"]) / 20) for c in walks], cleanup=False, literal=True)
    feet = list(pipe.skeleton.left_foot_index) + list(pipe.skeleton.right_foot_index)
    vel = pipe.skeleton.layout.slices["local_velocity"]

    def gait(features, joints):
        height = joints[:, feet, 1]
        near = (height[1:] < 0.05) & (height[:-1] < 0.05)          # the skating metric's contact test
        from_pos = np.linalg.norm(np.diff(joints[:, feet][:, :, [0, 2]], axis=0), axis=-1)
        v = features[:-1, vel].reshape(len(features) - 1, -1, 3)[:, feet][:, :, [0, 2]]
        from_vel = np.linalg.norm(v, axis=-1)
        return near.mean(), (from_pos[near] > 0.025).mean(), (from_vel[near] > 0.025).mean()
    print(f"5. walking gait ({len(walks)} walk captions): feet near the floor / sliding among those, from positions / "
          f"from the velocity channels")
    for name, rows in (("real", [gait(c["features"], recover_joints_from_features(c["features"])) for c in walks]),
                       ("generated", [gait(m.features, m.joints) for m in gen])):
        near, pos, v = np.mean(rows, axis=0)
        print(f"   {name:<10} near the floor {near:.0%}  sliding {pos:.0%} (positions) {v:.0%} (velocity channels)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
