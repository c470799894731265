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
import functools
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
from ..motion.features import joints_to_features, mirror_joints
from ..motion.retarget import retarget_bvh
from ..skeleton import HUMANML3D
from .captions import bandai_captions, pos_tokens
from .dataset import Caption, write_texts

__all__ = ["build_corpus", "BuildSummary", "collect_jobs", "split_of", "mean_std", "SETS", "EXTRA_SETS", "BVH_SETS",
           "CLIPS_HEADER", "kick_side", "LICENCES"]

BVH_SETS = ("bandai-namco", "cmu", "xia-style", "cmu-iclone", "aalto-gait")
EXTRA_SETS = ("hdm05", "deepmimic", "ase-sword-shield", "snu-basketball", "snu-martial-arts",
              "snu-cmu69-tennis-indian", "m21-style")
SETS = BVH_SETS + EXTRA_SETS
LICENCES = {
    "hdm05": "CC BY-SA 3.0 Unported, HDM05 (Mueller et al., tech. report CG-2007-2); attribution required, shared "
             "converted motions stay BY-SA",
    "deepmimic": "MIT (xbpeng/DeepMimic); data/motions/sie/ CC BY-NC 4.0 (Sony Interactive Entertainment, "
                 "non-commercial); base clips from CMU / SFU mocap",
    "ase-sword-shield": "Reallusion motions, strictly non-commercial use (nv-tlabs/ASE README); NVIDIA non-commercial "
                        "source licence",
    "snu-basketball": "Apache-2.0 (SNU Movement Research Lab, snumrl/VSports); walkData: CMU terms",
    "snu-martial-arts": "BSD-3-Clause (NCSOFT & SNU R&D Foundation, snumrl/TimeCriticalResponse); 16_xx: CMU terms",
    "snu-cmu69-tennis-indian": "Apache-2.0 (snumrl/InteractiveAnimation); CMU subjects 69 and 94: CMU terms",
    "m21-style": "MIT (zzzark/Semi-Motion-Style-Transfer); motions from CMU, BFA and Xia et al. (research data)",
    "bandai-namco": "CC BY-NC 4.0, Bandai Namco Research Inc. (non-commercial)",
    "cmu": "CMU Graphics Lab Motion Capture Database terms (free to use, not to be resold as data)",
    "xia-style": "research data set of Xia et al. 2015 (retargeted by deep-motion-editing)",
    "cmu-iclone": "CMU terms; captions from HumanML3D (MIT code, captions by its authors)",
    "aalto-gait": "Aalto University research data; no licence stated",
}
WINDOW = 196          # frames per window for clips of 200+ frames at 20 fps
MIN_FRAMES = 20       # 1 s: shorter clips are skipped; recorded in meta.json as the corpus's loader minimum


CONTEXT_S = 0.5      # seconds kept before and after an annotated segment
MIRROR_BELOW = 100   # Bandai contents with fewer clips than this get a mirrored copy too (rare labels)


@dataclass
class ClipJob:
    clip_id: str
    source: str
    path: str
    captions: list[str]
    rig: str | None = None
    frame_range: tuple[int, int] | None = None
    mirrored_captions: list[str] = field(default_factory=list)
    action: str = ""
    side: str = ""
    style: str = ""
    mirrored_side: str = ""
    segments: list["Segment"] = field(default_factory=list)   # cut a long take into these (one read)
    asf: str | None = None
    detect_side: str = ""        # "kick" or "fall": the side is read from the motion (see side_from_motion)
    by_side: dict = field(default_factory=dict)   # (side, style) -> (captions, mirrored captions)


@dataclass
class Segment:
    clip_id: str
    frame_range: tuple[int, int]          # 20 fps frames, context included
    captions: list[str]
    mirrored_captions: list[str]
    action: str
    side: str
    style: str


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


def _set_dir(source: Path, name: str) -> Path:
    """A set's folder: ``source/name``, or under ``source/bvh`` / ``source/extra-mocap`` (``../shared/data``)."""
    for d in (source / name, source / "bvh" / name, source / "extra-mocap" / name):
        if d.is_dir():
            return d
    raise FileNotFoundError(f"set {name!r} not found under {source} (looked in {name}/, bvh/{name}/, "
                            f"extra-mocap/{name}/)")


def _data_root(source: Path) -> Path:
    """The ``../shared/data`` root above a source folder (for the human caption pool)."""
    return source.parent if source.name in ("bvh", "extra-mocap") else source


class _Captioner:
    """Template sentences from (action, side, style) plus real human sentences for the action (a pool built once)."""

    def __init__(self, data_root: Path, human: int = 2):
        from .captions import HumanCaptionPool
        self.pool = HumanCaptionPool.from_shared(data_root)
        self.human = human

    def __call__(self, key: str, action: str, side: str, style: str) -> list[str]:
        from .captions import action_captions
        rng = np.random.default_rng(int(hashlib.sha1(f"{key}|{side}".encode()).hexdigest()[:8], 16))
        return action_captions(action, side, style, rng) + self.pool.sample(action, side, rng, self.human)


_HDM05 = {"depositFloorR": ("put down", "right", ""), "squat1Reps": ("squat", "", ""),
          "throwBasketball": ("throw", "", ""), "elbowToKnee1RepsLelbowStart": ("elbow to knee", "", ""),
          "grabHighR": ("reach up", "right", ""), "hopBothLegs1hops": ("hop", "both", ""),
          "jogLeftCircle4StepsRstart": ("jog", "left", ""), "kickLFront1Reps": ("kick", "left", ""),
          "lieDownFloor": ("lie down", "", ""), "rotateArmsBothBackward1Reps": ("rotate arms", "both", ""),
          "sneak2StepsLStart": ("sneak", "", "")}
_DEEPMIMIC = {"backflip": ("backflip", "", ""), "cartwheel": ("cartwheel", "", ""), "crawl": ("crawl", "", ""),
              "dance_a": ("dance", "", ""), "dance_b": ("dance", "", ""), "dance_spin": ("dance", "", "spinning"),
              "getup_facedown": ("get up", "", ""), "getup_faceup": ("get up", "", ""), "jog": ("jog", "", ""),
              "jump": ("jump", "", ""), "kick": ("kick", "?", ""), "punch": ("punch", "", ""),
              "roll": ("roll", "", ""), "run": ("run", "", ""), "sideflip": ("sideflip", "", ""),
              "spin": ("spin", "", ""), "spinkick": ("kick", "?", "spinning"), "stealthy_walk": ("sneak", "", ""),
              "walk": ("walk", "", ""), "zombie_walk": ("walk", "", "zombie"), "long_zombie": ("walk", "", "zombie"),
              "stealthy_walk0": ("sneak", "", ""), "stealthy_walk1": ("sneak", "", "")}
_BASKETBALL = {"dribble": ("dribble", ""), "mark": ("guard", ""), "pass": ("pass", ""), "pass_long": ("pass", ""),
               "walk": ("walk", ""), "run": ("run", ""), "shoot": ("shoot", ""), "shoot_near": ("shoot", ""),
               "fake_shoot": ("shoot", "fake"), "fake_shot": ("shoot", "fake"), "block": ("block shot", ""),
               "screen": ("screen", ""), "catch": ("catch", ""), "pickup": ("pick up", ""), "idle": ("stand", ""),
               "hold": ("stand", ""), "kick": ("kick", "")}
_M21 = {"box": ("box", "", ""), "dance": ("dance", "", ""), "female-walk": ("walk", "", "feminine"),
        "hop": ("hop", "", ""), "jump-across": ("jump", "", ""), "jumping-jack": ("jumping jack", "", ""),
        "kick": ("kick", "?", ""), "swim": ("swim", "", ""), "walk": ("walk", "", ""), "wipe": ("wipe", "", ""),
        "depressed": ("walk", "", "depressed"), "happy": ("walk", "", "happy"), "old": ("walk", "", "old"),
        "sneaky": ("sneak", "", ""), "strutting": ("walk", "", "strutting"), "zombie": ("walk", "", "zombie")}
_BANDAI = {"walk": ("walk", ""), "run": ("run", ""), "dash": ("dash", ""), "walk-back": ("walk backwards", ""),
           "walk-left": ("sidestep", "left"), "walk-right": ("sidestep", "right"), "walk-turn-left": ("turn", "left"),
           "walk-turn-right": ("turn", "right"), "bow": ("bow", ""), "bye": ("wave", ""),
           "byebye": ("wave", "both"), "guide": ("guide", ""), "respond": ("respond", ""), "call": ("beckon", ""),
           "punch": ("punch", ""), "kick": ("kick", ""), "slash": ("sword attack", ""), "dance-long": ("dance", ""),
           "dance-short": ("dance", ""), "raise-up-left-hand": ("raise hand", "left"),
           "raise-up-right-hand": ("raise hand", "right"), "raise-up-both-hands": ("raise hand", "both"),
           "wave-left-hand": ("wave", "left"), "wave-right-hand": ("wave", "right"),
           "wave-both-hands": ("wave", "both")}


def _ase_label(label: str) -> tuple[str, str, str]:
    low = label.lower()
    side = "left" if "left" in low else ("right" if "right" in low else "")
    if low.startswith(("atk_kick",)):
        return "kick", "?", "with a sword"
    if low.startswith(("atk_", "counter_", "kill_", "standoff_swing")):
        return "sword attack", "", "jumping" if "jump" in low else ""
    if low.startswith("standoff_feint"):
        return "feint", "", ""
    if low.startswith("standoff_circle"):
        return "sidestep", "", "with a sword"
    if low.startswith("dodg"):
        return "dodge", side, ""
    if low.startswith("fall"):     # the file's Left/Right disagree with the body's sides: read from the motion
        return "fall", "?", "spinning" if "spin" in low else ""
    if low.startswith("idle"):
        return "stand", "", "with a sword"
    if low.startswith("shield_block"):
        return "block", "", "crouching" if "crouch" in low else ""
    if low.startswith("sword_parry"):
        return "parry", "", "crouching" if "crouch" in low else ""
    if low.startswith("taunt"):
        return "taunt", "", ""
    if low.startswith("turn"):
        return "turn", side, ""
    if low.startswith(("runbackward",)):
        return "run backwards", "", ""
    if low.startswith(("walkbackward",)):
        return "walk backwards", "", ""
    if low.startswith(("runleft", "runright")):
        return "sidestep", side, "running"
    if low.startswith(("walkleft", "walkright")):
        return "sidestep", side, ""
    if low.startswith("runforward"):
        return "run", "", ""
    if low.startswith("walkforward"):
        return "walk", "", ""
    return "", "", ""


def _cmu_description_label(desc: str) -> tuple[str, str, str]:
    from .actions import classify_text
    low = desc.lower()
    if "dance" in low or "indian" in low:
        return "dance", "", "indian" if "indian" in low else ""
    action, side = classify_text(low)
    if action == "turn" and "90 degree" in low:
        side = "right" if "right" in low else "left"
    return action, side, ""


def collect_jobs(source: str | Path, sets=None, limit: int | None = None, human_captions: int = 2) -> list[ClipJob]:
    """One job per clip (or per long take with its segments), with captions and (action, side, style) labels."""
    from .actions import swap_side
    source = Path(source)
    if not source.is_dir():
        raise FileNotFoundError(f"source folder not found: {source}")
    if not sets:        # every set found under the source (all twelve under ../shared/data)
        sets = [name for name in SETS if any((d / name).is_dir() for d in (source, source / "bvh",
                                                                            source / "extra-mocap"))]
        if not sets:
            raise FileNotFoundError(f"no mocap set found under {source} (expected folders such as bandai-namco/, "
                                    f"or bvh/ and extra-mocap/ as in ../shared/data)")
    sets = list(sets)
    unknown = [s for s in sets if s not in SETS]
    if unknown:
        raise ValueError(f"unknown set(s) {unknown}; expected some of {', '.join(SETS)}")
    captioner = _Captioner(_data_root(source), human_captions) if any(s in EXTRA_SETS for s in sets) else None

    def labelled(clip_id: str, name: str, path: str, action: str, side: str, style: str, rig: str | None,
                 mirror: bool = True, **kw) -> ClipJob:
        job = ClipJob(clip_id, name, path, [], rig, action=action, side=side, style=style, **kw)
        if side == "?":
            job.detect_side, job.side = ("fall" if action == "fall" else "kick"), ""
            options = [("left", style), ("right", style)]
            if action == "fall":
                options = [(sd, _fall_style(style, found)) for sd in ("left", "right", "")
                           for found in ("", "backwards", "recovering", "backwards recovering")]
            job.by_side = {(sd, st): (captioner(clip_id, action, sd, st), captioner("M" + clip_id, action,
                                                                                  swap_side(sd), st))
                           for sd, st in options}
        job.captions = captioner(clip_id, action, job.side, style)
        if mirror:
            job.mirrored_side = swap_side(job.side)
            job.mirrored_captions = captioner("M" + clip_id, action, job.mirrored_side, style)
        return job

    @functools.cache
    def cmu_descriptions() -> dict[tuple[int, int], str]:
        """The CMU trial descriptions (the cmu set and the SNU sets' CMU takes), read once."""
        return _cmu_descriptions(source)

    jobs: list[ClipJob] = []
    for name in sets:
        found: list[ClipJob] = []
        root = _set_dir(source, name)
        if name == "bandai-namco":
            rows = _read_csv(root / "labels.csv")
            counts: dict[str, int] = {}
            for row in rows:
                counts[row["content"]] = counts.get(row["content"], 0) + 1
            for row in rows:
                stem = Path(row["member"]).stem
                rng = np.random.default_rng(int(hashlib.sha1(stem.encode()).hexdigest()[:8], 16))
                caps = bandai_captions(row["content"], row["style"], rng)
                action, side = _BANDAI.get(row["content"], ("", ""))
                style = "" if row["style"] == "normal" else row["style"]
                job = ClipJob(stem, name, f"{root / row['archive']}::{row['member']}", caps, "bandai",
                              action=action, side=side, style=style)
                if counts[row["content"]] < MIRROR_BELOW:
                    mc = "-".join(swap_side(w) for w in row["content"].split("-"))
                    job.mirrored_captions = bandai_captions(mc, row["style"], rng)
                    job.mirrored_side = swap_side(side)
                found.append(job)
        elif name == "cmu":
            if not (root / "cmu_trial_descriptions.csv").is_file():
                raise FileNotFoundError(f"label file not found: {root / 'cmu_trial_descriptions.csv'}")
            desc = cmu_descriptions()
            for f in sorted(root.glob("*.bvh")):
                subj, trial = (int(x) for x in f.stem.split("_")[:2])
                d = desc.get((subj, trial))
                if not d:
                    warnings.warn(f"{f}: no CMU description for subject {subj} trial {trial}; skipped")
                    continue
                action, side, style = _cmu_description_label(d)
                found.append(ClipJob(f"cmu_{f.stem}", name, str(f), [_sentence(d), _sentence(f"a person: {d}")],
                                     action=action, side=side, style=style))
        elif name == "xia-style":
            adverb = {"angry": "angrily", "depressed": "in a depressed way", "neutral": "in a neutral way",
                      "old": "like an old person", "sexy": "in a sexy way", "strutting": "with a strut",
                      "childlike": "like a child", "proud": "proudly"}
            for f in sorted(root.glob("*.bvh")):
                style = f.stem.split("_")[0]
                caps = [f"a person moves in a {style} style.", f"someone moves {adverb.get(style, 'in a ' + style + ' way')}."]
                found.append(ClipJob(f"xia_{f.stem}", name, str(f), caps, action="walk",
                                     style="" if style == "neutral" else style))
        elif name == "cmu-iclone":
            from .actions import classify_text
            for row in _read_csv(root / "humanml3d_captions.csv"):
                split_caps = lambda s: [_sentence(c) for c in s.split("||") if c.strip()]
                caps = split_caps(row["captions"])
                votes = [v for v in (classify_text(c)[0] for c in caps) if v]
                action = max(set(votes), key=votes.count) if votes else ""
                action = action or "other"          # HumanML3D captions that name no action of the vocabulary
                found.append(ClipJob(f"iclone_{Path(row['file']).stem}_{row['humanml3d_id']}", name,
                                     str(root / row["file"]), caps, "cmu-iclone",
                                     (int(row["start_frame_20fps"]), int(row["end_frame_20fps"])),
                                     split_caps(row.get("captions_of_mirrored_id") or ""), action=action))
        elif name == "aalto-gait":
            for row in _read_csv(root / "labels.csv"):
                caps, seen = [], set()
                for c in row["english_descriptions"].split("|"):
                    c = " ".join(c.strip().lower().split())
                    if len(c) > 2 and c not in seen:
                        seen.add(c)
                        caps.append(_sentence(c))
                gait = row["gait_and_manner"].lower()
                action = "run" if "_run_" in gait else "walk"
                style = "limping" if "limp" in gait else next((w for w in ("angry", "sad", "fast", "slow")
                                                                if w in gait), "")
                found.append(ClipJob(f"aalto_{Path(row['file']).stem}", name, str(root / row["file"]), caps,
                                     action=action, style=style))
        elif name == "hdm05":
            for row in _read_csv(root / "labels.csv"):
                action, side, style = _HDM05.get(row["hdm05_class"], ("", "", ""))
                if not action:
                    continue
                found.append(labelled(f"hdm05_{Path(row['file']).stem}", name, f"{root / 'data.zip'}::{row['file']}",
                                      action, side, style, "acclaim", asf=f"{root / 'data.zip'}::{row['asf']}"))
        elif name == "deepmimic":
            for row in _read_csv(root / "labels.csv"):
                label = row["label_from_filename"]
                if row["group"] == "sie":
                    action, side, style = ("punch", "", "") if label.startswith("punch") else \
                        ("run", "left" if "left" in label else ("right" if "right" in label else ""), "")
                elif label.startswith("long_walk"):
                    action, side, style = "walk", "", ""
                else:
                    action, side, style = _DEEPMIMIC.get(label, ("", "", ""))
                if not action:
                    continue
                if row.get("mirrored", "").lower() == "true" or Path(row["file"]).stem.endswith("_mirror"):
                    side = swap_side(side)
                found.append(labelled(f"deepmimic_{Path(row['file']).stem}", name,
                                      f"{root / 'data.zip'}::{row['file']}", action, side, style, "deepmimic"))
        elif name == "ase-sword-shield":
            for row in _read_csv(root / "labels.csv"):
                action, side, style = _ase_label(row["label_from_filename"])
                if not action:
                    continue
                found.append(labelled(f"ase_{row['label_from_filename']}", name, f"{root / 'data.zip'}::{row['file']}",
                                      action, side, style, "ase"))
        elif name in ("snu-basketball", "snu-martial-arts"):
            segs: dict[str, list[dict]] = {}
            for r in _read_csv(root / "segments.csv"):
                segs.setdefault(r["file"], []).append(r)
            desc = cmu_descriptions()
            for row in _read_csv(root / "labels.csv"):
                fname = Path(row["file"]).name
                stem = Path(row["file"]).stem
                path = f"{root / 'data.zip'}::{row['file']}"
                rig = "snu" if int(row["joints"]) == 22 else "cmu"
                fps = float(row["fps"])
                if fname in segs:
                    job = ClipJob(f"{name.split('-')[1]}_{stem}", name, path, [], rig)
                    for k, r in enumerate(segs[fname]):
                        t = r["type"]
                        if name == "snu-basketball":
                            if t.startswith(("pivot_", "feint_")):
                                action, side, style = t.split("_")[0], {"r": "right", "l": "left"}[t[-1]], ""
                            else:
                                action, style = _BASKETBALL.get(t, ("", ""))
                                side = ""
                        else:
                            action, side, style = (t, "", "") if t in ("walk", "run") else ("martial arts", "", "")
                        if not action:
                            continue
                        a = max(0, int(np.floor((int(r["startFrame"]) / fps - CONTEXT_S) * 20)))
                        b = int(np.ceil((int(r["endFrame"]) / fps + CONTEXT_S) * 20))
                        sid = f"{job.clip_id}_s{k:03d}"
                        job.segments.append(Segment(sid, (a, b), captioner(sid, action, side, style),
                                                    captioner("M" + sid, action, swap_side(side), style),
                                                    action, side, style))
                    if job.segments:
                        found.append(job)
                    continue
                subj = stem.split("_")
                d = desc.get((int(subj[0]), int(subj[1]))) if subj[0].isdigit() and len(subj) > 1 else None
                if d:
                    action, side, style = _cmu_description_label(d)
                elif name == "snu-martial-arts":
                    action, side, style = "martial arts", "", ""
                else:
                    action = ""
                if action:
                    found.append(labelled(f"{name.split('-')[1]}_{stem}", name, path, action, side, style, rig))
        elif name == "snu-cmu69-tennis-indian":
            for row in _read_csv(root / "labels.csv"):
                stem = Path(row["file"]).stem
                path = f"{root / 'data.zip'}::{row['file']}"
                rig = {22: "snu", 20: "tennis"}.get(int(row["joints"]), "cmu")
                if "tennis" in row["file"]:
                    action, side, style = "tennis", "", ""
                elif "/indian/" in row["file"]:
                    action, side, style = "dance", "", "indian"
                else:
                    action, side, style = _cmu_description_label(row["label"])
                if action:
                    found.append(labelled(f"snu69_{stem}", name, path, action, side, style, rig))
        elif name == "m21-style":
            for row in _read_csv(root / "labels.csv"):
                stem = Path(row["file"]).stem.lower()
                key = stem.rsplit("-", 1)[0] if stem.rsplit("-", 1)[-1].isdigit() else stem
                action, side, style = _M21.get(key, ("", "", ""))
                if action:
                    found.append(labelled(f"m21_{stem}", name, f"{root / 'data.zip'}::{row['file']}", action,
                                          side, style, "m21"))
        jobs += found[:limit] if limit else found
    return jobs


def _cmu_descriptions(source: Path) -> dict[tuple[int, int], str]:
    for p in (source / "cmu", source / "bvh" / "cmu", source / "extra-mocap" / "cmu", source.parent / "bvh" / "cmu"):
        f = p / "cmu_trial_descriptions.csv"
        if f.is_file():
            return {(int(r["Subject"]), int(r["Trial #"])): r["Motion Description"] for r in _read_csv(f)}
    return {}


def _caption_objects(texts: list[str]) -> list[Caption]:
    return [Caption(t, tuple(pos_tokens(t))) for t in texts]


def kick_side(joints: np.ndarray) -> str:
    """The kicking leg of a kick clip: the foot (ball of the foot, joints 10/11) that rises highest."""
    return "left" if joints[:, 10, 1].max() >= joints[:, 11, 1].max() else "right"


def fall_direction(joints: np.ndarray) -> tuple[str, str]:
    """(side, style) of a fall, from the motion (canonical frame: facing +Z, left at +X): where the pelvis has gone
    when the head is lowest -- to the left or right when mostly sideways, else "backwards" (style) -- and
    "recovering" when the head ends above 1 m again (the clip also shows getting back up)."""
    k = int(joints[:, 15, 1].argmin())
    dx, dz = joints[k, 0, 0] - joints[0, 0, 0], joints[k, 0, 2] - joints[0, 0, 2]
    side, style = "", []
    if abs(dx) > abs(dz):
        side = "left" if dx > 0 else "right"
    elif dz < 0:
        style.append("backwards")
    if joints[-1, 15, 1] > 1.0:
        style.append("recovering")
    return side, " ".join(style)


def _fall_style(base: str, found: str) -> str:
    """A fall's manner: the label's own ("spinning") wins over the direction; "recovering" is kept."""
    if not base:
        return found
    return base + (" recovering" if "recovering" in found else "")


def _pieces(clip_id: str, joints: np.ndarray) -> list[tuple[str, np.ndarray]]:
    if len(joints) >= 200:                                  # long takes -> 9.8 s windows
        return [(f"{clip_id}_w{k}", joints[s:s + WINDOW + 1])
                for k, s in enumerate(range(0, len(joints) - MIN_FRAMES, WINDOW))]
    return [(clip_id, joints)]


def _process(job: ClipJob):
    """Worker: one job -> (job, [(item_id, features, joints, captions, (action, side, style))], error, seconds)."""
    from ..motion.readers import read_skeletal_motion
    t0 = time.perf_counter()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            joints = retarget_bvh(read_skeletal_motion(job.path, asf=job.asf), job.rig, fps=20.0).joints
        if not np.isfinite(joints).all():
            raise ValueError("the retargeted joints contain NaN or infinite values (a degenerate rig?)")
        if job.detect_side:
            from .actions import swap_side
            if job.detect_side == "kick":
                job.side = kick_side(joints)
            else:
                job.side, found = fall_direction(joints)
                job.style = _fall_style(job.style, found)
            job.captions, job.mirrored_captions = job.by_side[(job.side, job.style)]
            job.mirrored_side = swap_side(job.side)
        if job.frame_range is not None:
            a, b = job.frame_range
            joints = joints[max(a, 0):min(b, len(joints))]
        from .actions import swap_side
        groups = []   # (pieces, captions, mirrored captions, meta, mirrored meta)
        if job.segments:
            for sg in job.segments:
                a, b = sg.frame_range
                cut = joints[max(a, 0):min(b, len(joints))]
                groups.append((_pieces(sg.clip_id, cut), sg.captions, sg.mirrored_captions,
                               (sg.action, sg.side, sg.style), (sg.action, swap_side(sg.side), sg.style)))
        else:
            groups.append((_pieces(job.clip_id, joints), job.captions, job.mirrored_captions,
                           (job.action, job.side, job.style), (job.action, job.mirrored_side, job.style)))
        variants = []
        for pieces, caps, mcaps, meta, mmeta in groups:
            for item_id, j in pieces:
                if len(j) <= MIN_FRAMES:
                    continue
                if caps:
                    f, g = joints_to_features(j)
                    if not np.isfinite(f).all():
                        raise ValueError(f"{item_id}: features contain NaN or infinite values (zero-length bones?)")
                    variants.append((item_id, f.astype(np.float32), g[:-1].astype(np.float32), caps, meta))
                if mcaps:
                    f, g = joints_to_features(mirror_joints(j))
                    variants.append(("M" + item_id, f.astype(np.float32), g[:-1].astype(np.float32), mcaps, mmeta))
        return job, variants, None, time.perf_counter() - t0
    except Exception as e:  # reported per clip; the build goes on
        return job, [], f"{job.path}: {e}", time.perf_counter() - t0


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
    set_seconds: dict[str, float] = field(default_factory=dict)
    motions: dict[str, int] = field(default_factory=dict)
    peak_mb: float = 0.0

    def describe(self) -> str:
        lines = [f"built {self.out} in {self.seconds:.0f} s, peak memory {self.peak_mb:.0f} MB "
                 f"(largest of the main process and one worker)",
                 f"  {'set':24s} {'clips':>6s} {'motions':>8s} {'minutes':>8s} {'worker s':>9s}  licence"]
        for s in self.clips:
            lines.append(f"  {s:24s} {self.clips[s]:6d} {self.motions.get(s, 0):8d} {self.minutes[s]:8.1f} "
                         f"{self.set_seconds.get(s, 0.0):9.0f}  {LICENCES[s][:60]}")
        lines.append(f"  {'total':24s} {sum(self.clips.values()):6d} {sum(self.motions.values()):8d} "
                     f"{sum(self.minutes.values()):8.1f} {sum(self.set_seconds.values()):9.0f}")
        lines.append("  splits: " + ", ".join(f"{k} {v}" for k, v in self.items.items()))
        if self.skipped:
            lines.append(f"  {len(self.skipped)} clip(s) shorter than {MIN_FRAMES} frames at 20 fps skipped")
        if self.failures:
            lines.append(f"  {len(self.failures)} clip(s) failed:")
            lines += [f"    {f}" for f in self.failures[:20]]
        return "\n".join(lines)


def _peak_mb() -> float:
    try:
        import resource
    except ImportError:           # not on Windows
        return 0.0
    scale = 1 / 1024 if os.uname().sysname != "Darwin" else 1 / 2 ** 20
    return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) * scale


CLIPS_HEADER = ("id", "source", "action", "side", "style", "licence", "split")


def build_corpus(source: str | Path, out: str | Path, sets=None, limit: int | None = None, workers: int = 0,
                 progress: bool = True, human_captions: int = 2) -> BuildSummary:
    """Build the corpus. Writes into ``OUT.partial`` and renames it to ``OUT`` when complete; an existing, non-empty
    ``OUT`` is never touched (an error says so). Besides the HumanML3D layout it writes ``clips.csv`` (one row per
    motion: id, source, action, side, style, licence, split), ``LICENSES.txt`` and ``meta.json``."""
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
    jobs = collect_jobs(source, sets, limit, human_captions=human_captions)
    if not jobs:
        raise ValueError(f"no clips found under {source} for sets {sets or SETS}")
    tmp.mkdir(parents=True)
    mark_temporary(tmp, out.name)
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (tmp / sub).mkdir()

    splits: dict[str, list[str]] = {"train": [], "val": [], "test": []}
    clips = {s: 0 for s in dict.fromkeys(j.source for j in jobs)}
    minutes = {s: 0.0 for s in clips}
    set_seconds = {s: 0.0 for s in clips}
    motions = {s: 0 for s in clips}
    rows: list[tuple] = []
    train_motions, failures, skipped = [], [], []
    workers = workers or os.cpu_count() or 1
    ctx = get_context("fork") if hasattr(os, "fork") else get_context()
    with ctx.Pool(workers) if workers > 1 else _Serial() as pool:
        results = pool.imap_unordered(_process, jobs, chunksize=2)
        for job, variants, err, secs in tqdm(results, total=len(jobs), desc="building corpus", disable=not progress,
                                             unit="clip"):
            set_seconds[job.source] += secs
            if err:
                failures.append(err)
                continue
            if not variants:
                skipped.append(job.path)
                continue
            clips[job.source] += len(job.segments) or 1
            split = split_of(job.clip_id)          # a take's segments, windows and mirrors share its split
            for item_id, feats, joints, caps, (action, side, style) in variants:
                np.save(tmp / "new_joint_vecs" / f"{item_id}.npy", feats)
                np.save(tmp / "new_joints" / f"{item_id}.npy", joints)
                write_texts(tmp / "texts" / f"{item_id}.txt", _caption_objects(caps))
                splits[split].append(item_id)
                motions[job.source] += 1
                rows.append((item_id, job.source, action, side, style, LICENCES[job.source], split))
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
    with open(tmp / "clips.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CLIPS_HEADER)
        w.writerows(sorted(rows))
    seconds = time.time() - t0
    peak = _peak_mb()
    meta = {
        "format": "HumanML3D layout (263-dim features, 20 fps, 22 joints)",
        "built_by": "motiongen data build",
        "build_seconds": round(seconds, 1),
        "peak_memory_mb": round(peak, 1),
        "sources": {s: {"clips": clips[s], "motions": motions[s], "minutes": round(minutes[s], 2),
                        "worker_seconds": round(set_seconds[s], 1), "licence": LICENCES[s]} for s in clips},
        "items": {k: len(v) for k, v in splits.items()},
        "min_frames": MIN_FRAMES,
        "failures": failures,
        "skipped_short": skipped,
    }
    atomic_write_bytes(tmp / "meta.json", json.dumps(meta, indent=2).encode())
    (tmp / "LICENSES.txt").write_text(
        "Licences of the sources of this corpus (each motion's source and licence: clips.csv):\n"
        + "\n".join(f"- {s}: {LICENCES[s]}" for s in clips) + "\n"
        "Anything trained on non-commercial sources (Bandai Namco, DeepMimic sie/, ASE Reallusion) is "
        "non-commercial; HDM05 (CC BY-SA 3.0) must be credited.\n")
    (tmp / TEMP_MARKER).unlink()
    if out.exists():
        out.rmdir()
    os.replace(tmp, out)
    return BuildSummary(out, clips, minutes, {k: len(v) for k, v in splits.items()}, seconds, failures,
                        skipped, set_seconds, motions, peak)


class _Serial:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def imap_unordered(self, fn, items, chunksize=1):
        return map(fn, items)
