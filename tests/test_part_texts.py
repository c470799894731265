"""Part texts from the motion (motiongen.data.parts): still legs and idle arms, in training and at sampling."""
import numpy as np
import pytest
import torch

from conftest import DATA, needs_shared

BANDAI = f"{DATA}/bvh/bandai-namco"
WAVE_RIGHT = f"{BANDAI}/dataset-2/data.zip::data/dataset-2_wave-right-hand_normal_001.bvh"
RAISE_LEFT = f"{BANDAI}/dataset-2/data.zip::data/dataset-2_raise-up-left-hand_normal_001.bvh"
WALK = f"{BANDAI}/dataset-1/data.zip::data/dataset-1_walk_active_001.bvh"


def _features(path):
    from motiongen.convert import load_motion
    from motiongen.motion.features import joints_to_features
    from motiongen.skeleton import get_skeleton
    spec = get_skeleton("humanml3d")
    return joints_to_features(load_motion(path).joints, spec)[0].astype(np.float32), spec


@needs_shared
def test_still_parts_of_real_clips():
    from motiongen.data.parts import STILL_ARM_TEXT, STILL_LEGS_TEXT, still_parts
    wave, spec = _features(WAVE_RIGHT)
    parts = still_parts(wave, spec)
    assert parts["left_leg"] == parts["right_leg"] == parts["pelvis"] == STILL_LEGS_TEXT
    assert parts.get("left_arm") == STILL_ARM_TEXT and "right_arm" not in parts      # the waving arm moves
    raise_left, _ = _features(RAISE_LEFT)
    parts = still_parts(raise_left, spec)
    assert parts.get("right_arm") == STILL_ARM_TEXT and "left_arm" not in parts
    walk, _ = _features(WALK)
    assert still_parts(walk, spec) == {}                      # walking legs, and arms that swing with the gait


@needs_shared
def test_still_parts_follow_the_mirror():
    from motiongen.data.parts import still_parts
    from motiongen.motion.features import mirror_features
    wave, spec = _features(WAVE_RIGHT)
    mirrored = still_parts(mirror_features(wave, spec), spec)
    assert "left_arm" not in mirrored and "right_arm" in mirrored


def test_still_parts_refuses_other_layouts():
    from motiongen.data.parts import still_parts
    from motiongen.skeleton import get_skeleton
    spec = get_skeleton("humanml3d")
    assert still_parts(np.zeros((10, 100), np.float32), spec) == {}
    assert still_parts(np.zeros((1, spec.feature_dim), np.float32), spec) == {}


def test_dataset_part_texts_coin(hml_folder):
    from motiongen.data.dataset import MotionTextDataset
    plain = MotionTextDataset(hml_folder, "train", seed=0)
    assert all(plain[i]["parts"] == {} for i in range(len(plain)))
    with pytest.raises(ValueError, match="part_texts"):
        MotionTextDataset(hml_folder, "train", part_texts=1.5)
    # the coin comes after the crop, mirror and rewording: those draws are the same with and without it
    on = MotionTextDataset(hml_folder, "train", seed=0, part_texts=1.0)
    for i in range(len(plain)):
        a, b = plain[i], on[i]
        assert a["text"] == b["text"] and np.array_equal(a["motion"], b["motion"])


def test_training_condition_routes_part_texts():
    from motiongen.skeleton import FINEMOGEN_PART_NAMES
    from motiongen.text.encoders import load_text_encoder
    from motiongen.train.trainer import _training_condition
    enc = load_text_encoder("minilm")
    batch = {"text": ["a person waves with the right hand", "a person walks"],
             "parts": [{"left_leg": "a person stands still on both feet."}, {}]}
    one = _training_condition(enc, batch, with_parts=False)
    assert (one.num_stages, one.num_groups, len(one.text)) == (1, 1, 2)
    cond = _training_condition(enc, batch, with_parts=True)
    G = 1 + len(FINEMOGEN_PART_NAMES)
    assert (cond.num_stages, cond.num_groups, len(cond.text)) == (1, G, 2 * G)
    tok, _, pooled = cond.grouped()
    leg = 1 + FINEMOGEN_PART_NAMES.index("left_leg")
    arm = 1 + FINEMOGEN_PART_NAMES.index("right_arm")
    assert not torch.allclose(pooled[0, 0, leg], pooled[0, 0, 0])       # the still leg reads its own text
    assert torch.allclose(pooled[0, 0, arm], pooled[0, 0, 0])           # the rest read the caption
    assert all(torch.allclose(pooled[1, 0, g], pooled[1, 0, 0]) for g in range(G))


def test_gesture_sentences_get_still_parts_only_when_asked():
    from motiongen.compound import plan_from_sentence
    from motiongen.data.parts import STILL_ARM_TEXT, STILL_LEGS_TEXT
    assert plan_from_sentence("a person waves with the right hand", 4.0) is None
    plan = plan_from_sentence("a person waves with the right hand", 4.0, still_parts=True)
    parts = plan.stages[0].parts
    assert parts["left_leg"] == parts["pelvis"] == STILL_LEGS_TEXT and parts["left_arm"] == STILL_ARM_TEXT
    assert parts["right_arm"] == "a person waves with the right hand"
    both = plan_from_sentence("someone raises both hands, as if completely drained", 4.0, still_parts=True)
    assert both.stages[0].parts["left_arm"] == both.stages[0].parts["right_arm"]
    for moving in ("a person walks forward", "a person waves while walking", "a person bows",
                   "a person kicks with the left leg", "a person turns around and raises the right hand"):
        plan = plan_from_sentence(moving, 4.0, still_parts=True)
        assert plan is None or all(STILL_LEGS_TEXT not in t for st in plan.stages for t in st.parts.values()), moving


def test_pipeline_reads_still_parts_from_the_training_record():
    import motiongen
    pipe = motiongen.MotionPipeline.from_pretrained()
    assert pipe.reads_still_parts == (float(pipe.info.get("training", {}).get("part_texts", 0) or 0) > 0)
    pipe.info = {**pipe.info, "training": {**pipe.info.get("training", {}), "part_texts": 0.5}}
    assert pipe.reads_still_parts
    [p] = pipe._normalise_prompts(["a person waves with the right hand"], 4.0)
    assert p.read_as_plan and "left_leg" in p.plan.stages[0].parts
    [p] = pipe._normalise_prompts(["a person waves with the right hand"], 4.0, literal=True)
    assert p.plan is None
