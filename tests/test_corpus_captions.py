"""Captions of the broad corpus: sentences from the action label with the right side (also after mirroring),
retrieved human sentences, and the frozen paraphrase set, whose key words no training caption may use."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA, needs_shared
from motiongen.data.actions import ACTION_PHRASES, classify_text
from motiongen.data.captions import HumanCaptionPool, action_captions

ROOT = Path(__file__).resolve().parents[1]


def test_action_captions_name_the_side_and_vary():
    rng = np.random.default_rng(0)
    for action, forms in ACTION_PHRASES.items():
        for side in ("left", "right", "both", ""):
            caps = action_captions(action, side, "", rng)
            assert len(caps) >= 2 and len(set(caps)) == len(caps), (action, side)
            other = {"left": "right", "right": "left"}.get(side)
            assert not any(other and re.search(rf"\b{other}\b", c) for c in caps)
            if side in ("left", "right") and "side" in forms:
                assert all(re.search(rf"\b{side}\b", c) for c in caps), (action, side, caps)
    caps = action_captions("walk", "", "zombie", rng)
    assert all("zombie" in c for c in caps)
    with pytest.raises(KeyError, match="no caption phrases"):
        action_captions("levitate", "", "", rng)


def test_human_pool_keeps_sentences_of_one_action_with_agreeing_sides():
    pool = HumanCaptionPool(["A person kicks with the left leg.", "a man kicks high with his right foot",
                             "someone walks forward and then kicks", "a person squats down low", "kick",
                             "the person kicks and jumps around"], exclude_words={"low"})
    assert pool.by_action["kick"] == ["a man kicks high with his right foot.", "a person kicks with the left leg."]
    assert "squat" not in pool.by_action           # its only sentence uses an excluded word
    rng = np.random.default_rng(0)
    assert pool.sample("kick", "left", rng, 5) == ["a person kicks with the left leg."]
    assert pool.sample("kick", "", rng, 5) == []       # a clip without a side gets no sided sentence
    assert classify_text("walk up to object, squat, pick up object") == ("pick up", "")


@needs_shared
def test_frozen_paraphrases_cover_the_new_actions_with_words_no_training_caption_uses():
    from motiongen.data.build import collect_jobs
    jobs = collect_jobs(DATA)
    texts = []
    for j in jobs:
        texts += j.captions + j.mirrored_captions
        for s in j.segments:
            texts += s.captions + s.mirrored_captions
        for caps, mcaps in j.by_side.values():
            texts += caps + mcaps
    vocab = {w for t in texts for w in re.findall(r"[a-z]+", t.lower())}
    rules = json.loads((ROOT / "benchmarks" / "data" / "paraphrases_test.json").read_text())["rules"]
    for r in rules:
        clash = [w for w in r["key_words"] if w in vocab]
        assert not clash, (r["text"], clash)
    # every new action's template captions are reworded by some rule
    new = ["kick", "squat", "lie down", "get up", "fall", "crawl", "hop", "jump", "throw", "pick up", "put down",
           "dribble", "shoot", "pass", "sword attack", "tennis", "dance", "punch", "box", "sneak", "walk backwards",
           "sidestep", "jumping jack", "block shot", "cartwheel", "backflip", "rotate arms"]
    rng = np.random.default_rng(1)
    for action in new:
        for side in ("", "left", "right"):
            for c in action_captions(action, side, "", rng):
                assert any(re.search(r["match"], c) for r in rules), (action, c)
