"""Training-time augmentation of (motion, caption) pairs: left/right mirroring and rule-based rewording.

* :func:`swap_left_right` swaps the words left/right (also "left-hand", "leftward", "clockwise"/"counterclockwise")
  in a caption; with :func:`~motiongen.motion.features.mirror_features` it turns every clip into its mirror image
  with a caption that still says which side moves (HumanML3D's "M" copies do the same).
* :func:`reword` rewrites a caption with plain-English synonyms and word orders (subject, verb, direction and
  manner phrases), so that a user's own wording lands near what the model saw. The rules only substitute phrases
  of the same meaning; they never add an action. They are deterministic given the generator.

The frozen paraphrase set used to *measure* wording robustness (``benchmarks/data/paraphrases_test.json``) uses
words that neither the corpus captions nor these rules produce; ``tests/test_quality.py`` checks that.
"""
from __future__ import annotations

import re

import numpy as np

__all__ = ["swap_left_right", "reword", "REWORD_RULES"]

_SIDE = {"left": "right", "right": "left", "leftward": "rightward", "rightward": "leftward",
         "leftwards": "rightwards", "rightwards": "leftwards", "clockwise": "counterclockwise",
         "counterclockwise": "clockwise", "anticlockwise": "clockwise", "counter-clockwise": "clockwise"}
_SIDE_RE = re.compile(r"\b(" + "|".join(sorted(map(re.escape, _SIDE), key=len, reverse=True)) + r")\b",
                      re.IGNORECASE)


def swap_left_right(text: str) -> str:
    """'raises the left hand, turns right' -> 'raises the right hand, turns left' (case kept)."""
    def sub(m: re.Match) -> str:
        w = m.group(0)
        out = _SIDE[w.lower()]
        return out.capitalize() if w[0].isupper() else out
    return _SIDE_RE.sub(sub, text)


# (pattern, alternatives): each rule fires with probability 1/2 and then picks one alternative uniformly.
# Patterns are whole-word, case-insensitive; "\1"-style groups are not used, so every alternative is literal.
REWORD_RULES: list[tuple[str, tuple[str, ...]]] = [
    (r"^(a person|someone|a man|a woman|the person|a human|somebody)\b",
     ("a person", "someone", "a man", "a woman", "the person", "somebody", "a human")),
    (r"\bwalks forward\b", ("walks forward", "walks straight ahead", "goes forward on foot", "walks ahead",
                            "moves forward at a walk", "steps forward")),
    (r"\bwalks ahead\b", ("walks ahead", "walks forward", "walks straight on")),
    (r"\bruns forward\b", ("runs forward", "runs ahead", "jogs forward", "runs straight ahead")),
    (r"\bruns ahead\b", ("runs ahead", "runs forward", "runs straight on")),
    (r"\bwalks slowly\b", ("walks slowly", "strolls", "walks at a slow pace", "ambles")),
    (r"\bturns to the left\b", ("turns to the left", "turns left", "makes a left turn", "veers to the left",
                                "curves to the left")),
    (r"\bturns to the right\b", ("turns to the right", "turns right", "makes a right turn", "veers to the right",
                                 "curves to the right")),
    (r"\bturns left\b", ("turns left", "turns to the left", "makes a left turn", "veers left", "curves left")),
    (r"\bturns right\b", ("turns right", "turns to the right", "makes a right turn", "veers right",
                          "curves right")),
    (r"\bin a left turn\b", ("in a left turn", "in a curve to the left", "around to the left", "along a left bend")),
    (r"\bin a right turn\b", ("in a right turn", "in a curve to the right", "around to the right",
                              "along a right bend")),
    (r"\b(raises|lifts) the (left|right) hand\b", None),   # handled by _hand below (keeps the side)
    (r"\braises both hands\b", ("raises both hands", "lifts both arms", "puts both hands up", "holds both hands up",
                                "throws both hands up")),
    (r"\bwaves hello\b", ("waves hello", "waves", "waves hi", "gives a wave")),
    (r"\bwaves goodbye\b", ("waves goodbye", "waves bye", "waves farewell")),
    (r"\bjogs\b", ("jogs", "runs at an easy pace", "runs lightly")),
    (r"\bthen\b", ("then", "and then", "after that", "afterwards")),
    (r"\benergetically\b", ("energetically", "vigorously", "with energy")),
    (r"\bslowly\b", ("slowly", "at a slow pace", "unhurriedly")),
    (r"\bquickly\b", ("quickly", "fast", "rapidly")),
]
_COMPILED = [(re.compile(p, re.IGNORECASE), alts) for p, alts in REWORD_RULES]
_HAND = ("raises the {s} hand", "lifts the {s} hand", "puts the {s} hand up", "holds the {s} hand up",
         "raises the {s} arm", "lifts the {s} arm up")


def reword(text: str, rng: np.random.Generator) -> str:
    """A meaning-preserving rewording of ``text`` (often ``text`` itself)."""
    out = text
    for pattern, alts in _COMPILED:
        m = pattern.search(out)
        if m is None or rng.random() >= 0.5:
            continue
        if alts is None:
            side = m.group(2).lower()
            new = _HAND[int(rng.integers(len(_HAND)))].format(s=side)
        else:
            new = alts[int(rng.integers(len(alts)))]
        if m.start() == 0 and out[:1].isupper():
            new = new[:1].upper() + new[1:]
        out = out[:m.start()] + new + out[m.end():]
    return out
