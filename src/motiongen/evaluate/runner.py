"""``motiongen evaluate``: several models side by side on one split, in the papers' table layout.

For each replication r the split is drawn with the dataset's (seed + r) crops and captions, in batches of 32
(text, real motion) pairs; each model generates one motion per caption at the real motion's length. The real
row uses the real motions; its FID compares two crop draws of the *same* motions (as Guo et al. do), also when
``max_items`` keeps only the first items of a draw. MultiModality uses the first ``mm_texts`` captions of each
replication's draw with ``mm_samples`` generations each, replicated like the other metrics. Diversity uses 300
pairs, or fewer when a replication has 300 motions or fewer (``notes`` then says how many). Physical metrics
average over the generated motions of the first replication. AITS is measured separately (batch 1, model loading excluded): see
``benchmarks/aits.py`` and :func:`aits`.

What is measured is the denoiser's raw output, as the papers measure it: by default the model folder's
sampling-time filters beyond the papers (the x0 band limit ``x0_lowpass_hz`` and the stage-boundary easing
``transition_lowpass_hz``) are switched off, and the physical metrics use the joints as the features decode them
(not put on fixed bone lengths). ``sampling_filters=True`` / ``rigid_bones=True`` (``--sampling-filters``,
``--rigid-bones``) turn them on. Every setting that shaped a row's numbers is recorded in its ``settings`` (and
the run's in ``results["settings"]``), and :func:`format_table` prints them under the table.
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


def _draw(ds, rep: int, seed: int, crop_epoch: int | None = None, limit: int | None = None):
    """Replication ``rep``'s items in its own order; ``crop_epoch`` redraws the crops and captions of the same
    items (the real-vs-real FID's second draw)."""
    ds.set_epoch(1000 * seed + rep if crop_epoch is None else crop_epoch)
    order = np.random.default_rng((seed, rep)).permutation(len(ds))
    if limit:
        order = order[:limit]
    return [ds[int(i)] for i in order]


def _diversity(emb, rng, notes: list, where: str) -> float:
    times = min(300, len(emb) - 1)
    if times < 300:
        note = f"{where}: Diversity from {times} pairs (a replication has {len(emb)} motions; the protocol uses 300)"
        if note not in notes:
            notes.append(note)
    return diversity(emb, times, rng)


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


def configure_for_evaluation(pipe, sampling_filters: bool = False, rigid_bones: bool = False) -> dict:
    """Set the pipeline up for measuring: the model folder's x0 band limit and transition easing stay only with
    ``sampling_filters``; joints on fixed bone lengths only with ``rigid_bones``. Returns what it set, with the
    folder's own values, for the results."""
    folder = {"x0_lowpass_hz": pipe.diffusion.x0_lowpass_hz,
              "transition_lowpass_hz": pipe.diffusion.transition_lowpass_hz}
    if not sampling_filters:
        pipe.diffusion.x0_lowpass_hz = 0.0
        pipe.diffusion.transition_lowpass_hz = 0.0
    pipe.rigid_skeleton = bool(rigid_bones)
    return {"x0_lowpass_hz": pipe.diffusion.x0_lowpass_hz,
            "transition_lowpass_hz": pipe.diffusion.transition_lowpass_hz,
            "model_folder_x0_lowpass_hz": folder["x0_lowpass_hz"],
            "model_folder_transition_lowpass_hz": folder["transition_lowpass_hz"],
            "bone_lengths": "rigid (median length per bone)" if rigid_bones else "as decoded from the features",
            "export_cleanup": False, "compound_sentences_as_plans": False}


def _generate(pipe, items, seed, sampler, steps, batch_size, num_samples=1, bar=None, guidance_scale=None):
    """One motion per (caption, real length) of ``items`` (``num_samples`` each), in batches; ``bar`` counts them."""
    from ..pipeline import Prompt
    prompts = [Prompt(it["text"], max(it["length"], 10) / 20.0) for it in items]
    per_call = max(1, batch_size // num_samples)
    out = []
    for s in range(0, len(prompts), per_call):
        chunk = prompts[s:s + per_call]
        # seeds follow the item's position, so batching does not change any motion
        # the model's raw output (no export cleanup, no compound-sentence plans): what the papers measure
        out += pipe.generate(chunk, num_samples=num_samples, seed=seed + s * num_samples, sampler=sampler,
                             steps=steps, batch_size=batch_size, cleanup=False, literal=True,
                             guidance_scale=guidance_scale)
        if bar is not None:
            bar.update(len(chunk) * num_samples)
    return out


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
                    device: str = "cpu", max_items: int | None = None, progress: bool = True,
                    guidance_scale: float | None = None, sampling_filters: bool = False,
                    rigid_bones: bool = False) -> dict:
    from tqdm.auto import tqdm

    from ..data.dataset import MotionTextDataset
    from ..pipeline import MotionPipeline
    from .evaluator import load_evaluator

    ev = load_evaluator(evaluator_dir, device)
    ds = MotionTextDataset(data, split, normalize=False, seed=seed)
    results: dict = {"split": split, "data": str(data), "evaluator": str(evaluator_dir),
                     "replications": replications, "rows": {},
                     "settings": {"split": split, "replications": replications, "seed": seed, "max_items": max_items,
                                  "mm_texts": mm_texts, "mm_samples": mm_samples, "sampling_filters": sampling_filters,
                                  "rigid_bones": rigid_bones, "batch_size": batch_size}}
    notes: list[str] = []
    results["notes"] = notes
    draws = [_draw(ds, r, seed, limit=max_items) for r in range(replications)]
    # real motions
    keys = ("fid", "top1", "top2", "top3", "mm_dist", "diversity")
    real = {k: [] for k in keys}
    real_emb, text_emb = [], []
    for r, items in enumerate(draws):
        me, te = _embed_real(ev, items, device)
        other, _ = _embed_real(ev, _draw(ds, r, seed, crop_epoch=1000 * seed + r + 10_000, limit=max_items), device)
        real_emb.append(me)
        text_emb.append(te)
        top, mm = r_precision(te, me)
        real["fid"].append(fid(other, me))
        real["top1"].append(top[0]); real["top2"].append(top[1]); real["top3"].append(top[2])  # noqa: E702
        real["mm_dist"].append(mm)
        real["diversity"].append(_diversity(me, np.random.default_rng((seed, r)), notes, "real"))
    results["rows"]["Real motions"] = {k: mean_and_confidence(v) for k, v in real.items()}
    run_mm = bool(mm_texts) and mm_samples > 10
    if mm_texts and not run_mm:
        notes.append(f"MultiModality skipped: it draws 10 pairs among each text's samples, so it needs "
                     f"--mm-samples above 10 (got {mm_samples})")
    for mdir in model_dirs:
        pipe = MotionPipeline.from_pretrained(mdir, device=device)
        settings = configure_for_evaluation(pipe, sampling_filters, rigid_bones)
        # sampler, steps and guidance: what the pipeline ran (the model folder's recorded sampling unless
        # overridden), read from the first motion's meta after generating, never re-derived here
        settings = {"sampler": None, "steps": None, "guidance_scale": None, "guidance_schedule": None, **settings,
                    "seed": seed, "replications": replications, "split": split, "max_items": max_items}
        name = Path(mdir).name
        row = {k: [] for k in keys}
        mm_values: list[float] = []
        phys: list[dict] = []
        t0 = time.perf_counter()
        n_mm = min(mm_texts, len(draws[0])) * mm_samples if run_mm else 0
        total = sum(len(it) for it in draws) + n_mm * replications
        bar = tqdm(total=total, desc=name, unit="motion", disable=not progress)
        for r, items in enumerate(draws):
            motions = _generate(pipe, items, seed * 100_000 + r * 10_000, sampler, steps, batch_size, bar=bar,
                                guidance_scale=guidance_scale)
            if r == 0:
                used = motions[0].meta
                settings.update(sampler=used["sampler"], steps=used["steps"],
                                guidance_scale=float(used["guidance"]["scale"]),
                                guidance_schedule=used["guidance"]["schedule"])
            ge = _embed_generated(ev, motions, device)
            te = text_emb[r]
            top, mm = r_precision(te, ge)
            row["fid"].append(fid(real_emb[r], ge))
            row["top1"].append(top[0]); row["top2"].append(top[1]); row["top3"].append(top[2])  # noqa: E702
            row["mm_dist"].append(mm)
            row["diversity"].append(_diversity(ge, np.random.default_rng((seed, r)), notes, name))
            if r == 0:
                phys = [physical_metrics(m.joints) for m in motions]
            if run_mm:
                mm_items = items[:mm_texts]
                ms = _generate(pipe, mm_items, seed * 100_000 + r * 10_000 + 7, sampler, steps, batch_size,
                               num_samples=mm_samples, bar=bar, guidance_scale=guidance_scale)
                emb = _embed_generated(ev, ms, device).reshape(len(mm_items), mm_samples, -1)
                mm_values.append(multimodality(emb, rng=np.random.default_rng((seed, r, 1))))
        bar.close()
        out = {k: mean_and_confidence(v) for k, v in row.items()}
        if mm_values:
            out["multimodality"] = mean_and_confidence(mm_values)
        for key in ("foot_skating", "jitter", "penetration", "floating"):
            out[key] = (float(np.mean([p[key] for p in phys])), 0.0)
        out["model"] = {"dir": str(mdir), "type": pipe.denoiser.model_type,
                        "parameters": pipe.denoiser.num_parameters(),
                        "sampler": settings["sampler"], "steps": settings["steps"]}
        out["settings"] = settings
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
    run = results.get("settings", {})
    if run:
        lines.append(f"split {run.get('split')}, {run.get('replications')} replication(s), seed {run.get('seed')}"
                     + (f", first {run['max_items']} items" if run.get("max_items") else "")
                     + "; ± is the 95% interval")
    for name, row in results["rows"].items():
        st = row.get("settings")
        if st:
            band = (f"x0 band limit {st['x0_lowpass_hz']:g} Hz" if st["x0_lowpass_hz"] else "no x0 band limit")
            ease = (f"transition easing {st['transition_lowpass_hz']:g} Hz" if st["transition_lowpass_hz"]
                    else "no transition easing")
            lines.append(f"{name}: {st['sampler']} {st['steps']} steps, guidance {st['guidance_scale']:g} "
                         f"({st['guidance_schedule']}), {band}, {ease}, bone lengths {st['bone_lengths']}, "
                         "no export cleanup")
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
