"""Build the project's corpus from the BVH sets in ``../shared/data/bvh`` into the standard HumanML3D layout.

One recipe per source turns its labels into captions:

* Bandai Namco (``labels.csv``; BVH read in place from ``data.zip``): content + style -> 3 varied sentences;
* CMU (``cmu/*.bvh`` + ``cmu_trial_descriptions.csv``) and Xia styles (style in the file name);
* CMU on the iClone rig (``humanml3d_captions.csv``): the HumanML3D captions of the segment each clip was cut
  into, on that 20 fps frame range, and the captions of the mirrored HumanML3D id on the mirrored motion;
* Aalto gait (``labels.csv``): the crowd-written English descriptions.

Every clip is retargeted to 22 joints at 20 fps, turned into 263-dim features (HumanML3D's pipeline, uniform
skeleton included), and assigned to train/val/test by a hash of its clip id, so windows and mirror copies of a clip
always share its split. Mean/Std come from the train split only, with HumanML3D's per-group averaging of Std.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import shutil
import time
import warnings
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from ..io_utils import atomic_write_bytes
from ..motion.bvh import read_bvh
from ..motion.features import joints_to_features, mirror_joints
from ..motion.retarget import retarget_bvh
from ..skeleton import HUMANML3D
from .captions import bandai_captions, pos_tokens
from .dataset import Caption, write_texts

__all__ = ["build_corpus", "BuildSummary", "collect_jobs", "split_of", "mean_std", "SETS"]

SETS = ("bandai-namco", "cmu", "xia-style", "cmu-iclone", "aalto-gait")
LICENCES = {
    "bandai-namco": "CC BY-NC 4.0, Bandai Namco Research Inc. (non-commercial)",
    "cmu": "CMU Graphics Lab Motion Capture Database terms (free to use, not to be resold as data)",
    "xia-style": "research data set of Xia et al. 2015 (retargeted by deep-motion-editing)",
    "cmu-iclone": "CMU terms; captions from HumanML3D (MIT code, captions by its authors)",
    "aalto-gait": "Aalto University research data; no licence stated",
}
WINDOW = 196          # frames per window for clips of 200+ frames at 20 fps
MIN_FRAMES = 20       # 1 s: shorter clips are skipped; recorded in meta.json as the corpus's loader minimum


@dataclass
class ClipJob:
    clip_id: str
    source: str
    path: str
    captions: list[str]
    rig: str | None = None
    frame_range: tuple[int, int] | None = None
    mirrored_captions: list[str] = field(default_factory=list)


def split_of(clip_id: str) -> str:
    """Deterministic 80/10/10 split by clip id."""
    h = int(hashlib.sha1(clip_id.encode()).hexdigest()[:8], 16) % 100
    return "train" if h < 80 else ("val" if h < 90 else "test")


def _read_csv(path: Path) -> list[dict]:
    if not path.is_file():
        raise FileNotFoundError(f"label file not found: {path}")
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _sentence(text: str) -> str:
    text = " ".join(text.strip().split())
    return text if text.endswith((".", "!", "?")) else text + "."


def collect_jobs(source: str | Path, sets=None, limit: int | None = None) -> list[ClipJob]:
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"BVH source folder not found: {source}")
    sets = list(sets or SETS)
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        raise ValueError(f"unknown set(s) {unknown}; expected some of {', '.join(SETS)}")
    jobs: list[ClipJob] = []
    for name in sets:
        found: list[ClipJob] = []
        if name == "bandai-namco":
            for row in _read_csv(source / name / "labels.csv"):
                stem = Path(row["member"]).stem
                rng = np.random.default_rng(int(hashlib.sha1(stem.encode()).hexdigest()[:8], 16))
                caps = bandai_captions(row["content"], row["style"], rng)
                found.append(ClipJob(stem, name, f"{source / name / row['archive']}::{row['member']}", caps, "bandai"))
        elif name == "cmu":
            desc = {(int(r["Subject"]), int(r["Trial #"])): r["Motion Description"]
                    for r in _read_csv(source / "cmu" / "cmu_trial_descriptions.csv")}
            for f in sorted((source / "cmu").glob("*.bvh")):
                subj, trial = (int(x) for x in f.stem.split("_")[:2])
                d = desc.get((subj, trial))
                if not d:
                    warnings.warn(f"{f}: no CMU description for subject {subj} trial {trial}; skipped")
                    continue
                found.append(ClipJob(f"cmu_{f.stem}", name, str(f), [_sentence(d), _sentence(f"a person: {d}")]))
        elif name == "xia-style":
            adverb = {"angry": "angrily", "depressed": "in a depressed way", "neutral": "in a neutral way",
                      "old": "like an old person", "sexy": "in a sexy way", "strutting": "with a strut",
                      "childlike": "like a child", "proud": "proudly"}
            for f in sorted((source / name).glob("*.bvh")):
                style = f.stem.split("_")[0]
                caps = [f"a person moves in a {style} style.", f"someone moves {adverb.get(style, 'in a ' + style + ' way')}."]
                found.append(ClipJob(f"xia_{f.stem}", name, str(f), caps))
        elif name == "cmu-iclone":
            for row in _read_csv(source / name / "humanml3d_captions.csv"):
                split_caps = lambda s: [_sentence(c) for c in s.split("||") if c.strip()]
                found.append(ClipJob(f"iclone_{Path(row['file']).stem}_{row['humanml3d_id']}", name,
                                     str(source / name / row["file"]), split_caps(row["captions"]), "cmu-iclone",
                                     (int(row["start_frame_20fps"]), int(row["end_frame_20fps"])),
                                     split_caps(row.get("captions_of_mirrored_id") or "")))
        elif name == "aalto-gait":
            for row in _read_csv(source / name / "labels.csv"):
                caps, seen = [], set()
                for c in row["english_descriptions"].split("|"):
                    c = " ".join(c.strip().lower().split())
                    if len(c) > 2 and c not in seen:
                        seen.add(c)
                        caps.append(_sentence(c))
                found.append(ClipJob(f"aalto_{Path(row['file']).stem}", name, str(source / name / row["file"]), caps))
        jobs += found[:limit] if limit else found
    return jobs


def _caption_objects(texts: list[str]) -> list[Caption]:
    return [Caption(t, tuple(pos_tokens(t))) for t in texts]


def _process(job: ClipJob):
    """Worker: one clip -> list of (item_id, features, joints, captions) or an error string."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            joints = retarget_bvh(read_bvh(job.path), job.rig, fps=20.0).joints
        if not np.isfinite(joints).all():
            raise ValueError("the retargeted joints contain NaN or infinite values (a degenerate rig?)")
        variants = []
        if job.frame_range is not None:
            a, b = job.frame_range
            joints = joints[max(a, 0):min(b, len(joints))]
        pieces = [(job.clip_id, joints)]
        if len(joints) >= 200:                                  # long takes -> 9.8 s windows
            pieces = [(f"{job.clip_id}_w{k}", joints[s:s + WINDOW + 1])
                      for k, s in enumerate(range(0, len(joints) - MIN_FRAMES, WINDOW))]
        for item_id, j in pieces:
            if len(j) <= MIN_FRAMES:
                continue
            if job.captions:
                f, g = joints_to_features(j)
                if not np.isfinite(f).all():
                    raise ValueError(f"{item_id}: features contain NaN or infinite values (zero-length bones?)")
                variants.append((item_id, f.astype(np.float32), g[:-1].astype(np.float32), job.captions))
            if job.mirrored_captions:
                f, g = joints_to_features(mirror_joints(j))
                variants.append(("M" + item_id, f.astype(np.float32), g[:-1].astype(np.float32), job.mirrored_captions))
        return job, variants, None
    except Exception as e:  # reported per clip; the build goes on
        return job, [], f"{job.path}: {e}"


def mean_std(motions: list[np.ndarray], num_joints: int = 22) -> tuple[np.ndarray, np.ndarray]:
    """HumanML3D's ``cal_mean_variance``: per-dim mean, Std averaged within each feature group."""
    data = np.concatenate(motions, axis=0).astype(np.float64)
    if not np.isfinite(data).all():
        raise ValueError("Mean/Std: a motion contains NaN or infinite values; it must be dropped first")
    mean = data.mean(0)
    std = data.std(0)
    for sl in HUMANML3D.layout.slices.values() if num_joints == 22 else ():
        std[sl] = std[sl].mean()
    std[std < 1e-8] = 1e-8
    return mean.astype(np.float32), std.astype(np.float32)


@dataclass
class BuildSummary:
    out: Path
    clips: dict[str, int]
    minutes: dict[str, float]
    items: dict[str, int]
    seconds: float
    failures: list[str]
    skipped: list[str]

    def describe(self) -> str:
        lines = [f"built {self.out} in {self.seconds:.0f} s"]
        for s in self.clips:
            lines.append(f"  {s:13s} {self.clips[s]:5d} clips  {self.minutes[s]:7.1f} min")
        lines.append("  splits: " + ", ".join(f"{k} {v}" for k, v in self.items.items()))
        if self.skipped:
            lines.append(f"  {len(self.skipped)} clip(s) shorter than {MIN_FRAMES} frames at 20 fps skipped")
        if self.failures:
            lines.append(f"  {len(self.failures)} clip(s) failed:")
            lines += [f"    {f}" for f in self.failures[:20]]
        return "\n".join(lines)


def build_corpus(source: str | Path, out: str | Path, sets=None, limit: int | None = None, workers: int = 0,
                 progress: bool = True) -> BuildSummary:
    """Build the corpus. Writes into ``OUT.partial`` and renames it to ``OUT`` when complete; an existing, non-empty
    ``OUT`` is never touched (an error says so)."""
    from tqdm import tqdm

    from ..io_utils import TEMP_MARKER, is_stale_temporary, mark_temporary
    t0 = time.time()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out '{out}' is a file; the corpus is written into a folder")
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"output folder {out} exists and is not empty; choose another or remove it first")
    tmp = out.with_name(out.name + ".partial")
    if (tmp.exists() or tmp.is_symlink()) and not is_stale_temporary(tmp, out.name):
        # only an unfinished build of our own (its marker names a process that is gone) is ever removed
        raise FileExistsError(f"'{tmp}' exists and is not an unfinished motiongen build (or that build is still "
                              f"running); remove it yourself or choose another --out")
    if tmp.exists():
        shutil.rmtree(tmp)
    jobs = collect_jobs(source, sets, limit)
    if not jobs:
        raise ValueError(f"no clips found under {source} for sets {sets or SETS}")
    tmp.mkdir(parents=True)
    mark_temporary(tmp, out.name)
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (tmp / sub).mkdir()

    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    clips = {s: 0 for s in dict.fromkeys(j.source for j in jobs)}
    minutes = {s: 0.0 for s in clips}
    train_motions, failures, skipped = [], [], []
    workers = workers or os.cpu_count() or 1
    ctx = get_context("fork") if hasattr(os, "fork") else get_context()
    with ctx.Pool(workers) if workers > 1 else _Serial() as pool:
        results = pool.imap_unordered(_process, jobs, chunksize=4)
        for job, variants, err in tqdm(results, total=len(jobs), desc="building corpus", disable=not progress,
                                       unit="clip"):
            if err:
                failures.append(err)
                continue
            if not variants:
                skipped.append(job.path)
                continue
            clips[job.source] += 1
            split = split_of(job.clip_id)
            for item_id, feats, joints, caps in variants:
                np.save(tmp / "new_joint_vecs" / f"{item_id}.npy", feats)
                np.save(tmp / "new_joints" / f"{item_id}.npy", joints)
                write_texts(tmp / "texts" / f"{item_id}.txt", _caption_objects(caps))
                splits[split].append(item_id)
                if not item_id.startswith("M"):
                    minutes[job.source] += len(feats) / 20.0 / 60.0
                if split == "train":
                    train_motions.append(feats)
    if not train_motions:
        raise ValueError("no clip landed in the train split; build more clips (raise --limit)")
    mean, std = mean_std(train_motions)
    np.save(tmp / "Mean.npy", mean)
    np.save(tmp / "Std.npy", std)
    for split, ids in splits.items():
        (tmp / f"{split}.txt").write_text("\n".join(sorted(ids)) + ("\n" if ids else ""))
    (tmp / "all.txt").write_text("\n".join(sorted(i for ids in splits.values() for i in ids)) + "\n")
    seconds = time.time() - t0
    meta = {
        "format": "HumanML3D layout (263-dim features, 20 fps, 22 joints)",
        "built_by": "motiongen data build",
        "build_seconds": round(seconds, 1),
        "sources": {s: {"clips": clips[s], "minutes": round(minutes[s], 2), "licence": LICENCES[s]} for s in clips},
        "items": {k: len(v) for k, v in splits.items()},
        "min_frames": MIN_FRAMES,
        "failures": failures,
        "skipped_short": skipped,
    }
    atomic_write_bytes(tmp / "meta.json", json.dumps(meta, indent=2).encode())
    (tmp / "LICENSES.txt").write_text("Licences of the sources of this corpus:\n" +
                                      "\n".join(f"- {s}: {LICENCES[s]}" for s in clips) + "\n")
    (tmp / TEMP_MARKER).unlink()
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
    return BuildSummary(out, clips, minutes, {k: len(v) for k, v in splits.items()}, seconds, failures,
                        skipped)


class _Serial:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, fn, items, chunksize=1):
        return map(fn, items)
