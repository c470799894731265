import json

import numpy as np
import pytest
import torch

from motiongen.cli import main
from motiongen.models.registry import build_denoiser
from motiongen.pipeline import MotionPipeline
from motiongen.plan import Plan, PlanError, load_plan
from motiongen.text.encoders import load_text_encoder

TINY = dict(num_layers=1, part_dim=16, num_templates=8, text_latent_dim=32, text_layers=1, text_heads=2,
            text_ff_dim=64, time_embed_dim=64, ffn_dim=32, num_experts=4, top_k=2, expert_hidden_dim=32)


def test_plan_from_durations_and_ranges():
    p = Plan.from_dict({"stages": [
        {"text": "walk forward", "seconds": 2},
        {"text": "wave", "frames": [50, 90], "parts": {"Left Arm": "wave the left hand", "trajectory": "stand"}},
    ]})
    assert [(s.start, s.end) for s in p.stages] == [(0, 40), (50, 90)]
    assert p.stages[1].parts == {"left_arm": "wave the left hand", "pelvis": "stand"}
    assert p.stages[1].part_text("head") == "wave"
    assert p.total_frames() == 90
    assert Plan.from_dict(p.to_dict()).to_dict() == p.to_dict()
    assert p.describe() == "walk forward, then wave"


@pytest.mark.parametrize("data,match", [
    ({"stages": []}, "non-empty"),
    ({}, "non-empty"),
    ({"stages": [{"text": "a", "seconds": 1, "parts": {"tail": "wag"}}]}, "unknown body part 'tail'"),
    ({"stages": [{"text": "a", "frames": [0, 40]}, {"text": "b", "frames": [30, 60]}]}, "overlap stage 1"),
    ({"stages": [{"text": "a", "frames": [-5, 10]}]}, "negative"),
    ({"stages": [{"text": "a", "frames": [10, 10]}]}, "empty"),
    ({"stages": [{"text": "a", "seconds": -1}]}, "positive number"),
    ({"stages": [{"text": "a"}]}, "exactly one of 'seconds'"),
    ({"stages": [{"seconds": 1}]}, "give a 'text'"),
    ({"stages": [{"text": "a", "seconds": 1, "speed": 2}]}, "unknown field"),
    ({"stages": [{"text": "a", "seconds": 1, "parts": {"head": 3}}]}, "must be a string"),
])
def test_invalid_plans_name_the_problem(data, match):
    with pytest.raises(PlanError, match=match):
        Plan.from_dict(data)


def test_load_plan_errors_name_the_file(tmp_path):
    f = tmp_path / "p.json"
    f.write_text("{oops")
    with pytest.raises(PlanError, match="p.json' is not valid JSON"):
        load_plan(f)
    f.write_text(json.dumps({"stages": [{"text": "a", "seconds": 1, "parts": {"wing": "flap"}}]}))
    with pytest.raises(PlanError, match="p.json.*wing"):
        load_plan(f)


@pytest.fixture(scope="module")
def fine_pipe():
    torch.manual_seed(0)
    return MotionPipeline(build_denoiser("finemogen", **TINY), load_text_encoder("minilm"),
                          np.zeros(263, np.float32), np.ones(263, np.float32), {})


def test_plan_condition_routes_part_texts(fine_pipe):
    plan = Plan.from_dict({"stages": [{"text": "walk", "seconds": 1, "parts": {"left_arm": "wave"}},
                                      {"text": "sit", "seconds": 2}]})
    from motiongen.pipeline import Prompt
    cond = fine_pipe.condition_for([Prompt(plan.describe(), None, plan)], [60])
    assert (cond.num_stages, cond.num_groups) == (2, 8)
    assert cond.stage_bounds.tolist() == [[[0, 20], [20, 60]]]
    tok, _, pooled = cond.grouped()
    enc = fine_pipe.text_encoder
    assert torch.allclose(pooled[0, 0, 3], enc.encode(["wave"]).pooled[0])      # group 1 + left_arm(2)
    assert torch.allclose(pooled[0, 0, 1], enc.encode(["walk"]).pooled[0])      # head falls back to the stage
    assert torch.allclose(pooled[0, 1, 5], enc.encode(["sit"]).pooled[0])


def test_zero_shot_composition_beyond_196_frames(fine_pipe):
    plan = Plan.from_dict({"stages": [{"text": t, "seconds": 5} for t in
                                      ("walk forward", "jump", "turn around", "sit down")]})
    [m] = fine_pipe.generate(plan, steps=3)
    assert m.features.shape == (400, 263) and m.joints.shape == (400, 22, 3)
    assert np.isfinite(m.joints).all()
    assert m.meta["plan"]["stages"][3]["frames"] == [300, 400]


def test_non_plan_models_read_the_plan_as_one_sentence():
    torch.manual_seed(0)
    pipe = MotionPipeline(build_denoiser("baseline", latent_dim=16, num_layers=1, num_heads=2, ff_dim=16),
                          load_text_encoder("minilm"), np.zeros(263, np.float32), np.ones(263, np.float32), {})
    plan = Plan.from_dict({"stages": [{"text": "walk", "seconds": 1}, {"text": "sit", "seconds": 1}]})
    from motiongen.pipeline import Prompt
    cond = pipe.condition_for([Prompt("", None, plan)], [40])
    assert (cond.num_stages, cond.num_groups) == (1, 1)
    assert torch.allclose(cond.text.pooled[0], pipe.text_encoder.encode(["walk, then sit"]).pooled[0])


def test_cli_generate_with_plan(fine_pipe, tmp_path):
    model = tmp_path / "fm"
    fine_pipe.save_pretrained(model)
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps({"stages": [{"text": "walk", "seconds": 1.5},
                                           {"text": "wave", "seconds": 1, "parts": {"right_arm": "wave"}}]}))
    out = tmp_path / "out"
    assert main(["generate", "--plan", str(plan), "--model", str(model), "--out", str(out), "--steps", "2",
                 "--preview", "none", "--quiet"]) == 0
    saved = json.loads((out / "plan.json").read_text())
    assert saved["stages"][1] == {"text": "wave", "frames": [30, 50], "parts": {"right_arm": "wave"}}
    assert np.load(out / "joints.npy").shape == (50, 22, 3)
    assert load_plan(out / "plan.json").total_frames() == 50
