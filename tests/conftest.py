import os
from pathlib import Path

import numpy as np
import pytest

SHARED = Path(os.environ.get("MOTIONGEN_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
DATA = SHARED / "data"
HUMANML3D_DIR = DATA / "humanml3d"
BVH_DIR = DATA / "bvh"
SAMPLE_IDS = ["000000", "007005", "009548", "011673", "012314", "M010655", "M010968"]

needs_shared = pytest.mark.skipif(not DATA.is_dir(), reason=f"real data not found at {DATA}")


@pytest.fixture(scope="session")
def real_samples():
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA}")
    out = {}
    for sid in SAMPLE_IDS:
        out[sid] = (np.load(HUMANML3D_DIR / "new_joint_vecs" / f"{sid}.npy"),
                    np.load(HUMANML3D_DIR / "new_joints" / f"{sid}.npy"))
    return out


def data_left_direction(joints: np.ndarray, ankle_ids, toe_ids) -> np.ndarray:
    """Per-frame unit 'left' direction derived from the data alone: the feet point forward (toe - ankle),
    and with Y up, left = up x forward. Uses both feet, so it does not depend on which side is which."""
    fwd = (joints[:, list(toe_ids)] - joints[:, list(ankle_ids)]).mean(1)
    fwd[:, 1] = 0
    fwd /= np.linalg.norm(fwd, axis=-1, keepdims=True)
    left = np.cross(np.array([0.0, 1.0, 0.0]), fwd)
    return left
