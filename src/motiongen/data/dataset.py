"""The standard HumanML3D / KIT-ML folder layout as a torch Dataset.

Layout: ``new_joint_vecs/ID.npy`` (T, 263|251), ``texts/ID.txt`` (``caption#tokens#start#end`` lines; start/end in
seconds, 0#0 = the whole motion), ``Mean.npy``/``Std.npy``, split files ``train.txt`` / ``val.txt`` / ``test.txt``;
optionally ``new_joints/ID.npy``. Loading follows the reference ``Text2MotionDataset`` of Guo et al.: motions with
``min_frames <= T < 200`` are kept, a caption with a time range makes its own item from that sub-segment, and each
item draws a random caption and a random crop (a multiple of ``unit_length`` frames) -- here deterministically,
from (seed, epoch, index).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..skeleton import SkeletonSpec, get_skeleton

__all__ = ["Caption", "read_texts", "write_texts", "MotionTextDataset", "load_split_ids", "dataset_stats", "show_item"]


@dataclass(frozen=True)
class Caption:
    text: str
    tokens: tuple[str, ...] = ()
    start: float = 0.0
    end: float = 0.0

    def line(self) -> str:
        return f"{self.text}#{' '.join(self.tokens)}#{self.start:g}#{self.end:g}"


def read_texts(path: str | Path) -> list[Caption]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"caption file not found: {path}")
    out = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("#")
        if len(parts) < 2:
            raise ValueError(f"{path}, line {n}: expected 'caption#tokens#start#end'")
        start = end = 0.0
        if len(parts) >= 4:
            try:
                start, end = float(parts[2]), float(parts[3])
            except ValueError:
                raise ValueError(f"{path}, line {n}: start/end must be numbers, got {parts[2]!r}, {parts[3]!r}") from None
            start = 0.0 if np.isnan(start) else start
            end = 0.0 if np.isnan(end) else end
        out.append(Caption(parts[0].strip(), tuple(parts[1].split()), start, end))
    return out


def write_texts(path: str | Path, captions: list[Caption]) -> None:
    from ..io_utils import atomic_write_bytes
    atomic_write_bytes(path, ("\n".join(c.line() for c in captions) + "\n").encode("utf-8"))


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"dataset incomplete: {what} not found: {path}")
    return path


def load_split_ids(root: str | Path, split: str) -> list[str]:
    f = _require(Path(root) / f"{split}.txt", f"split file '{split}.txt'")
    return [l.strip() for l in f.read_text().splitlines() if l.strip()]


@dataclass
class _Item:
    name: str
    motion: np.ndarray
    captions: list[Caption]


class MotionTextDataset:
    """Text-motion pairs from a standard-layout folder (a ``torch.utils.data.Dataset``)."""

    def __init__(self, root: str | Path, split: str = "train", spec: SkeletonSpec | str | None = None,
                 max_frames: int | None = None, min_frames: int | None = None, unit_length: int = 4,
                 normalize: bool = True, seed: int = 0, max_source_frames: int = 200, fps: float | None = None,
                 mirror: float = 0.0, reword: bool = False, part_texts: float = 0.0):
        """``mirror``: probability that a drawn item is mirrored left/right (motion and caption words, see
        :mod:`.augment`); ``reword``: rewrite captions with the meaning-preserving rules of :mod:`.augment`;
        ``part_texts``: probability that a drawn item also names the body parts that keep still in its crop
        (``item["parts"]``, :func:`.parts.still_parts`; otherwise ``{}``: every part reads the caption).
        All are for training; all are deterministic functions of (seed, epoch, index)."""
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"dataset folder not found: {self.root}")
        self.split = split
        ids = load_split_ids(self.root, split)
        self.mean = np.load(_require(self.root / "Mean.npy", "Mean.npy")).astype(np.float32)
        self.std = np.load(_require(self.root / "Std.npy", "Std.npy")).astype(np.float32)
        self.spec = get_skeleton(spec) if isinstance(spec, str) else (spec or get_skeleton(int(self.mean.shape[-1])))
        if self.mean.shape != (self.spec.feature_dim,) or self.std.shape != (self.spec.feature_dim,):
            raise ValueError(f"{self.root}: Mean.npy/Std.npy must have shape ({self.spec.feature_dim},), "
                             f"got {self.mean.shape} and {self.std.shape}")
        self.max_frames = max_frames or self.spec.max_frames
        meta = self.root / "meta.json"          # a built corpus states its own minimum length
        corpus_min = None
        if meta.exists():
            import json
            corpus_min = json.loads(meta.read_text()).get("min_frames")
        self.min_frames = min_frames or corpus_min or self.spec.min_frames
        self.unit_length = unit_length
        if not 0.0 <= mirror <= 1.0:
            raise ValueError(f"mirror must be a probability in [0, 1], got {mirror}")
        self.mirror, self.reword = float(mirror), bool(reword)
        if not 0.0 <= part_texts <= 1.0:
            raise ValueError(f"part_texts must be a probability in [0, 1], got {part_texts}")
        self.part_texts = float(part_texts)
        self.normalize = normalize
        self.seed = seed
        self.epoch = 0
        fps = fps or self.spec.fps
        motion_dir = _require(self.root / "new_joint_vecs", "folder new_joint_vecs/")
        text_dir = _require(self.root / "texts", "folder texts/")
        self.items: list[_Item] = []
        for mid in ids:
            motion = np.load(_require(motion_dir / f"{mid}.npy", f"motion of id {mid!r} listed in {split}.txt"))
            if motion.ndim != 2 or motion.shape[1] != self.spec.feature_dim:
                raise ValueError(f"{motion_dir / (mid + '.npy')}: expected (T, {self.spec.feature_dim}), got {motion.shape}")
            if len(motion) < self.min_frames or len(motion) >= max_source_frames:
                continue
            whole: list[Caption] = []
            for k, cap in enumerate(read_texts(text_dir / f"{mid}.txt")):
                if cap.start == 0.0 and cap.end == 0.0:
                    whole.append(cap)
                    continue
                seg = motion[int(cap.start * fps):int(cap.end * fps)]
                if self.min_frames <= len(seg) < max_source_frames:
                    self.items.append(_Item(f"{mid}#{k}", seg, [cap]))
            if whole:
                self.items.append(_Item(mid, motion, whole))
        if not self.items:
            raise ValueError(f"{self.root}: no motions of {self.min_frames} to {max_source_frames - 1} frames with "
                             f"captions in split {split!r}")
        self.items.sort(key=lambda it: it.name)

    def __len__(self) -> int:
        return len(self.items)

    def item_actions(self) -> list[str]:
        """The action of every item (``clips.csv`` of a built corpus: the normalised label its captions come from),
        for balanced sampling. Raises ``ValueError`` naming the file when the folder has no action table."""
        table = self.root / "clips.csv"
        if not table.is_file():
            raise ValueError(f"{table}: not found; balancing by action needs a corpus built by "
                             f"'motiongen data build' (its clips.csv names each clip's action)")
        import csv
        with open(table, newline="") as f:
            rows = list(csv.DictReader(f))
        if not rows or "id" not in rows[0] or "action" not in rows[0]:
            raise ValueError(f"{table}: expected the columns id and action")
        action = {r["id"]: (r["action"] or "unlabelled").strip() for r in rows}
        return [action.get(it.name.split("#")[0], "unlabelled") for it in self.items]

    def balanced_weights(self, power: float) -> np.ndarray:
        """Sampling probabilities that weigh each item by ``1 / count(its action) ** power``: 0 draws clips as they
        are (a corpus of 400 walks and 12 kicks stays so), 1 draws every action equally often."""
        actions = self.item_actions()
        names, inverse, counts = np.unique(actions, return_inverse=True, return_counts=True)
        w = counts[inverse].astype(np.float64) ** -float(power)
        return w / w.sum()

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __getitem__(self, index: int) -> dict:
        item = self.items[index]
        rng = np.random.default_rng((self.seed, self.epoch, index))
        cap = item.captions[rng.integers(len(item.captions))]
        motion = item.motion
        units = min(len(motion), self.max_frames) // self.unit_length
        if self.unit_length < 10 and units > 1 and rng.random() < 1 / 3:   # the reference 'double' coin
            units -= 1
        length = units * self.unit_length
        start = int(rng.integers(0, len(motion) - length + 1))
        motion = motion[start:start + length].astype(np.float32)
        text = cap.text
        if self.mirror and rng.random() < self.mirror:
            from ..motion.features import mirror_features
            from .augment import swap_left_right
            motion = mirror_features(motion, self.spec).astype(np.float32)
            text = swap_left_right(text)
        if self.reword:
            from .augment import reword
            text = reword(text, rng)
        parts: dict[str, str] = {}
        if self.part_texts and rng.random() < self.part_texts:        # after the crop and the mirror
            from .parts import still_parts
            parts = still_parts(motion, self.spec)
        if self.normalize:
            motion = (motion - self.mean) / self.std
        padded = np.zeros((self.max_frames, self.spec.feature_dim), dtype=np.float32)
        padded[:length] = motion
        mask = np.zeros(self.max_frames, dtype=bool)
        mask[:length] = True
        return {"motion": padded, "mask": mask, "length": length, "text": text, "parts": parts,
                "tokens": " ".join(cap.tokens), "id": item.name}


def dataset_stats(root: str | Path) -> str:
    """A human-readable summary of a standard-layout folder."""
    root = Path(root)
    lines = [f"dataset: {root}"]
    motion_dir = _require(root / "new_joint_vecs", "folder new_joint_vecs/")
    for split in ("train", "val", "test"):
        if not (root / f"{split}.txt").exists():
            continue
        ids = load_split_ids(root, split)
        frames, captions = [], 0
        for mid in ids:
            m = np.load(motion_dir / f"{mid}.npy", mmap_mode="r")
            frames.append(len(m))
            tf = root / "texts" / f"{mid}.txt"
            captions += len(read_texts(tf)) if tf.exists() else 0
        fps = get_skeleton(int(m.shape[1])).fps if frames else 20.0
        if frames:
            f = np.array(frames)
            lines.append(f"  {split:5s}: {len(ids):5d} motions, {f.sum() / fps / 60:7.1f} min, {captions:6d} captions, "
                         f"frames min/median/max {f.min()}/{int(np.median(f))}/{f.max()}")
    meta = root / "meta.json"
    if meta.exists():
        import json
        info = json.loads(meta.read_text())
        for k, v in info.get("sources", {}).items():
            lines.append(f"  source {k}: {v.get('clips', '?')} clips, {v.get('minutes', 0):.1f} min")
    return "\n".join(lines)


def corpus_stats(root: str | Path, split: str | None = None) -> dict:
    """``{"clips", "minutes", "actions": {action: clips}, "sources": {set: clips}, ...}`` of a corpus built by
    ``motiongen data build`` (from its ``clips.csv``; a clip is one motion file, mirrored copies included);
    ``split`` (train/val/test) counts that split only. ``unmirrored_clips`` leaves the mirrored copies out."""
    import csv
    root = Path(root)
    table = _require(root / "clips.csv", "clips.csv (written by `motiongen data build`)")
    motion_dir = _require(root / "new_joint_vecs", "folder new_joint_vecs/")
    with open(table, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.DictReader(f) if split is None or r["split"] == split]
    actions: dict[str, int] = {}
    sources: dict[str, int] = {}
    sides: dict[str, int] = {}
    frames = 0
    for r in rows:
        actions[r["action"]] = actions.get(r["action"], 0) + 1
        sources[r["source"]] = sources.get(r["source"], 0) + 1
        sides[r["side"]] = sides.get(r["side"], 0) + 1
        frames += len(np.load(motion_dir / f"{r['id']}.npy", mmap_mode="r"))
    return {"clips": len(rows), "minutes": round(frames / 20.0 / 60.0, 2), "split": split or "all",
            "unmirrored_clips": sum(1 for r in rows if not r["id"].startswith("M")),
            "actions": dict(sorted(actions.items(), key=lambda kv: (-kv[1], kv[0]))),
            "sources": dict(sorted(sources.items(), key=lambda kv: (-kv[1], kv[0]))), "sides": sides}


def _where_ids_are(root: Path, mid: str) -> str:
    """Where a user finds the ids of a dataset folder, with the closest one when there is one."""
    import difflib
    listing = root / "all.txt"
    if listing.is_file():
        ids = [line.strip() for line in listing.read_text(errors="replace").splitlines() if line.strip()]
        where = "the ids are listed in all.txt"
    else:
        ids = sorted(p.stem for p in (root / "new_joint_vecs").glob("*.npy"))
        where = "the ids are the file names in new_joint_vecs/"
    close = difflib.get_close_matches(mid, ids, n=1)
    return f"{where}; did you mean {close[0]!r}?" if close else where


def show_item(root: str | Path, mid: str, out: str | Path) -> Path:
    """Render one motion of a dataset (its joints, recovered from the features when new_joints/ is absent)."""
    from ..motion.features import recover_joints_from_features
    from ..motion.render import render_motion
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such dataset folder")
    jpath = root / "new_joints" / f"{mid}.npy"
    vpath = root / "new_joint_vecs" / f"{mid}.npy"
    if "/" in mid or "\\" in mid or not (jpath.is_file() or vpath.is_file()):
        raise FileNotFoundError(f"{root}: no motion {mid!r} ({_where_ids_are(root, mid)})")
    if jpath.exists():
        joints = np.load(jpath)
    else:
        joints = recover_joints_from_features(np.load(vpath))
    title = mid
    tf = root / "texts" / f"{mid}.txt"
    if tf.exists():
        caps = read_texts(tf)
        if caps:
            title = f"{mid}: {caps[0].text}"
    spec = get_skeleton(joints.shape[1])
    return render_motion(joints, out, fps=spec.fps, title=title, spec=spec)
