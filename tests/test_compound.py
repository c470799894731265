import json
import re

import numpy as np
import pytest
import torch

from conftest import DATA, needs_shared
from motiongen.compound import is_motion_clause, plan_from_sentence
from motiongen.data.actions import SUBJECT as _SUBJECT
from motiongen.models.registry import build_denoiser
from motiongen.pipeline import MotionPipeline
from motiongen.text.encoders import load_text_encoder


def test_simultaneous_actions_become_body_part_texts():
    plan = plan_from_sentence("a person walks forward and waves with the left hand", 4.0)
    [st] = plan.stages
    assert (st.start, st.end) == (0, 80)
    assert st.text == "a person walks forward"          # the whole-body clause: what untexted parts follow
    assert st.parts["left_arm"] == "a person waves with the left hand"
    assert st.parts["left_leg"] == st.parts["right_leg"] == st.parts["pelvis"] == "a person walks forward"
    assert "right_arm" not in st.parts            # follows the whole sentence
    both = plan_from_sentence("someone runs while waving both arms", 3.0).stages[0]
    assert both.parts["left_arm"] == both.parts["right_arm"] == "someone waving both arms"


def test_sequences_become_stages_and_single_actions_stay_sentences():
    plan = plan_from_sentence("a person walks forward, then turns left and then sits down", 6.0)
    assert [s.text for s in plan.stages] == ["a person walks forward", "a person turns left", "a person sits down"]
    assert [(s.start, s.end) for s in plan.stages] == [(0, 40), (40, 80), (80, 120)]
    assert plan_from_sentence("a person walks and turns to the right", 4.0) is None      # one corpus-style action
    assert plan_from_sentence("someone raises both hands", 4.0) is None
    # too short to give each stage a second: stays one sentence
    assert plan_from_sentence("a person jumps then bows then sits", 2.0) is None


def _texts(plan):
    return [t for st in plan.stages for t in [st.text, *st.parts.values()]]


def test_a_trailing_manner_phrase_is_never_a_part_sentence_of_its_own():
    assert plan_from_sentence("a person raises both hands, as if completely drained.", 4.0) is None
    assert plan_from_sentence("the individual hoists both mitts skyward, as if completely drained.", 4.0) is None
    [st] = plan_from_sentence("a person walks forward and waves with the left hand, as if completely drained",
                              4.0).stages
    assert st.parts["pelvis"] == "a person walks forward, as if completely drained"
    assert st.parts["left_arm"] == "a person waves with the left hand, as if completely drained"
    assert all("a person if" not in t and "a person as" not in t for t in _texts(
        plan_from_sentence("a person walks forward while waving the right hand as though greeting a friend", 4.0)))
    assert plan_from_sentence("a person walks as if drunk", 4.0) is None
    assert plan_from_sentence("a person walks forward. he is very tired.", 6.0) is None   # no second motion


def test_adverbs_sides_counts_and_second_verbs_stay_whole():
    [st] = plan_from_sentence("a man walks slowly and waves twice with his left hand", 4.0).stages
    assert st.parts["left_arm"] == "a man waves twice with his left hand" and st.text == "a man walks slowly"
    assert "right_arm" not in st.parts
    [st] = plan_from_sentence("a person walks back and forth and waves with the right hand", 4.0).stages
    assert st.text == "a person walks back and forth" and st.parts["right_arm"] == "a person waves with the right hand"
    assert plan_from_sentence("a person jumps up and down", 4.0) is None
    assert plan_from_sentence("a person quickly waves twice", 4.0) is None
    seq = plan_from_sentence("A person walks forward. A person sits down.", 4.0)
    assert [s.text for s in seq.stages] == ["A person walks forward", "A person sits down"]
    seq = plan_from_sentence("Person looks around and then walks around a corner.", 4.0)
    assert [s.text for s in seq.stages] == ["Person looks around", "Person walks around a corner"]
    seq = plan_from_sentence("A human walks three steps. Then turns around and walks back.", 4.0)
    assert seq.stages[1].text == "A human turns around and walks back"
    assert is_motion_clause("someone waving both arms") and not is_motion_clause("as if completely drained")


def _real_sentences():
    out = []
    h = DATA / "humanml3d" / "captions-partial" / "captions_2427_ids.json"
    for rows in json.loads(h.read_text()).values():
        out += [r[2] for r in rows]
    for v in json.loads((DATA / "kit-ml" / "annotations.json").read_text()).values():
        out += [a["text"] for a in v.get("annotations", [])]
    return sorted({" ".join(s.split()) for s in out})


_NOT_A_START = re.compile(r"^(?:if|though|as|and|then|while|whilst|to|up|down|forth|back|of|the|a|an|"
                          r"his|her|their|its|it|times?|twice|once)\b", re.I)


@needs_shared
def test_real_sentences_never_give_a_part_sentence_without_a_motion():
    """Property over ~13k real HumanML3D and KIT-ML sentences (and each with a manner phrase appended): every
    stage and part sentence of every plan names a motion, keeps its subject once, and does not start with a
    function word (what "a person if completely drained" was)."""
    pool = _real_sentences()
    assert len(pool) > 10000
    plans = 0
    for sentence in pool + [s.rstrip(". ") + ", as if completely drained." for s in pool[::7]]:
        plan = plan_from_sentence(sentence, 10.0)
        if plan is None:
            continue
        plans += 1
        for t in _texts(plan):
            assert is_motion_clause(t), (sentence, t)
            m = _SUBJECT.match(t)
            core = t.split(", as if")[0]
            if core.lower() in sentence.lower():
                continue                                 # the writer's own words, subject included
            rest = t[m.end():].strip() if m else t        # a subject we added: what follows must be a clause
            assert rest and not _NOT_A_START.match(rest), (sentence, t)
            assert not _SUBJECT.match(rest), (sentence, t)                   # "a person person walks"
    assert plans > 2000                                                      # the pool does exercise the splits


@pytest.fixture(scope="module")
def tiny_pipe():
    torch.manual_seed(0)
    den = build_denoiser("finemogen", num_layers=1, part_dim=8, num_templates=4, text_latent_dim=16, text_layers=1,
                         text_heads=2, text_ff_dim=16, time_embed_dim=16, ffn_dim=8, num_experts=2,
                         expert_hidden_dim=8)
    return MotionPipeline(den, load_text_encoder(), np.zeros(263, np.float32), np.ones(263, np.float32), {})


def test_the_pipeline_reads_a_compound_sentence_as_a_plan_unless_literal(tiny_pipe, tmp_path, capsys):
    text = "a person walks forward and waves with the left hand"
    [m] = tiny_pipe.generate(text, 2.0, steps=2)
    assert m.meta["read_as_plan"] and m.plan["stages"][0]["parts"]["left_arm"] == "a person waves with the left hand"
    assert m.num_frames == 40
    [lit] = tiny_pipe.generate(text, 2.0, steps=2, literal=True)
    assert "read_as_plan" not in lit.meta and lit.plan is None
    from motiongen.cli import main
    tiny_pipe.save_pretrained(tmp_path / "m")
    assert main(["generate", text, "--seconds", "2", "--model", str(tmp_path / "m"), "--out", str(tmp_path / "o"),
                 "--steps", "2", "--preview", "none", "--no-bvh", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "as a plan" in printed and "left_arm: 'a person waves with the left hand'" in printed
    import json
    assert json.loads((tmp_path / "o" / "plan.json").read_text())["stages"][0]["parts"]["pelvis"] == \
        "a person walks forward"
