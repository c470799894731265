"""Property tests (hypothesis) of every input boundary: any input gives a result or one of our clean errors.

A small, bounded budget runs in the default suite; ``python benchmarks/fuzz.py`` runs 10,000 cases per target."""
import json
import sys
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import fuzz  # noqa: E402

from motiongen.edit.llm import extract_json  # noqa: E402
from motiongen.edit.offline import EditNotUnderstood, OfflineEditor  # noqa: E402
from motiongen.motion.bvh import BVHError, parse_bvh  # noqa: E402
from motiongen.plan import MAX_PLAN_FRAMES, Plan, PlanError  # noqa: E402

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
                        st.sampled_from(["stages", "text", "seconds", "frames", "parts", "left_arm", "x"]), kids,
                        max_size=4), max_leaves=20)
PLAN = Plan.from_dict({"stages": [{"text": "walk", "seconds": 2}, {"text": "wave", "seconds": 2}]})


@FAST
@given(st.integers(min_value=0, max_value=2 ** 32))
def test_mutated_bvh_parses_or_fails_cleanly(seed):
    import random
    text = fuzz.mutate_text(fuzz.GOOD_BVH, random.Random(seed))
    try:
        bvh = parse_bvh(text, "p.bvh")
    except BVHError as e:
        assert "p.bvh" in str(e)                  # the error names the file
        return
    assert np.isfinite(bvh.motion).all() and bvh.num_frames >= 1
    pos, _ = bvh.world_positions()
    assert np.isfinite(pos).all()


@FAST
@given(JSON)
def test_any_json_is_a_plan_or_a_plan_error(obj):
    try:
        plan = Plan.from_dict(obj)
    except PlanError as e:
        assert str(e).startswith("plan")          # names the plan (and the stage and field)
        return
    assert 0 < plan.total_frames() <= MAX_PLAN_FRAMES
    Plan.from_dict(json.loads(json.dumps(plan.to_dict())))        # what it writes, it reads back


@FAST
@given(st.text(max_size=200) | st.lists(st.sampled_from(fuzz.WORDS), max_size=12).map(" ".join))
def test_offline_editor_answers_a_valid_plan_or_says_it_did_not_understand(instruction):
    try:
        out = OfflineEditor().revise(PLAN, instruction)
    except EditNotUnderstood:
        return
    Plan.from_dict(out)


@FAST
@given(st.text(max_size=300) | JSON.map(json.dumps))
def test_llm_answers_parse_or_fail_with_a_value_error(text):
    try:
        obj = extract_json(text)
    except (ValueError, RecursionError):
        return
    assert isinstance(obj, dict)


@FAST
@given(st.integers(min_value=0, max_value=2 ** 32))
def test_mutated_model_folders_load_or_fail_cleanly(seed):
    import random
    from motiongen.models.pretrained import ModelFileError
    try:
        fuzz.case_model(random.Random(seed))
    except (ModelFileError, ValueError, FileNotFoundError):
        pass
