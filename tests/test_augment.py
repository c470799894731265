import numpy as np
import pytest

from motiongen.data.augment import reword, swap_left_right
from motiongen.motion.features import mirror_features


def test_swap_left_right_keeps_case_and_whole_words():
    assert swap_left_right("Left hand up, then turns right") == "Right hand up, then turns left"
    assert swap_left_right("walks clockwise") == "walks counterclockwise"
    assert swap_left_right("a leftover bright light") == "a leftover bright light"      # not inside words


def test_rewording_keeps_the_side_and_is_deterministic():
    text = "a person raises the left hand and then turns to the right"
    variants = {reword(text, np.random.default_rng(s)) for s in range(40)}
    assert len(variants) > 5                                     # it does reword
    for v in variants:
        assert "left" in v and "right" in v and v.index("left") < v.index("right")   # sides and order kept
    assert reword(text, np.random.default_rng(3)) == reword(text, np.random.default_rng(3))


def test_dataset_mirrors_motion_and_caption_together(hml_folder):
    from motiongen.data.dataset import MotionTextDataset
    plain = MotionTextDataset(hml_folder, "train", normalize=False, seed=0)
    mirrored = MotionTextDataset(hml_folder, "train", normalize=False, seed=0, mirror=1.0)
    a, b = plain[0], mirrored[0]
    n = a["length"]
    assert b["length"] == n and a["id"] == b["id"]               # the same crop ...
    assert np.allclose(b["motion"][:n], mirror_features(a["motion"][:n]), atol=1e-6)   # ... mirrored
    assert b["text"] == swap_left_right(a["text"])
    with pytest.raises(ValueError, match="mirror"):
        MotionTextDataset(hml_folder, "train", mirror=2.0)
