import json
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import BVH_DIR, HUMANML3D_DIR, needs_shared
from motiongen.evaluate.actions import (RULES, action_of_caption, check_action, heading_change, leg_speed,
                                        normalise_action)
from motiongen.skeleton import HUMANML3D

ROOT = Path(__file__).resolve().parents[1]


def _rot_y(j, deg):
    a = np.radians(deg)
    x, z = j[..., 0].copy(), j[..., 2].copy()
    out = j.copy()
    out[..., 0] = x * np.cos(a) + z * np.sin(a)
    out[..., 2] = -x * np.sin(a) + z * np.cos(a)
    return out


@pytest.fixture(scope="module")
def kick_left():
    """HumanML3D 000000: 'a man kicks something or someone with his left leg' (real)."""
    if not HUMANML3D_DIR.is_dir():
        pytest.skip("real data not found")
    return np.load(HUMANML3D_DIR / "new_joints" / "000000.npy").astype(np.float64)


@needs_shared
def test_a_real_left_kick_passes_kick_left_only(kick_left):
    assert check_action("kick", kick_left, "left") and check_action("kick", kick_left, "")
    assert not check_action("kick", kick_left, "right")
    assert not check_action("jump", kick_left)          # one foot stays on the floor
    assert not check_action("walk", kick_left)          # it stays in place


@needs_shared
def test_turn_side_and_airborne_and_still_legs_from_edited_real_poses(kick_left):
    stand = np.repeat(kick_left[:1], 60, axis=0)        # a real standing pose, held 3 s
    turned = np.stack([_rot_y(f, 120.0 * k / 59) for k, f in enumerate(stand)])   # +y turn = to the person's left
    assert heading_change(turned) > 100
    assert check_action("turn", turned, "left") and not check_action("turn", turned, "right")
    assert check_action("turn", _rot_y(turned[::-1], 0), "right")
    jump = stand.copy()
    jump[25:35, :, 1] += 0.25                           # the whole body in the air for half a second
    assert check_action("jump", jump) and check_action("hop", jump) and not check_action("jump", stand)
    assert check_action("wave", stand) is False         # hands down
    up = stand.copy()
    w, s = HUMANML3D.joint_index("left_wrist"), HUMANML3D.joint_index("left_shoulder")
    up[20:50, w] = up[20:50, s] + np.array([0.0, 0.3, 0.0])
    assert check_action("raise hands", up, "left") and check_action("wave", up, "left")
    assert not check_action("raise hands", up, "right") and not check_action("raise hands", up, "both")
    walking_legs = up.copy()                            # the same raised hand, legs moving like a walk
    for n in ("left_knee", "left_ankle", "left_foot", "right_knee", "right_ankle", "right_foot"):
        i = HUMANML3D.joint_index(n)
        walking_legs[:, i, 2] += 0.25 * np.sin(np.arange(60) / 20 * 2 * np.pi * (1 if "left" in n else -1))
    assert leg_speed(walking_legs) > 5 * leg_speed(up)
    assert not check_action("raise hands", walking_legs, "left")     # a gesture whose legs walk fails
    low = stand.copy()
    low[30:, :, 1] -= np.linspace(0, 0.6, 30)[:, None]               # sinks 0.6 m and stays low
    low[30:, :, 1] = np.maximum(low[30:, :, 1], stand[30:, :, 1].min())
    assert check_action("squat", low) and not check_action("squat", stand)
    with pytest.raises(ValueError, match="side"):
        check_action("kick", stand, "up")
    assert check_action("sit", stand) is None and check_action("swim", stand) is None


def test_actions_and_sides_from_captions():
    assert action_of_caption("a person waves with the left hand.") == ("wave", "left")
    assert action_of_caption("someone lifts both hands up energetically.") == ("raise hands", "both")
    assert action_of_caption("a person walks and turns to the right.") == ("turn", "right")
    assert action_of_caption("an elderly person walks backwards.") == ("walk backwards", "")
    assert action_of_caption("someone sprints ahead.") == ("dash", "")
    assert action_of_caption("a person jogs forward slowly.") == ("run", "")
    assert action_of_caption("a man kicks with his left leg")[0] == "kick"
    assert action_of_caption("a person lies down on the floor")[0] == "lie down"
    assert action_of_caption("a person picks something up from the floor")[0] == "pick up"
    assert action_of_caption("the sky is blue") == (None, "")
    assert normalise_action("Walk-Back") == "walk backwards" and normalise_action("raise hand") == "raise hands"
    assert {"kick", "jump", "squat", "lie down", "get up", "fall", "throw", "pick up", "wave", "turn", "walk",
            "run", "walk backwards", "crawl"} <= set(RULES)



def test_one_caption_classifier_for_the_corpus_and_the_rules():
    """data.actions.classify_text is the only classifier: action_of_caption is it through normalise_action, and
    each keeps the cases the other had before they were merged."""
    from motiongen.data.actions import classify_text
    # from the evaluation's former table
    assert classify_text("a person raises both hands above the head") == ("raise hand", "")
    assert classify_text("someone sprints forwards") == ("dash", "")
    assert classify_text("a person is limping") == ("walk", "")
    assert classify_text("the person sits in the chair with their hands folded")[0] == "sit"
    assert classify_text("a person stands up from a kneeling position")[0] == "get up"
    assert classify_text("someone is taking a few steps back")[0] == "walk backwards"
    # from the corpus's former table
    assert action_of_caption("a person side steps to the right") == ("sidestep", "right")
    assert action_of_caption("a person does jumping jacks") == ("jumping jack", "")
    assert action_of_caption("a person does a cartwheel")[0] == "cartwheel"
    assert action_of_caption("a person jumps while turning to the left")[0] == "jump"
    # where the two disagreed
    assert classify_text("a person walks forward, turns around and walks back")[0] == "turn"
    assert classify_text("a person raises their left hand then places it back down") == ("raise hand", "left")
    assert classify_text("a person is standing with their arms stretched out sideways")[0] != "sidestep"
    assert classify_text("closing, moving and opening a box")[0] != "box"
    assert classify_text("a person is boxing with his left hand")[0] == "box"
    for caption in ("a person waves with the left hand.", "a person squats and raises both arms", "someone bows"):
        action = classify_text(caption)[0]
        assert action_of_caption(caption)[0] == normalise_action(action)


def test_known_actions_and_compound_sentences_strip_the_same_subjects():
    """One subject pattern (motiongen.data.actions.SUBJECT): the known-actions check removes every subject the
    compound splitter recognises, with or without a determiner, plural, and "who is <adjective>" after it."""
    from motiongen.compound import plan_from_sentence
    from motiongen.known_actions import _action_words
    for subject in ("a person", "person", "this man", "the figures", "an elderly woman", "the thug", "people",
                    "someone who is tired", "they"):
        assert _action_words(f"{subject} walks forward") == "walks", subject
        stage = plan_from_sentence(f"{subject} walks forward and waves with the left hand", 4.0).stages[0]
        assert stage.parts["left_arm"].startswith(subject.split(" who ")[0] + " waves"), subject
    assert _action_words("the sky is blue") == "the sky is blue"

def _bandai(content: str, n: int):
    from motiongen.motion.bvh import read_bvh
    from motiongen.motion.retarget import retarget_bvh
    zpath = BVH_DIR / "bandai-namco" / "dataset-2" / "data.zip"
    names = sorted(m for m in zipfile.ZipFile(zpath).namelist() if f"_{content}_" in m and m.endswith(".bvh"))
    return [retarget_bvh(read_bvh(f"{zpath}::{m}"), "bandai", fps=20.0).joints for m in names[:: len(names) // n][:n]]


@needs_shared
@pytest.mark.slow
def test_real_bandai_clips_pass_their_own_rules_and_not_the_others():
    walks, waves, turns = _bandai("walk", 2), _bandai("wave-left-hand", 2), _bandai("walk-turn-left", 2)
    assert all(check_action("walk", j) for j in walks)
    assert all(check_action("wave", j, "left") for j in waves)
    assert all(check_action("turn", j, "left") for j in turns)
    assert not any(check_action("wave", j, "left") for j in walks)      # legs move
    assert not any(check_action("walk", j) for j in waves)
    assert not any(check_action("turn", j, "right") for j in turns)


def _tiny_corpus(tmp_path: Path) -> Path:
    """Real HumanML3D motions as a corpus with a clips.csv (kick / walk labels from their captions)."""
    root = tmp_path / "corpus"
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    rows = [("000000", "kick", "left", "a man kicks with his left leg."),
            ("012314", "walk", "", "a person walks forward."),
            ("M010968", "wave", "right", "a person waves with the right hand.")]
    for cid, *_rest in rows:
        shutil.copy(HUMANML3D_DIR / "new_joint_vecs" / f"{cid}.npy", root / "new_joint_vecs" / f"{cid}.npy")
    for cid, _a, _s, cap in rows:
        (root / "texts" / f"{cid}.txt").write_text(f"{cap}#a/DET#0.0#0.0\n")
    with open(root / "clips.csv", "w") as f:
        f.write("id,source,action,side,style,licence,split\n")
        for cid, a, s, _ in rows:
            f.write(f"{cid},humanml3d,{a},{s},,MIT,test\n")
    (root / "test.txt").write_text("\n".join(r[0] for r in rows) + "\n")
    (root / "train.txt").write_text("")
    return root


@needs_shared
def test_the_benchmark_reads_clips_csv_and_prints_real_pass_rates(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import actions as bench
    root = _tiny_corpus(tmp_path)
    assert bench.main(["--data", str(root), "--real-only", "--json", str(tmp_path / "a.json")]) == 0
    out = capsys.readouterr().out
    assert "command: python benchmarks/actions.py --data" in out and "clips.csv labels" in out
    assert "| kick | 0 | 1 | 100% (1/1) |" in out
    table = json.loads((tmp_path / "a.json").read_text())["actions"]
    assert table["kick"]["real"] == 1.0 and set(table) == {"kick", "walk", "wave"}
    assert bench.main(["--data", str(tmp_path / "nowhere"), "--real-only"]) == 2


# ---- known actions ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def encoder():
    from motiongen.text.encoders import load_text_encoder
    return load_text_encoder("minilm")


def test_the_shipped_models_know_walking_but_not_sitting(encoder):
    from motiongen.known_actions import KnownActions
    for name in ("default", "histf"):
        known = KnownActions.load(ROOT / "src" / "motiongen" / "checkpoints" / name)
        assert known is not None and {"walk", "run", "turn", "wave", "raise hands", "bow"} <= set(known.actions)
        sit = known.check("a person sits down on a chair", encoder)
        assert not sit.known and len(sit.nearest) == 3 and all(a in known.actions for a, _ in sit.nearest)
        assert "has not learned" in sit.message() and "nearest actions it knows" in sit.message()
        assert "\n" not in sit.message()
        assert known.check("a person walks forward", encoder).known
        assert known.check("a man waves his right hand", encoder).known
        assert not known.check("someone climbs up a ladder", encoder).known


def test_known_actions_are_built_from_a_corpus_and_checked_in_the_pipeline(tmp_path, encoder, capsys):
    import torch

    from motiongen.known_actions import FILE_NAME, KnownActions, build_known_actions, write_known_actions
    from motiongen.models.registry import build_denoiser
    from motiongen.pipeline import MotionPipeline
    root = tmp_path / "corpus"
    (root / "texts").mkdir(parents=True)
    ids = []
    for k in range(6):
        for action, cap in (("walk", "a person walks forward."), ("wave", "a person waves the left hand.")):
            cid = f"{action}{k}"
            ids.append(cid)
            (root / "texts" / f"{cid}.txt").write_text(f"{cap}#x#0.0#0.0\nsomeone {cap.split(' ', 2)[2]}#x#0.0#0.0\n")
    (root / "texts" / "bow0.txt").write_text("a person bows.#x#0.0#0.0\n")     # one clip: not learned
    (root / "train.txt").write_text("\n".join(ids + ["bow0"]) + "\n")
    known = build_known_actions(root)
    assert set(known.actions) == {"walk", "wave"} and len(known.actions["walk"]) == 2
    with pytest.raises(FileNotFoundError, match="train.txt"):
        build_known_actions(tmp_path / "nothing")
    torch.manual_seed(0)
    den = build_denoiser("finemogen", num_layers=1, part_dim=8, num_templates=4, text_latent_dim=16, text_layers=1,
                         text_heads=2, text_ff_dim=16, time_embed_dim=16, ffn_dim=8, num_experts=2,
                         expert_hidden_dim=8)
    pipe = MotionPipeline(den, encoder, np.zeros(263, np.float32), np.ones(263, np.float32), {})
    mdir = pipe.save_pretrained(tmp_path / "m")
    write_known_actions(mdir, known)
    assert KnownActions.load(mdir).actions == known.actions
    loaded = MotionPipeline.from_pretrained(mdir)
    [m] = loaded.generate("a person sits down on a chair", 1.0, steps=2)
    assert m.num_frames == 20                                     # still generated
    u = m.meta["unknown_action"]
    assert not u["known"] and {n["action"] for n in u["nearest"]} == {"walk", "wave"} and "sits down" in u["message"]
    calls = []
    check = loaded.known_actions.check
    loaded.known_actions.check = lambda text, enc, *a, **k: calls.append(text) or check(text, enc, *a, **k)
    ms = loaded.generate("a person sits down on a chair", 1.0, steps=2, num_samples=3)
    assert len(calls) == 1 and all(m.meta["unknown_action"]["text"] == u["text"] for m in ms)   # once a prompt
    calls.clear()
    [long] = loaded.generate_long([("a person walks forward", 1.0), ("a person sits down on a chair", 1.0)],
                                  prefix=m.features, steps=2)       # by windows: the plan is checked once
    assert "sits down" in long.meta["unknown_action"]["text"] and len(calls) == 2    # its two stage texts
    loaded.known_actions.check = check
    [w] = loaded.generate("a person walks forward", 1.0, steps=2)
    assert "unknown_action" not in w.meta
    [c] = loaded.generate("a person walks forward and then sits down", 4.0, steps=2)    # a plan: its stages
    assert c.meta["read_as_plan"] and "sits down" in c.meta["unknown_action"]["text"]
    from motiongen.cli import main
    assert main(["generate", "a person sits down on a chair", "--seconds", "1", "--model", str(mdir), "--out",
                 str(tmp_path / "o"), "--steps", "2", "--preview", "none", "--no-bvh", "--quiet"]) == 0
    err = capsys.readouterr().err
    assert err.count("has not learned") == 1 and "nearest actions it knows: " in err
    assert json.loads((tmp_path / "o" / "meta.json").read_text())["unknown_action"]["known"] is False
    (mdir / FILE_NAME).write_text("{not json")
    from motiongen.models.pretrained import ModelFileError
    with pytest.raises(ModelFileError, match="known_actions.json"):
        MotionPipeline.from_pretrained(mdir)


@needs_shared
def test_travel_rules_read_speed_direction_and_flight(kick_left):
    stand = np.repeat(kick_left[:1], 60, axis=0)
    t = np.arange(60)[:, None] / 20.0

    def moved(dx_per_s, dz_per_s):
        out = stand.copy()
        out[:, :, 0] += dx_per_s * t
        out[:, :, 2] += dz_per_s * t
        return out
    walk, fast, back, left = moved(0, 1.0), moved(0, 2.5), moved(0, -0.6), moved(0.4, 0)   # facing +z, left = +x
    assert check_action("walk", walk) and not check_action("run", walk)      # no flight phase, walking speed
    assert check_action("run", fast) and not check_action("walk", fast)
    assert check_action("walk backwards", back) and not check_action("walk backwards", walk)
    assert check_action("sidestep", left, "left") and not check_action("sidestep", left, "right")
    assert check_action("run backwards", back)                              # the broad corpus's label, aliased
