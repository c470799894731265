"""``motiongen evaluate``: several models side by side on one split, in the papers' table layout.

For each replication r the split is drawn with the dataset's (seed + r) crops and captions, in batches of 32
(text, real motion) pairs; each model generates one motion per caption at the real motion's length. The real
row uses the real motions (its FID compares two independent draws of real crops). MultiModality uses the first
``mm_texts`` captions with ``mm_samples`` generations each. Physical metrics average over the generated motions
of the first replication. AITS is measured separately (batch 1, model loading excluded): see
``benchmarks/aits.py`` and :func:`aits`.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import torch

from ..io_utils import atomic_write
from .metrics import diversity, fid, mean_and_confidence, multimodality, r_precision
from .physical import physical_metrics

__all__ = ["evaluate_models", "format_table", "aits"]


def _draw(ds, rep: int, seed: int):
    ds.set_epoch(1000 * seed + rep)
    order = np.random.default_rng((seed, rep)).permutation(len(ds))
    return [ds[int(i)] for i in order]


def _embed_real(ev, items, device, bs=32):
    me, te = [], []
    with torch.no_grad():
        for s in range(0, len(items), bs):
            chunk = items[s:s + bs]
            motion = torch.as_tensor(np.stack([it["motion"] for it in chunk])).to(device)
            lengths = torch.as_tensor([it["length"] for it in chunk]).to(device)
            me.append(ev.motion_embedding(motion, lengths).cpu().numpy())
            te.append(ev.text_embedding([it["tokens"].split() for it in chunk]).cpu().numpy())
    return np.concatenate(me), np.concatenate(te)


def _generate(pipe, items, seed, sampler, steps, batch_size, num_samples=1):
    """One motion per (caption, real length) of ``items`` (``num_samples`` each)."""
    from ..pipeline import Prompt
    prompts = [Prompt(it["text"], max(it["length"], 10) / 20.0) for it in items]
    return pipe.generate(prompts, num_samples=num_samples, seed=seed, sampler=sampler, steps=steps,
                         batch_size=batch_size)


def _embed_generated(ev, motions, device, bs=32):
    out = []
    with torch.no_grad():
        for s in range(0, len(motions), bs):
            chunk = motions[s:s + bs]
            T = max(m.num_frames for m in chunk)
            feats = np.zeros((len(chunk), T, chunk[0].features.shape[1]), np.float32)
            for i, m in enumerate(chunk):
                feats[i, :m.num_frames] = m.features
            lengths = torch.as_tensor([m.num_frames for m in chunk])
            out.append(ev.motion_embedding(torch.as_tensor(feats).to(device), lengths.to(device)).cpu().numpy())
    return np.concatenate(out)


def evaluate_models(model_dirs: list[str], data: str, evaluator_dir: str, split: str = "test",
                    replications: int = 20, mm_texts: int = 100, mm_samples: int = 30, seed: int = 0,
                    sampler: str | None = None, steps: int | None = None, batch_size: int = 32,
                    device: str = "cpu", max_items: int | None = None, progress: bool = True) -> dict:
    from tqdm.auto import tqdm

    from ..data.dataset import MotionTextDataset
    from ..pipeline import MotionPipeline
    from .evaluator import load_evaluator

    ev = load_evaluator(evaluator_dir, device)
    ds = MotionTextDataset(data, split, normalize=False, seed=seed)
    results: dict = {"split": split, "data": str(data), "evaluator": str(evaluator_dir),
                     "replications": replications, "rows": {}}
    draws = []
    for r in range(replications):
        items = _draw(ds, r, seed)
        if max_items:
            items = items[:max_items]
        draws.append(items)
    # real motions
    real = {k: [] for k in ("fid", "top1", "top2", "top3", "mm_dist", "diversity")}
    real_emb, text_emb = [], []
    for r, items in enumerate(draws):
        me, te = _embed_real(ev, items, device)
        other, _ = _embed_real(ev, _draw(ds, r + 10_000, seed)[:len(items)], device)
        real_emb.append(me)
        text_emb.append(te)
        top, mm = r_precision(te, me)
        real["fid"].append(fid(other, me))
        real["top1"].append(top[0]); real["top2"].append(top[1]); real["top3"].append(top[2])  # noqa: E702
        real["mm_dist"].append(mm)
        real["diversity"].append(diversity(me, min(300, len(me) - 1), np.random.default_rng((seed, r))))
    results["rows"]["Real motions"] = {k: mean_and_confidence(v) for k, v in real.items()}
    for mdir in model_dirs:
        pipe = MotionPipeline.from_pretrained(mdir, device=device)
        name = Path(mdir).name
        row = {k: [] for k in ("fid", "top1", "top2", "top3", "mm_dist", "diversity")}
        phys: list[dict] = []
        t0 = time.perf_counter()
        for r, items in enumerate(tqdm(draws, desc=name, disable=not progress)):
            motions = _generate(pipe, items, seed * 100_000 + r * 10_000, sampler, steps, batch_size)
            ge = _embed_generated(ev, motions, device)
            te = text_emb[r]
            top, mm = r_precision(te, ge)
            row["fid"].append(fid(real_emb[r], ge))
            row["top1"].append(top[0]); row["top2"].append(top[1]); row["top3"].append(top[2])  # noqa: E702
            row["mm_dist"].append(mm)
            row["diversity"].append(diversity(ge, min(300, len(ge) - 1), np.random.default_rng((seed, r))))
            if r == 0:
                phys = [physical_metrics(m.joints) for m in motions]
        out = {k: mean_and_confidence(v) for k, v in row.items()}
        if mm_texts and mm_samples > 10:
            items = draws[0][:mm_texts]
            ms = _generate(pipe, items, seed + 7, sampler, steps, batch_size, num_samples=mm_samples)
            emb = _embed_generated(ev, ms, device).reshape(len(items), mm_samples, -1)
            out["multimodality"] = (multimodality(emb), 0.0)
        for key in ("foot_skating", "jitter", "penetration", "floating"):
            out[key] = (float(np.mean([p[key] for p in phys])), 0.0)
        out["model"] = {"dir": str(mdir), "type": pipe.denoiser.model_type,
                        "parameters": pipe.denoiser.num_parameters(),
                        "sampler": sampler or pipe.info.get("sampling", {}).get("sampler"),
                        "steps": steps or pipe.info.get("sampling", {}).get("steps")}
        out["seconds"] = round(time.perf_counter() - t0, 1)
        results["rows"][name] = out
    return results


def format_table(results: dict) -> str:
    cols = [("top1", "Top1"), ("top2", "Top2"), ("top3", "Top3"), ("fid", "FID"), ("mm_dist", "MM-Dist"),
            ("diversity", "Diversity"), ("multimodality", "MModality"), ("foot_skating", "Skate")]
    lines = [f"{'Method':<22}" + "".join(f"{h:>16}" for _, h in cols)]
    for name, row in results["rows"].items():
        cells = []
        for key, _ in cols:
            if key in row:
                m, ci = row[key]
                cells.append(f"{m:.3f}±{ci:.3f}" if ci else f"{m:.3f}")
            else:
                cells.append("-")
        lines.append(f"{name:<22}" + "".join(f"{c:>16}" for c in cells))
    return "\n".join(lines)


def write_results(path: str, results: dict) -> None:
    atomic_write(path, lambda p: p.write_text(json.dumps(results, indent=2) + "\n"))


def aits(pipe, texts: list[str], seconds: float = 4.0, sampler: str | None = None, steps: int | None = None,
         warmup: int = 1) -> float:
    """Average inference time per sentence at batch 1, loading excluded (text encoding included, as AITS does)."""
    for t in texts[:warmup]:
        pipe.generate(t, seconds, sampler=sampler, steps=steps)
    start = time.perf_counter()
    for i, t in enumerate(texts):
        pipe.generate(t, seconds, sampler=sampler, steps=steps, seed=i)
    return (time.perf_counter() - start) / len(texts)
