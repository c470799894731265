import numpy as np
import pytest
import torch

from motiongen.compound import plan_from_sentence
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
