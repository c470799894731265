"""What a model knows: warn, by meaning, when a request names an action it has not learned (issue 30, item 4).

A model folder may hold ``known_actions.json``: the actions of its training corpus, each with a few representative
training captions (written by :func:`build_known_actions` from the corpus, by ``scripts/ship_model.py`` and by
``python -m motiongen.known_actions --model DIR --data CORPUS`` for existing folders). At load the captions are
embedded with the model's own text encoder (its pooled sentence vector: MiniLM's normalised mean of token states),
which is cheap (a few hundred short sentences, cached). A prompt is compared with every caption by cosine
similarity; when its best similarity is below the file's ``threshold``, the request is reported as unknown with the
nearest known actions, and the motion is still generated. The check is by meaning, not a word list: "a person
takes a seat" and "a person sits down" both land far from every walk, wave or bow caption.

Sentence subjects ("a person", "an elderly man", "someone") and manner words carry no action, so they are removed
before embedding (``_action_words``); the threshold was chosen by measurement
(``python benchmarks/known_actions.py``: known prompts = held-out captions and rewordings of the corpus's
actions; unknown prompts = real HumanML3D / KIT-ML sentences of actions the corpus lacks).
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .data.actions import SUBJECT

__all__ = ["KnownActions", "Verdict", "build_known_actions", "write_known_actions", "FILE_NAME", "DEFAULT_THRESHOLD"]

FILE_NAME = "known_actions.json"
DEFAULT_THRESHOLD = 0.53      # python benchmarks/known_actions.py: best balanced accuracy (85%) on real sentences
MIN_TRAIN_CLIPS = 5            # an action with fewer training clips is not counted as learned

_MANNER = re.compile(r"\b(?:slowly|quickly|energetically|actively|wearily|tiredly|angrily|happily|cheerfully|sadly|"
                     r"proudly|timidly|childishly|youthfully|gracefully|heavily|stiffly|theatrically|"
                     r"in an? [a-z, -]+? (?:way|manner|style)|like an? [a-z ]+?(?=[,.]|$)|with (?:pride|a strut|a "
                     r"macho attitude)|without confidence)\b", re.I)

_DIRECTION = re.compile(r"\b(?:to (?:the|his|her|their) (?:left|right)|(?:to|towards?) the (?:front|back|side)|forwards?|"
                        r"ahead|a bit|in a (?:left|right) turn)\b", re.I)


def _action_words(text: str) -> str:
    """The sentence without its subject and manner words: what the action is."""
    t = " ".join(str(text).split()).strip(" .")
    m = SUBJECT.match(t)
    if m:                                   # and "who is <adjective>" after it: "someone who is tired walks"
        t = re.sub(r"^\s*who\s+(?:is|are)\s+\w+", "", t[m.end():], flags=re.I)
    t = _MANNER.sub("", t)
    t = _DIRECTION.sub("", t)
    t = " ".join(t.replace(" ,", ",").split()).strip(" ,.")
    return t or " ".join(str(text).split())


@dataclass
class Verdict:
    """The check of one text: ``known`` when its best similarity reaches the threshold."""

    text: str
    known: bool
    similarity: float
    nearest: list[tuple[str, float]] = field(default_factory=list)

    def message(self) -> str:
        names = ", ".join(a for a, _ in self.nearest)
        return (f"'{self.text}' names an action this model has not learned (best match {self.similarity:.2f}); "
                f"nearest actions it knows: {names}; generating anyway")

    def to_dict(self) -> dict:
        return {"text": self.text, "known": self.known, "similarity": round(self.similarity, 3),
                "nearest": [{"action": a, "similarity": round(s, 3)} for a, s in self.nearest],
                "message": self.message()}


class KnownActions:
    """The actions of a model folder's ``known_actions.json`` and their caption embeddings (made on first use)."""

    def __init__(self, actions: dict[str, list[str]], threshold: float = DEFAULT_THRESHOLD):
        if not actions or not all(isinstance(v, list) and v for v in actions.values()):
            raise ValueError("known actions: expected a non-empty mapping action -> list of captions")
        self.actions = {str(a): [str(c) for c in caps] for a, caps in actions.items()}
        self.threshold = float(threshold)
        self._labels = [a for a, caps in self.actions.items() for _ in caps]
        self._captions = [c for caps in self.actions.values() for c in caps]
        self._emb: np.ndarray | None = None
        self._encoder_id = None

    @classmethod
    def load(cls, model_dir) -> KnownActions | None:
        """The folder's known actions, or None when it has no ``known_actions.json`` (then nothing is checked)."""
        f = Path(model_dir) / FILE_NAME
        if not f.is_file():
            return None
        try:
            d = json.loads(f.read_text())
            return cls(d["actions"], d.get("threshold", DEFAULT_THRESHOLD))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise ValueError(f"{f}: not a known-actions file ({e}); expected {{'actions': {{action: [captions]}}, "
                             f"'threshold': number}}") from e

    def to_dict(self) -> dict:
        return {"format": "motiongen-known-actions", "format_version": 1, "threshold": self.threshold,
                "actions": self.actions}

    def _embed(self, encoder, texts: list[str]) -> np.ndarray:
        pooled = encoder.encode([_action_words(t) for t in texts]).pooled.numpy().astype(np.float64)
        return pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-9)

    def similarities(self, text: str, encoder) -> dict[str, float]:
        """Best cosine similarity of ``text`` to each action's captions."""
        if self._emb is None or self._encoder_id != id(encoder):
            self._emb, self._encoder_id = self._embed(encoder, self._captions), id(encoder)
        sims = self._emb @ self._embed(encoder, [text])[0]
        best: dict[str, float] = {}
        for a, s in zip(self._labels, sims):
            best[a] = max(best.get(a, -1.0), float(s))
        return best

    def check(self, text: str, encoder, nearest: int = 3) -> Verdict:
        best = self.similarities(text, encoder)
        ranked = sorted(best.items(), key=lambda kv: -kv[1])
        top = ranked[0][1]
        return Verdict(" ".join(str(text).split()), top >= self.threshold, top, ranked[:nearest])


def build_known_actions(corpus, per_action: int = 12, min_clips: int = MIN_TRAIN_CLIPS,
                        threshold: float = DEFAULT_THRESHOLD) -> KnownActions:
    """Known actions from a corpus folder's train split: labels from ``clips.csv`` when it has one, else from the
    captions (:func:`motiongen.evaluate.actions.action_of_caption`); ``per_action`` distinct captions each, spread
    over the action's sorted captions; actions with fewer than ``min_clips`` training clips are left out."""
    import csv

    from .data.dataset import read_texts
    from .evaluate.actions import action_of_caption, normalise_action
    root = Path(corpus)
    if not (root / "train.txt").is_file():
        raise FileNotFoundError(f"{root}: no train.txt (a corpus folder from 'motiongen data build' was expected)")
    labels: dict[str, str] = {}
    table = root / "clips.csv"
    if table.is_file():
        with open(table, newline="", encoding="utf-8") as f:
            labels = {r["id"]: normalise_action(r["action"]) for r in csv.DictReader(f) if r.get("action")}
    caps: dict[str, set[str]] = {}
    clips: dict[str, set[str]] = {}
    for item in (root / "train.txt").read_text().split():
        f = root / "texts" / f"{item}.txt"
        if not f.is_file():
            continue
        texts = [c.text for c in read_texts(f)]
        base = re.sub(r"_w\d+$", "", item[1:] if item.startswith("M") else item)
        for t in texts:
            action = labels.get(base) or labels.get(item) or action_of_caption(t)[0]
            if action is None:
                continue
            caps.setdefault(action, set()).add(" ".join(t.split()))
            clips.setdefault(action, set()).add(base)
    out = {}
    for a in sorted(caps):
        if len(clips[a]) < min_clips:
            continue
        pool = sorted(caps[a], key=lambda c: (len(c), c))
        idx = np.linspace(0, len(pool) - 1, min(per_action, len(pool))).round().astype(int)
        out[a] = [pool[i] for i in sorted(set(idx))]
    if not out:
        raise ValueError(f"{root}: no action with at least {min_clips} training clips")
    return KnownActions(out, threshold)


def write_known_actions(model_dir, known: KnownActions) -> Path:
    from .io_utils import atomic_write_bytes
    path = Path(model_dir) / FILE_NAME
    atomic_write_bytes(path, (json.dumps(known.to_dict(), indent=1) + "\n").encode())
    return path


def main(argv=None) -> int:
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="python -m motiongen.known_actions",
                                 description="Write a model folder's known_actions.json from its training corpus.")
    ap.add_argument("--model", required=True, help="model folder")
    ap.add_argument("--data", required=True, help="the corpus folder the model was trained on")
    ap.add_argument("--per-action", type=int, default=12)
    ap.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD)
    args = ap.parse_args(argv)
    if not (Path(args.model) / "config.json").is_file():
        print(f"error: --model {args.model}: no config.json (a model folder was expected)", file=sys.stderr)
        return 2
    try:
        known = build_known_actions(args.data, args.per_action, threshold=args.threshold)
    except (FileNotFoundError, ValueError) as e:
        print(f"error: --data: {e}", file=sys.stderr)
        return 2
    path = write_known_actions(args.model, known)
    print(f"wrote {path}: {len(known.actions)} actions ({', '.join(known.actions)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
