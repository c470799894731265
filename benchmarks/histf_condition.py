"""Does HiSTF Mamba follow its text? Figures for issue 31 (docs/histf.md, "Conditioning").

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/histf_condition.py probe [--model src/motiongen/checkpoints/histf]
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/histf_condition.py overfit [--steps 300] [--models ...]

``probe`` reads a trained model folder (default: the packaged HiSTF) on the 7 real HumanML3D clips of
../shared/data/humanml3d and prints

* scales: RMS of the condition token's time part MLP(t), its text part proj(text), the left/right text
  difference, and of the motion tokens, as they enter the first block;
* gradients: the norm of d<out, r>/d(pooled text) against d<out, r>/d(x_t) (r a fixed random direction) at
  several noise levels, and the same per input element;
* ablation: how much the x0 estimate moves when the real condition is replaced by the null text or by another
  clip's caption (shuffled), and between the prompts "raises the left hand" / "raises the right hand", relative to
  the x0 estimate's own size, at several noise levels; and after each block, how much the condition changes the
  frames (real vs null).

``overfit`` is the data-or-design test: tiny models of each design (HiSTF as packaged = one condition token;
HiSTF with this fix; the MDM-style baseline; FineMoGen), equal steps, batch and learning rate, on one real clip
(HumanML3D M010968: the left hand is raised to 1.7 m, the right stays at 0.9 m) captioned "a person raises the
left hand" and its mirror image captioned "a person raises the right hand". After training each model samples
both prompts (DDIM, 10 steps, same seeds) and the script prints the left-minus-right wrist height of each; the
mirror score (gap_left_prompt - gap_right_prompt) / (2 x the real gap) is 1 for a model that follows the prompt
and 0 for one that ignores it.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from motiongen.diffusion.gaussian import GaussianDiffusion
from motiongen.models.condition import MotionCondition
from motiongen.motion.features import mirror_features, recover_joints_from_features
from motiongen.text.encoders import load_text_encoder

ROOT = Path(__file__).resolve().parents[1]
HML = ROOT.parent / "shared" / "data" / "humanml3d"
CLIPS = ["000000", "007005", "009548", "011673", "012314", "M010655", "M010968"]
CAPTIONS = {   # what each clip shows (from its HumanML3D caption where one is stored here, else a description)
    "000000": "a man kicks something with his left leg",
    "007005": "a person walks forward",
    "009548": "a person raises the left arm",
    "011673": "a person stands and shifts weight",
    "012314": "a person plays tennis and hits the ball with the racket in his right hand",
    "M010655": "a person walks and turns",
    "M010968": "a person raises the left hand",
}
LEFT, RIGHT = "a person raises the left hand", "a person raises the right hand"
L_WRIST, R_WRIST = 20, 21
NOISE_LEVELS = (50, 250, 500, 750, 950)


def rms(x: torch.Tensor) -> float:
    return float(x.pow(2).mean().sqrt())


def load_clips(max_frames: int = 120) -> dict[str, np.ndarray]:
    if not HML.is_dir():
        sys.exit(f"error: real data not found at {HML}")
    return {c: np.load(HML / "new_joint_vecs" / f"{c}.npy")[:max_frames].astype(np.float32) for c in CLIPS}


def _batch(clips: dict, mean, std) -> tuple[torch.Tensor, torch.Tensor]:
    T = max(len(v) for v in clips.values())
    x = torch.zeros(len(clips), T, clips[CLIPS[0]].shape[1])
    mask = torch.zeros(len(clips), T, dtype=torch.bool)
    for i, v in enumerate(clips.values()):
        x[i, :len(v)] = torch.as_tensor((v - mean) / std)
        mask[i, :len(v)] = True
    return x, mask


def probe(args) -> None:
    from motiongen.models.pretrained import load_model_dir
    torch.manual_seed(0)
    model, *rest = load_model_dir(args.model)
    cfg = json.loads((Path(args.model) / "config.json").read_text())
    mean, std = np.load(Path(args.model) / "mean.npy"), np.load(Path(args.model) / "std.npy")
    model.eval()
    diffusion = GaussianDiffusion.from_config({**cfg["diffusion"], "x0_lowpass_hz": 0.0, "transition_lowpass_hz": 0.0})
    enc = load_text_encoder(cfg["text_encoder"]["name"])
    clips = load_clips()
    x0, mask = _batch(clips, mean, std)
    B = len(clips)
    texts = [CAPTIONS[c] for c in CLIPS]
    cond = MotionCondition(enc.encode(texts))
    shuffled = MotionCondition(enc.encode(texts[1:] + texts[:1]))
    null = cond.null()
    left, right = MotionCondition(enc.encode([LEFT] * B)), MotionCondition(enc.encode([RIGHT] * B))
    print(f"model: {args.model} ({model.num_parameters() / 1e6:.2f}M parameters, "
          f"{type(model.config).__name__}: condition_every_block="
          f"{getattr(model.config, 'condition_every_block', '-')}, condition_norm={getattr(model.config, 'condition_norm', '-')})")
    print(f"text encoder {enc.name}: pooled |left - right| max {float((left.text.pooled - right.text.pooled).abs().max()):.3f},"
          f" cosine {float(torch.nn.functional.cosine_similarity(left.text.pooled[:1], right.text.pooled[:1])):.4f}")
    print(f"classifier-free guidance: null text = zero pooled vector and one zero token "
          f"(|pooled| {float(null.text.pooled.abs().max()):.1f}); training drops captions with p = "
          f"{cfg.get('training', {}).get('cond_drop', 0.1)}")
    gen = torch.Generator().manual_seed(0)
    noise = torch.randn(x0.shape, generator=gen)
    if hasattr(model, "text_proj") and hasattr(model, "time_mlp"):
        print("\n== scales (RMS over the batch) as the condition token and the frames enter the first block ==")
        print(f"{'t':>5} {'MLP(t)':>8} {'proj(text)':>10} {'proj(L)-proj(R)':>16} {'proj(null)':>10} {'motion tokens':>13}")
        with torch.no_grad():
            for t in NOISE_LEVELS:
                tt = torch.full((B,), t)
                from motiongen.models.base import timestep_embedding
                time_part = model.time_mlp(timestep_embedding(tt, model.config.latent_dim))
                if getattr(model, "time_norm", None) is not None:
                    time_part = model.time_norm(time_part)

                def text_part(c):
                    v = model.text_proj(c.text.pooled)
                    tn = getattr(model, "text_norm", None)
                    return tn(v) if tn is not None else v
                xt = diffusion.q_sample(x0, tt, noise)
                frames = model.input_proj(xt)[mask]
                print(f"{t:>5} {rms(time_part):>8.3f} {rms(text_part(cond)):>10.3f} "
                      f"{rms(text_part(left) - text_part(right)):>16.4f} {rms(text_part(null)):>10.3f} {rms(frames):>13.3f}")
    print("\n== gradients: |d<x0_hat, r>/d pooled text| vs |d<x0_hat, r>/d x_t| (r fixed random, unit RMS) ==")
    print(f"{'t':>5} {'|g_text|':>10} {'|g_x|':>10} {'g_text RMS/elt':>15} {'g_x RMS/elt':>12}")
    r = torch.randn(x0.shape, generator=gen) * mask[..., None]
    for t in NOISE_LEVELS:
        tt = torch.full((B,), t)
        xt = diffusion.q_sample(x0, tt, noise).requires_grad_()
        pooled = cond.text.pooled.clone().requires_grad_()
        from motiongen.text.encoders import TextFeatures
        c = MotionCondition(TextFeatures(cond.text.tokens, cond.text.mask, pooled))
        out = diffusion.predict_x0(model, xt, tt, c, mask)
        gt, gx = torch.autograd.grad((out * r).sum(), [pooled, xt])
        gx = gx[mask]
        print(f"{t:>5} {float(gt.norm()):>10.4f} {float(gx.norm()):>10.4f} {rms(gt):>15.2e} {rms(gx):>12.2e}")
    print("\n== ablation: relative change of the x0 estimate, |x0(a) - x0(b)| / |x0(real)| over valid frames ==")
    print(f"{'t':>5} {'real-null':>10} {'real-shuffled':>14} {'left-right':>11}   (joints: left-right wrist-height gap, m)")
    with torch.no_grad():
        for t in NOISE_LEVELS:
            tt = torch.full((B,), t)
            xt = diffusion.q_sample(x0, tt, noise)
            outs = {k: diffusion.predict_x0(model, xt, tt, c, mask) for k, c in
                    (("real", cond), ("null", null), ("shuf", shuffled), ("L", left), ("R", right))}
            ref = outs["real"][mask].norm()

            def rel(a, b):
                return float((outs[a] - outs[b])[mask].norm() / ref)

            def gap(k):
                j = recover_joints_from_features(outs[k].numpy() * std + mean)
                return float(np.mean([(j[i, :int(mask[i].sum()), L_WRIST, 1] - j[i, :int(mask[i].sum()), R_WRIST, 1]).mean()
                                      for i in range(B)]))
            print(f"{t:>5} {rel('real', 'null'):>10.4f} {rel('real', 'shuf'):>14.4f} {rel('L', 'R'):>11.4f}"
                  f"   (L prompt {gap('L'):+.3f}, R prompt {gap('R'):+.3f})")
    if hasattr(model, "layers") and hasattr(model, "time_mlp"):
        print("\n== per block: |frames(real) - frames(null)| / |frames(real)| after each block, t = 500 ==")
        hooks, store = [], {}
        blocks = []
        for li, layer in enumerate(model.layers):
            for bi, blk in enumerate(layer.temporal):
                blocks.append((f"layer {li} temporal {bi}", blk))
            blocks.append((f"layer {li} spatial", layer.spatial))
            blocks.append((f"layer {li} output", layer))
        for name, blk in blocks:
            hooks.append(blk.register_forward_hook(lambda m, i, o, name=name: store.__setitem__(name, o)))
        tt = torch.full((B,), 500)
        xt = diffusion.q_sample(x0, tt, noise)
        res = {}
        with torch.no_grad():
            for k, c in (("real", cond), ("null", null)):
                store.clear()
                model(xt, tt, c, mask)
                res[k] = dict(store)
        for h in hooks:
            h.remove()
        for name, _ in blocks:
            a, b = res["real"][name], res["null"][name]
            if a.shape[1] == mask.shape[1] + 1:
                a, b = a[:, 1:], b[:, 1:]
            print(f"  {name:<22} {float((a - b)[mask].norm() / a[mask].norm()):.4f}")


# ---- overfit: data or design ------------------------------------------------------------------------------------
TINY = {
    "histf-token": ("histf", dict(latent_dim=64, num_temporal_blocks=2, num_layers=1, d_state=8, part_dim=16,
                                  whole_dim=32, dropout=0.0, condition_every_block=False, condition_norm=False)),
    "histf-fixed": ("histf", dict(latent_dim=64, num_temporal_blocks=2, num_layers=1, d_state=8, part_dim=16,
                                  whole_dim=32, dropout=0.0)),
    "baseline": ("baseline", dict(latent_dim=64, num_layers=2, num_heads=4, ff_dim=128, dropout=0.0)),
    "finemogen": ("finemogen", dict(num_layers=2, part_dim=16, num_templates=8, text_latent_dim=32, text_layers=1,
                                    text_heads=2, dropout=0.0)),
}


def mirror_pair(mean, std):
    clip = np.load(HML / "new_joint_vecs" / "M010968.npy").astype(np.float32)
    both = np.stack([clip, mirror_features(clip)])
    return torch.as_tensor((both - mean) / std, dtype=torch.float32)


def wrist_gap(feats_norm: torch.Tensor, mean, std) -> np.ndarray:
    """Mean over frames of left-wrist height minus right-wrist height, metres, per sample."""
    j = recover_joints_from_features(feats_norm.numpy() * std + mean)
    return (j[..., L_WRIST, 1] - j[..., R_WRIST, 1]).mean(-1)


def train_and_score(name: str, steps: int, batch: int, lr: float, seed: int, enc, guidance: float,
                    mean, std) -> dict:
    from motiongen.diffusion.sampling import Guidance, make_scheduler, sample
    from motiongen.models.registry import build_denoiser
    kind, kw = TINY[name]
    torch.manual_seed(seed)
    model = build_denoiser(kind, text_dim=enc.dim, **kw)
    pair = mirror_pair(mean, std)
    texts = [LEFT, RIGHT]
    feats = enc.encode(texts)
    diffusion = GaussianDiffusion(parameterization="skip")
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    gen = torch.Generator().manual_seed(seed)
    idx = torch.arange(batch) % 2
    x0 = pair[idx]
    mask = torch.ones(x0.shape[:2], dtype=torch.bool)
    full = MotionCondition(type(feats)(feats.tokens[idx], feats.mask[idx], feats.pooled[idx]))
    model.train()
    t0 = time.perf_counter()
    losses = []
    for _ in range(steps):
        drop = torch.rand(batch, generator=gen) < 0.1
        out = diffusion.training_losses(model, x0, mask, full.dropped(drop), generator=gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["simple"].detach()))
    train_s = time.perf_counter() - t0
    model.eval()
    cond = MotionCondition(feats)
    m2 = torch.ones(2, pair.shape[1], dtype=torch.bool)
    gens = [torch.Generator().manual_seed(1), torch.Generator().manual_seed(1)]   # same noise for both prompts
    x = sample(model, cond, m2, feature_dim=pair.shape[-1], uncond=cond.null(), diffusion=diffusion,
               scheduler=make_scheduler("ddim", diffusion, 10), guidance=Guidance(guidance), generators=gens)
    gap = wrist_gap(x, mean, std)
    real = wrist_gap(pair, mean, std)
    return {"model": name, "params": model.num_parameters(), "loss_first": float(np.mean(losses[:10])),
            "loss_last": float(np.mean(losses[-10:])), "gap_left": float(gap[0]), "gap_right": float(gap[1]),
            "score": float((gap[0] - gap[1]) / (real[0] - real[1])), "real_gap": float(real[0]), "train_s": train_s}


def overfit(args) -> None:
    mean, std = np.load(HML / "Mean.npy"), np.load(HML / "Std.npy")
    std = np.where(std < 1e-3, 1.0, std).astype(np.float32)
    enc = load_text_encoder("minilm")
    print(f"overfit on M010968 ({LEFT!r}) and its mirror ({RIGHT!r}): {args.steps} steps, batch {args.batch}, "
          f"lr {args.lr}, 10% text dropout, DDIM 10 steps, guidance {args.guidance}")
    print(f"{'model':<12} {'params':>8} {'loss 0-10':>9} {'loss last10':>11} {'gap(L prompt)':>13} "
          f"{'gap(R prompt)':>13} {'mirror score':>12} {'train s':>8}")
    for name in args.models:
        scores = []
        for seed in args.seeds:
            r = train_and_score(name, args.steps, args.batch, args.lr, seed, enc, args.guidance, mean, std)
            scores.append(r["score"])
            print(f"{name:<12} {r['params'] / 1e3:>7.0f}K {r['loss_first']:>9.3f} {r['loss_last']:>11.3f} "
                  f"{r['gap_left']:>+13.3f} {r['gap_right']:>+13.3f} {r['score']:>12.2f} {r['train_s']:>8.1f}"
                  f"   (seed {seed}; real gap {r['real_gap']:+.3f} m)", flush=True)
        if len(scores) > 1:
            print(f"{name:<12} mean mirror score {np.mean(scores):.2f} over seeds {list(args.seeds)}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("probe")
    p.add_argument("--model", default=str(ROOT / "src" / "motiongen" / "checkpoints" / "histf"))
    o = sub.add_parser("overfit")
    o.add_argument("--steps", type=int, default=300)
    o.add_argument("--batch", type=int, default=8)
    o.add_argument("--lr", type=float, default=1e-3)
    o.add_argument("--guidance", type=float, default=2.5)
    o.add_argument("--seeds", type=int, nargs="+", default=[0])
    o.add_argument("--models", nargs="+", default=list(TINY), choices=list(TINY))
    args = ap.parse_args()
    torch.set_num_threads(1)
    probe(args) if args.cmd == "probe" else overfit(args)


if __name__ == "__main__":
    main()
