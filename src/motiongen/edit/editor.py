"""``motiongen edit``: revise an earlier output's plan with an edit backend, show the diff, generate anew.

Beyond FineMoGen (which regenerates everything), what the edit did not change is kept: a stage whose texts and
length are unchanged is held to the earlier motion (its frames are copied to wherever the stage now sits —
features are local to the body, so this also works after stages move), and in a stage where only some body
parts' texts changed, the other parts' features are held. Holding is inpainting during sampling
(:class:`~motiongen.diffusion.sampling.Inpainting`); the hold weight ramps down over ``blend`` frames next to
regenerated frames, for smooth transitions. ``regenerate_all=True`` is the paper's behaviour.

Seams: where two stages meet in the new plan that did not meet in the old one (after a swap, a move, a reverse
or a removal), the old frames on either side belong to different moments, so copying both would be a hard cut.
Such a new seam is regenerated, ``seam`` frames on each side (plus the ramp), so the model writes the transition.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..plan import PART_NAMES, Plan, PlanError, load_plan

__all__ = ["EditResult", "edit", "plan_diff", "hold_weights", "make_backend", "EditError"]


class EditError(ValueError):
    pass


@dataclass
class EditResult:
    plan: Plan
    diff: list[str]
    motions: list
    kept: list[str]


def make_backend(name: str = "offline", **kw):
    if name == "offline":
        from .offline import OfflineEditor
        return OfflineEditor()
    if name == "openai":
        from .llm import OpenAIChatEditor
        return OpenAIChatEditor(**kw)
    raise EditError(f"unknown edit backend '{name}'; expected offline or openai")


def _stage_key(st) -> tuple:
    return (st.text, tuple(sorted(st.parts.items())))


def match_stages(old: Plan, new: Plan) -> list[int | None]:
    """For each new stage, the old stage it continues: same texts if possible, else the same position."""
    used: set[int] = set()
    out: list[int | None] = []
    for st in new.stages:
        hit = next((i for i, o in enumerate(old.stages) if i not in used and _stage_key(o) == _stage_key(st)), None)
        out.append(hit)
        if hit is not None:
            used.add(hit)
    for k, st in enumerate(new.stages):
        if out[k] is None and k < len(old.stages) and k not in used and (
                old.stages[k].text == st.text or len(old.stages) == len(new.stages)):
            out[k] = k                       # same place (a new sentence in the same plan shape reads as a change)
            used.add(k)
    return out


def plan_diff(old: Plan, new: Plan) -> list[str]:
    lines = []
    match = match_stages(old, new)
    for k, (st, m) in enumerate(zip(new.stages, match)):
        if m is None:
            lines.append(f"+ stage {k + 1} [{st.start}, {st.end}): {st.text!r}")
            for p, t in st.parts.items():
                lines.append(f"+   {p}: {t!r}")
            continue
        o = old.stages[m]
        if m != k:
            lines.append(f"~ stage {m + 1} is now stage {k + 1}")
        if o.frames != st.frames:
            lines.append(f"~ stage {k + 1}: {o.frames / 20:g} s -> {st.frames / 20:g} s")
        if o.text != st.text:
            lines.append(f"~ stage {k + 1} text: {o.text!r} -> {st.text!r}")
        for p in PART_NAMES:
            a, b = o.parts.get(p), st.parts.get(p)
            if a != b:
                lines.append(f"~ stage {k + 1} {p}: {a or '(stage text)'!r} -> {b or '(stage text)'!r}")
    for i, o in enumerate(old.stages):
        if i not in match:
            lines.append(f"- stage {i + 1}: {o.text!r}")
    return lines or ["(no change)"]


def new_seams(old: Plan, new: Plan, match: list[int | None] | None = None) -> list[int]:
    """Frames where two held-over stages now meet that were not adjacent in the old plan."""
    match = match_stages(old, new) if match is None else match
    seams = []
    for k in range(len(new.stages) - 1):
        a, b = new.stages[k], new.stages[k + 1]
        ma, mb = match[k], match[k + 1]
        if a.end != b.start or ma is None or mb is None:
            continue                         # a gap, or a new stage: regenerated anyway
        if old.stages[ma].end != old.stages[mb].start:
            seams.append(a.end)
    return seams


def hold_weights(old: Plan, new: Plan, old_features: np.ndarray, feature_dim: int, part_indices: dict,
                 blend: int = 5, seam: int = 6) -> tuple[np.ndarray | None, np.ndarray | None, list[str]]:
    """Reference features (T_new, D) and hold weights (T_new, D) in [0, 1] for the new plan, and notes on what
    is kept. Frames within ``seam`` of a new seam (:func:`new_seams`) are regenerated. Returns (None, None, [])
    when nothing can be kept."""
    T = new.total_frames()
    ref = np.zeros((T, feature_dim), np.float32)
    hold = np.zeros((T, feature_dim), bool)
    notes = []
    match = match_stages(old, new)
    for k, (st, m) in enumerate(zip(new.stages, match)):
        if m is None:
            continue
        o = old.stages[m]
        if o.frames != st.frames or o.text != st.text or o.end > len(old_features):
            continue
        ref[st.start:st.end] = old_features[o.start:o.end]
        changed = [p for p in PART_NAMES if o.parts.get(p) != st.parts.get(p)]
        if not changed:
            hold[st.start:st.end] = True
            notes.append(f"stage {k + 1} kept")
        else:
            keep = [p for p in PART_NAMES if p not in changed]
            for p in keep:
                hold[st.start:st.end, part_indices[p]] = True
            notes.append(f"stage {k + 1}: kept {', '.join(keep)}; regenerated {', '.join(changed)}")
    for f in new_seams(old, new, match):
        hold[max(0, f - seam):f + seam] = False
        notes.append(f"new seam at {f / 20:g} s regenerated ({seam} frames each side)")
    if not hold.any():
        return None, None, []
    # distance (in frames) to the nearest regenerated frame, per feature; outside the motion counts as held
    dist = np.full((T, feature_dim), np.inf)
    run = np.full(feature_dim, np.inf)
    for t in range(T):
        run = np.where(hold[t], run + 1, 0)
        dist[t] = run
    run = np.full(feature_dim, np.inf)
    for t in range(T - 1, -1, -1):
        run = np.where(hold[t], run + 1, 0)
        dist[t] = np.minimum(dist[t], run)
    weight = np.where(hold, np.minimum(1.0, dist / max(blend, 1)), 0.0).astype(np.float32)
    return ref, weight, notes


_META_TYPES = {"model": (dict,), "seed": (int,), "sampler": (str,), "steps": (int,)}


def _check_meta(meta: dict, where: Path) -> None:
    """The fields of an earlier output's meta.json that an edit reads, each of the type motiongen writes."""
    from ..pipeline import check_seed
    for key, types in _META_TYPES.items():
        v = meta.get(key)
        if v is not None and (not isinstance(v, types) or isinstance(v, bool)):
            raise EditError(f"'{where}': '{key}' must be {'an object' if dict in types else types[0].__name__}, "
                            f"got {type(v).__name__}")
    d = (meta.get("model") or {}).get("dir")
    if d is not None and not isinstance(d, str):
        raise EditError(f"'{where}': 'model.dir' must be a folder name (a string), got {type(d).__name__}")
    if meta.get("seed") is not None:
        check_seed(meta["seed"], f"'{where}': 'seed'", EditError)
    if meta.get("steps") is not None and not 1 <= meta["steps"] <= 10000:
        raise EditError(f"'{where}': 'steps' must be 1 to 10000, got {str(meta['steps'])[:40]}")


def edit(from_dir: str | os.PathLike, instruction: str, backend=None, model: str | None = None,
         regenerate_all: bool = False, blend: int = 5, seed: int | None = None, device: str = "cpu",
         **generate_kw) -> EditResult:
    from ..pipeline import MotionPipeline, default_model_dir
    from ..skeleton import get_skeleton

    src = Path(from_dir)
    if not (src / "plan.json").is_file() or not (src / "motion.npy").is_file():
        raise EditError(f"--from '{src}' is not a motiongen output folder (plan.json and motion.npy expected; a "
                        f"folder with several samples has them in sample_NNN/)")
    old = load_plan(src / "plan.json")
    meta = {}
    if (src / "meta.json").is_file():
        try:
            meta = json.loads((src / "meta.json").read_text())
        except (ValueError, RecursionError) as e:        # JSONDecodeError, UnicodeDecodeError, 4300-digit ints
            raise EditError(f"'{src / 'meta.json'}' is not valid JSON: {str(e)[:200]}") from None
        if not isinstance(meta, dict):
            raise EditError(f"'{src / 'meta.json'}': expected a JSON object, got {type(meta).__name__}")
        _check_meta(meta, src / "meta.json")
    try:
        old_features = np.load(src / "motion.npy", allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise EditError(f"'{src / 'motion.npy'}' is not a readable .npy array: {e}") from None
    if old_features.ndim != 2 or not np.issubdtype(old_features.dtype, np.number) or \
            not np.isfinite(old_features).all():
        raise EditError(f"'{src / 'motion.npy'}': expected finite features (T, D), got {old_features.dtype} "
                        f"{old_features.shape}")
    backend = backend or make_backend("offline")
    data = backend.revise(old, instruction)
    try:
        new = Plan.from_dict(data)
    except PlanError as e:           # the instruction asked for something a plan cannot hold
        raise EditError(f"the instruction {instruction[:80]!r} asks for a plan that is not valid: {e}") from None
    diff = plan_diff(old, new)
    mdir = model or (meta.get("model", {}) or {}).get("dir")
    if mdir and not Path(mdir).is_dir():
        mdir = None
    pipe = MotionPipeline.from_pretrained(mdir or default_model_dir(), device=device)
    if old_features.shape[1] != pipe.denoiser.config.feature_dim:
        raise EditError(f"'{src / 'motion.npy'}' has {old_features.shape[1]} features per frame; the model makes "
                        f"{pipe.denoiser.config.feature_dim} (was it written by another model?)")
    inpaint = None
    kept: list[str] = []
    if not regenerate_all:
        spec = get_skeleton(pipe.denoiser.config.feature_dim)
        ref, weight, kept = hold_weights(old, new, old_features, spec.feature_dim,
                                         spec.finemogen_part_feature_indices(), blend)
        if ref is not None:
            inpaint = [(ref, weight)]
    seed = meta.get("seed", 0) if seed is None else seed
    for k in ("sampler", "steps"):
        if meta.get(k) is not None:
            generate_kw.setdefault(k, meta[k])
    motions = pipe.generate(new, seed=seed, inpaint=inpaint, **generate_kw)
    for m in motions:
        m.meta.update({"parent": str(src), "instruction": instruction, "edit_backend": getattr(backend, "name", "?"),
                       "plan_diff": diff, "kept": kept or (["nothing (regenerated all)"] if regenerate_all else []),
                       "regenerate_all": regenerate_all})
    return EditResult(new, diff, motions, kept)
