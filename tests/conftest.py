import json
import os
import shutil
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


@pytest.fixture()
def hml_folder(tmp_path, real_samples):
    """A standard-layout folder (in tmp, never in the repo) from the 7 real HumanML3D motions and real captions."""
    from motiongen.data.dataset import Caption, write_texts
    root = tmp_path / "hml"
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    caps = json.loads((HUMANML3D_DIR / "captions-partial" / "captions_2427_ids.json").read_text())
    for sid, (vecs, _) in real_samples.items():
        np.save(root / "new_joint_vecs" / f"{sid}.npy", vecs)
    shutil.copy(HUMANML3D_DIR / "texts" / "000000.txt", root / "texts" / "000000.txt")
    for sid in real_samples:
        if sid == "000000":
            continue
        lines = [Caption(c, ()) for _, _, c in caps.get(sid.lstrip("M"), [])] or [Caption(f"motion {sid}")]
        # one sub-segment caption (1 s .. 3.5 s = 50 frames) on every motion, as HumanML3D has
        lines.append(Caption("a sub-segment caption", ("a/DET",), 1.0, 3.5))
        write_texts(root / "texts" / f"{sid}.txt", lines)
    shutil.copy(HUMANML3D_DIR / "Mean.npy", root / "Mean.npy")
    shutil.copy(HUMANML3D_DIR / "Std.npy", root / "Std.npy")
    (root / "train.txt").write_text("\n".join(real_samples) + "\n")
    return root




def overfit_one_motion(model, motion: np.ndarray, cond, max_steps: int = 500, lr: float = 2e-3) -> list[float]:
    """Train ``model`` on one real motion (normalised by its own statistics, batch of copies) for at most
    ``max_steps`` steps (never a wall-clock limit: tests must not depend on the machine's speed); stops early once
    the x0 loss has fallen more than 10x. Returns the per-step losses."""
    import torch

    from motiongen.diffusion.gaussian import GaussianDiffusion
    feats = motion.astype(np.float32)
    B = len(cond.text)
    x0 = torch.as_tensor((feats - feats.mean(0)) / (feats.std(0) + 1e-2))[None].repeat(B, 1, 1)
    mask = torch.ones(B, len(feats), dtype=torch.bool)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    diffusion, gen = GaussianDiffusion(), torch.Generator().manual_seed(0)
    losses = []
    model.train()
    while len(losses) < max_steps:
        out = diffusion.training_losses(model, x0, mask, cond, generator=gen)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(out["simple"].item())
        if len(losses) >= 40 and np.mean(losses[:10]) > 10 * np.mean(losses[-10:]):
            break
    return losses


def randomised(model, seed: int = 0):
    """Give every zero-initialised weight (e.g. the stylization blocks' output layers) random values, so that an
    untrained model's output depends on all of its inputs, as a trained one's does. Returns the model (eval mode)."""
    import math

    import torch
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2 and p.abs().max() == 0:
                bound = 1.0 / math.sqrt(p.shape[1])
                p.copy_((torch.rand(p.shape, generator=g) * 2 - 1) * bound)
    return model.eval()


def save_tiny_model(path: Path, latent_dim: int = 32, num_layers: int = 2, ff_dim: int = 64) -> Path:
    """Save a tiny, untrained baseline model (seed 0, MiniLM text, identity statistics, HumanML3D skeleton) at
    ``path``: enough for the studio and the CLI to load and run it. Returns ``path``."""
    import torch

    from motiongen.models.registry import build_denoiser
    from motiongen.pipeline import MotionPipeline
    from motiongen.text.encoders import load_text_encoder
    torch.manual_seed(0)
    MotionPipeline(build_denoiser("baseline", latent_dim=latent_dim, num_layers=num_layers, num_heads=2, ff_dim=ff_dim,
                                  max_frames=200),
                   load_text_encoder("minilm"), np.zeros(263, np.float32), np.ones(263, np.float32),
                   {"skeleton": "humanml3d"}).save_pretrained(path)
    return path


def blender_or_skip(needs_numpy: bool = False) -> str:
    """The path of Debian's blender, or skip with the reason: not installed, or (``needs_numpy``, as Blender's
    glTF importer does) its Python cannot import numpy, which Debian ships separately as python3-numpy."""
    import shutil
    import subprocess
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("Blender is not installed (apt-get install blender python3-numpy)")
    if needs_numpy:
        env = {**os.environ, "PATH": "/usr/bin:/bin:" + os.environ.get("PATH", "")}
        probe = subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "3", "--python-expr",
                                "import numpy"],
                               capture_output=True, text=True, timeout=300, env=env)
        if probe.returncode != 0:
            pytest.skip(f"Blender's Python cannot import numpy, which its glTF importer needs (install "
                        f"python3-numpy where blender is installed): {probe.stderr.strip()[-200:]}")
    return blender


@pytest.fixture()
def studio_server(tmp_path):
    """The URL of the studio served on a tiny untrained model (see tests/studio_browser.py)."""
    from studio_browser import serve_tiny_studio
    with serve_tiny_studio(tmp_path) as url:
        yield url
