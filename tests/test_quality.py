import json
import re
from pathlib import Path

import numpy as np
import pytest

from conftest import BVH_DIR, needs_shared
from motiongen.evaluate.quality import is_locomotion, motion_quality, spread
from motiongen.motion.features import recover_joints_from_features

ROOT = Path(__file__).resolve().parents[1]


def test_quality_measures_tell_real_motion_from_shaking(real_samples):
    joints = recover_joints_from_features(real_samples["009548"][0])
    real = motion_quality(joints)
    assert real["bone_cv"] < 0.01 and real["high_freq"] < 0.1
    shaky = joints + np.random.default_rng(0).normal(0, 0.02, joints.shape)      # 2 cm of frame-to-frame noise
    noisy = motion_quality(shaky)
    assert noisy["high_freq"] > 5 * real["high_freq"] and noisy["jerk"] > 5 * real["jerk"]
    assert noisy["bone_cv"] > real["bone_cv"]
    walk = joints.copy()
    walk[..., 0] += np.arange(len(joints))[:, None] * 0.05           # 1 m/s along x
    assert motion_quality(walk)["drift"] == pytest.approx(real["drift"] + 0.05 * (len(joints) - 1), abs=0.5)
    assert motion_quality(walk)["root_speed"] > real["root_speed"] + 0.5


def test_spread_is_zero_for_copies_and_ignores_shaking(real_samples):
    j = recover_joints_from_features(real_samples["009548"][0])
    assert spread([j, j.copy()]) == 0.0
    other = recover_joints_from_features(real_samples["007005"][0])
    far = spread([j, other])
    shaky = j + np.random.default_rng(1).normal(0, 0.005, j.shape)
    assert spread([j, shaky]) < 0.2 * far
    with pytest.raises(ValueError):
        spread([j])


def test_locomotion_words():
    assert is_locomotion("a person walks in a left turn") and is_locomotion("someone jogs forward")
    assert not is_locomotion("a person raises the left hand") and not is_locomotion("someone bows")


@needs_shared
def test_frozen_paraphrases_use_words_no_training_caption_uses():
    """The wording-robustness set must not share its key words with anything the model is trained on: the caption
    recipes of the corpus builder, the labels and captions of every source, and the rewording rules."""
    from motiongen.data.augment import REWORD_RULES
    from motiongen.data.captions import BANDAI_CONTENT, BANDAI_STYLE
    texts = [v for vs in BANDAI_CONTENT.values() for v in vs]
    texts += [x for subj, adv in BANDAI_STYLE.values() for x in subj + adv]
    texts += [a for _, alts in REWORD_RULES for a in (alts or ())]
    texts += ["raises lifts puts holds the arm hand up"]             # the rule written in code (_HAND)
    for f in list(BVH_DIR.rglob("*.csv")) + list(BVH_DIR.rglob("*.txt")):
        texts.append(f.read_text(errors="ignore"))
    vocab = {w for t in texts for w in re.findall(r"[a-z]+", t.lower())}
    rules = json.loads((ROOT / "benchmarks" / "data" / "paraphrases_test.json").read_text())["rules"]
    assert len(rules) >= 10
    for r in rules:
        assert r["key_words"] and all(w in r["text"].split() for w in r["key_words"])
        clash = [w for w in r["key_words"] if w in vocab]
        assert not clash, (r["text"], clash)


def _rot_y_turn(j, deg=90.0):
    """``j`` turning steadily by ``deg`` degrees to its left about the vertical through its first pelvis."""
    out = j.copy()
    for t in range(len(j)):
        a = np.radians(deg * t / (len(j) - 1))
        x, z = j[t, :, 0] - j[0, 0, 0], j[t, :, 2] - j[0, 0, 2]
        out[t, :, 0] = j[0, 0, 0] + np.cos(a) * x + np.sin(a) * z
        out[t, :, 2] = j[0, 0, 2] - np.sin(a) * x + np.cos(a) * z
    return out


def test_action_check_reads_the_caption_against_the_motion(real_samples):
    from motiongen.evaluate.quality import action_check
    j = recover_joints_from_features(real_samples["009548"][0])
    assert action_check("someone bows", j) is None                      # no rule: no verdict
    lifted = j.copy()
    lifted[:, 20, 1] = j[:, 15, 1].max() + 0.2                          # left wrist above the head throughout
    assert action_check("a person raises the left hand", lifted) is True
    assert action_check("a person raises the right hand", lifted) is (bool((j[:, 21, 1] > j[:, 15, 1]).any()))
    still = np.repeat(j[:1], 40, axis=0)
    assert action_check("a person walks forward", still) is False
    walk = still.copy()
    walk[..., 2] += np.arange(40)[:, None] * 0.06                       # 1.2 m/s forward
    assert action_check("a person walks forward", walk) is True
    assert action_check("a person walking and turning to the left", walk) is False   # a turn: straight fails it
    assert action_check("a person walking and turning to the left", _rot_y_turn(walk)) is True
