"""Caption helpers for the corpus builder: natural sentences from Bandai Namco's content/style labels, and the
``word/POS`` tokens of the standard caption format from a small lexicon tagger (coarse Universal POS tags, as in
HumanML3D's texts; no parser model is needed, so the build stays offline)."""
from __future__ import annotations

import re

import numpy as np

# third-person verb phrases for Bandai Namco's content labels (dataset-1 and dataset-2 cfg/content_label.txt)
BANDAI_CONTENT = {
    "walk": ["walks forward", "walks ahead", "takes a walk forward"],
    "run": ["runs forward", "jogs forward", "runs ahead"],
    "dash": ["dashes forward", "sprints ahead", "bursts into a sprint"],
    "walk-back": ["walks backwards", "steps backwards several times", "walks back"],
    "walk-left": ["walks to the left", "steps sideways to the left", "moves to the left"],
    "walk-right": ["walks to the right", "steps sideways to the right", "moves to the right"],
    "walk-turn-left": ["walks and turns to the left", "walks forward and then turns left", "walks in a left turn"],
    "walk-turn-right": ["walks and turns to the right", "walks forward and then turns right", "walks in a right turn"],
    "bow": ["bows", "bends forward in a bow", "makes a bow"],
    "bye": ["waves goodbye", "waves a hand to say bye", "says goodbye with a wave"],
    "byebye": ["waves goodbye with both hands", "waves both hands to say bye bye", "says bye bye, waving"],
    "guide": ["gestures to show someone the way", "guides someone with an open hand", "points the way with a hand"],
    "respond": ["responds to someone with a gesture", "answers someone with a nod and a gesture", "reacts to a call"],
    "call": ["calls someone over with a hand", "beckons someone to come", "waves someone over"],
    "punch": ["punches", "throws punches", "punches forward"],
    "kick": ["kicks", "kicks forward", "does a kick"],
    "slash": ["slashes with a sword", "swings a blade", "slashes at something"],
    "dance-long": ["dances", "performs a long dance", "dances energetically"],
    "dance-short": ["dances briefly", "does a short dance", "dances for a moment"],
    "raise-up-left-hand": ["raises the left hand", "lifts the left hand up", "puts the left hand up in the air"],
    "raise-up-right-hand": ["raises the right hand", "lifts the right hand up", "puts the right hand up in the air"],
    "raise-up-both-hands": ["raises both hands", "lifts both hands up", "puts both hands up in the air"],
    "wave-left-hand": ["waves the left hand", "waves with the left hand", "waves hello with the left hand"],
    "wave-right-hand": ["waves the right hand", "waves with the right hand", "waves hello with the right hand"],
    "wave-both-hands": ["waves both hands", "waves with both hands", "waves both arms over the head"],
}

# style -> (subjects, adverbial phrases); "normal" has none
BANDAI_STYLE = {
    "normal": (["a person", "someone", "a man"], [""]),
    "active": (["an energetic person", "a lively person"], ["energetically", "actively"]),
    "feminine": (["a person", "someone"], ["in a feminine manner", "gracefully, in a feminine way"]),
    "masculine": (["a person", "someone"], ["in a masculine manner", "in a strong, masculine way"]),
    "masculinity": (["a person", "someone"], ["in an exaggerated masculine way", "with a macho attitude"]),
    "youthful": (["a young person", "a youthful person"], ["youthfully", "in a youthful way"]),
    "exhausted": (["an exhausted person", "a worn-out person"], ["wearily", "in an exhausted way"]),
    "tired": (["a tired person", "someone who is tired"], ["tiredly", "in a tired way"]),
    "elderly": (["an elderly person", "an old person"], ["slowly like an elderly person", "in an elderly way"]),
    "old": (["an old person", "an elderly person"], ["like an old person", "stiffly like an old person"]),
    "angry": (["an angry person", "someone who is angry"], ["angrily", "in an angry way"]),
    "happy": (["a happy person", "a cheerful person"], ["happily", "cheerfully"]),
    "sad": (["a sad person", "someone who is sad"], ["sadly", "in a sad way"]),
    "proud": (["a proud person", "a confident person"], ["proudly", "with pride"]),
    "not-confident": (["an unconfident person", "a timid person"], ["without confidence", "timidly"]),
    "childish": (["a childish person", "someone"], ["childishly", "like a child"]),
    "chimpira": (["a thug", "a swaggering person"], ["like a thug", "with a thuggish swagger"]),
    "giant": (["a person", "someone"], ["like a giant, with heavy steps", "heavily like a giant"]),
    "musical": (["a person", "someone"], ["like in a musical", "theatrically, like a musical actor"]),
}


def bandai_captions(content: str, style: str, rng: np.random.Generator, n: int = 3) -> list[str]:
    """``n`` distinct, varied sentences for a Bandai Namco clip."""
    if content not in BANDAI_CONTENT:
        raise KeyError(f"no caption recipe for Bandai Namco content label {content!r}")
    if style not in BANDAI_STYLE:
        raise KeyError(f"no caption recipe for Bandai Namco style label {style!r}")
    verbs = BANDAI_CONTENT[content]
    subjects, adverbs = BANDAI_STYLE[style]
    out: list[str] = []
    candidates = []
    for v in verbs:
        for adv in adverbs:
            candidates.append(f"a person {v} {adv}".strip())
            candidates.append(f"someone {v} {adv}".strip())
        for s in subjects:
            candidates.append(f"{s} {v}")
    order = rng.permutation(len(candidates))
    for i in order:
        c = re.sub(r"\s+", " ", candidates[i]).strip() + "."
        if c not in out:
            out.append(c)
        if len(out) == n:
            break
    return out


_LEX = {
    "DET": "a an the this that these those his her their its my your some any each every another both",
    "PRON": "he she it they them him someone something himself herself themselves one person's who which",
    "ADP": "with to from in on at by over under into onto of for about around across along through behind "
           "toward towards forward backward backwards up down off out upward downward after before like while",
    "CCONJ": "and or but then",
    "AUX": "is are was were be been being has have had does do did can will would could should",
    "NUM": "one two three four five six seven eight nine ten once twice first second third",
    "ADV": "slowly quickly again back forward backwards sideways very then away together around also still",
}
_WORD_POS = {w: pos for pos, words in _LEX.items() for w in words.split()}
_VERBS = set("walk walks run runs jog jogs dash dashes bow bows wave waves raise raises lift lifts put puts kick kicks "
             "punch punches slash slashes dance dances turn turns step steps move moves jump jumps hop hops stand "
             "stands sit sits throw throws swing swings bend bends call calls beckon beckons guide guides point "
             "points respond responds reacts react gestures gesture look looks take takes make makes do does "
             "perform performs limp limps stomp stomps march marches shuffle shuffles stagger staggers climb climbs "
             "says say answers answer sprints sprint bursts".split())


def pos_tokens(caption: str) -> list[str]:
    """``word/POS`` tokens with a lexicon + suffix heuristics (VERB, NOUN, ADJ, ADV, DET, PRON, ADP, ...)."""
    words = re.findall(r"[a-zA-Z']+|\d+", caption.lower())
    out = []
    for w in words:
        if w in _WORD_POS:
            pos = _WORD_POS[w]
        elif w in _VERBS or w.endswith("ing"):
            pos = "VERB"
        elif w.isdigit():
            pos = "NUM"
        elif w.endswith("ly"):
            pos = "ADV"
        elif w in ("left", "right", "both", "old", "young", "tired", "sad", "happy", "angry", "heavy", "short",
                   "long", "slow", "fast") or w.endswith(("ful", "ish", "ous", "ive", "ic", "ed")):
            pos = "ADJ"
        else:
            pos = "NOUN"
        out.append(f"{w}/{pos}")
    return out


def action_captions(action: str, side: str, style: str, rng: np.random.Generator, n: int = 3) -> list[str]:
    """``n`` distinct sentences for a clip of ``action`` (see :mod:`.actions`), its ``side`` (left/right/both/"")
    and manner ``style``: "a person kicks with the left leg.", "someone squats down and stands back up."."""
    from .actions import ACTION_PHRASES, STYLE_PHRASES
    if action not in ACTION_PHRASES:
        raise KeyError(f"no caption phrases for action {action!r}")
    forms = ACTION_PHRASES[action]
    key = "both" if side == "both" else ("side" if side in ("left", "right") else "")
    phrases = [p.format(side=side) for p in forms.get(key) or forms.get("") or next(iter(forms.values()))]
    if key == "side" and not forms.get("side"):
        phrases = forms[""]
    subjects = ["a person", "someone", "a man", "the person", "a woman"]
    manners = [m for m in STYLE_PHRASES.get(style, BANDAI_STYLE.get(style, ([], [""]))[1]) if m] if style else []
    candidates = []
    for p in phrases:
        for s in subjects:
            candidates.append(f"{s} {p}" + (f" {manners[len(candidates) % len(manners)]}" if manners else ""))
    out: list[str] = []
    for i in rng.permutation(len(candidates)):
        c = re.sub(r"\s+", " ", candidates[i]).strip() + "."
        if c not in out and not any(c.split(" ", 2)[-1] == o.split(" ", 2)[-1] for o in out):
            out.append(c)
        if len(out) == n:
            break
    return out


class HumanCaptionPool:
    """Real sentences people wrote (HumanML3D captions-partial, KIT-ML annotations, Aalto descriptions, CMU trial
    descriptions), indexed by the action they describe: a sentence is kept for an action when the keyword rules of
    :func:`.actions.classify_text` give exactly that action and no second rule matches (so "walks then kicks" is
    dropped), it has 3-16 words, and its side words agree with the clip's side."""

    def __init__(self, sentences: list[str], exclude_words: set[str] | frozenset = frozenset()):
        from .actions import ACTION_KEYWORDS
        self.by_action: dict[str, list[str]] = {}
        self.exclude_words = set(exclude_words)
        seen = set()
        for s in sentences:
            s = " ".join(s.strip().split())
            low = s.lower().rstrip(".")
            words = low.split()
            if not 3 <= len(words) <= 16 or low in seen or re.search(r"\b(sit|sits|sitting|chair|stairs|not)\b|n't", low) \
                    or self.exclude_words.intersection(re.findall(r"[a-z]+", low)):
                continue
            seen.add(low)
            hits = {a for pat, a in ACTION_KEYWORDS if re.search(pat, low)}
            if len(hits) != 1:
                continue
            self.by_action.setdefault(hits.pop(), []).append(low[0].lower() + low[1:] + ".")
        for v in self.by_action.values():
            v.sort()

    def sample(self, action: str, side: str, rng: np.random.Generator, n: int = 2) -> list[str]:
        pool = self.by_action.get(action, [])
        from .actions import swap_side
        other = swap_side(side) if side in ("left", "right") else None
        ok = [s for s in pool if not (other and re.search(rf"\b{other}\b", s))
              and not (side in ("", "both") and re.search(r"\b(left|right)\b", s))]
        if not ok:
            return []
        idx = rng.choice(len(ok), size=min(n, len(ok)), replace=False)
        return [ok[i] for i in sorted(idx)]

    @classmethod
    def from_shared(cls, data_root) -> HumanCaptionPool:
        """The pool from ``data_root`` (``../shared/data``); missing files are skipped."""
        import csv
        import json
        from pathlib import Path
        root = Path(data_root)
        sents: list[str] = []
        p = root / "humanml3d" / "captions-partial" / "captions_2427_ids.json"
        if p.is_file():
            for caps in json.loads(p.read_text()).values():
                sents += [c[2] for c in caps]
        p = root / "kit-ml" / "annotations.json"
        if p.is_file():
            for item in json.loads(p.read_text()).values():
                sents += [a["text"] for a in item.get("annotations", [])]
        p = root / "bvh" / "aalto-gait" / "labels.csv"
        if p.is_file():
            with open(p, newline="", encoding="utf-8") as f:
                for r in csv.DictReader(f):
                    sents += [c for c in r["english_descriptions"].split("|")]
        p = root / "bvh" / "cmu" / "cmu_trial_descriptions.csv"
        if p.is_file():
            with open(p, newline="", encoding="utf-8", errors="replace") as f:
                for r in csv.DictReader(f):
                    d = r.get("Motion Description") or ""
                    if len(d.split()) >= 3:
                        sents.append("a person: " + d)
        return cls(sents, frozen_paraphrase_words())


def frozen_paraphrase_words() -> set[str]:
    """The key words of the frozen wording-robustness set (``benchmarks/data/paraphrases_test.json`` in a source
    checkout): retrieved human sentences that use one are left out, so no training caption shares them."""
    import json
    from pathlib import Path
    p = Path(__file__).resolve().parents[3] / "benchmarks" / "data" / "paraphrases_test.json"
    if not p.is_file():
        return set()
    return {w for r in json.loads(p.read_text())["rules"] for w in r["key_words"]}
