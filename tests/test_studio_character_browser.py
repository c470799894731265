"""The studio page in a real browser (Debian's chromium, Playwright): the skinned GLB mannequin in the viewer, and
"on my character": upload a rig, download a result on it."""
import io
import os
import shutil
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

playwright_sync = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (apt-get install chromium)")

from motiongen.models.registry import build_denoiser  # noqa: E402
from motiongen.motion.bvh import read_bvh  # noqa: E402
from motiongen.pipeline import MotionPipeline  # noqa: E402
from motiongen.studio.server import create_app  # noqa: E402
from motiongen.text.encoders import load_text_encoder  # noqa: E402

ARTIFACTS = Path(os.environ.get("MOTIONGEN_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts" / "studio"))
TIMEOUT_MS = 600_000          # a hang guard, not a speed budget


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture()
def server(tmp_path):
    torch.manual_seed(0)
    mdir = tmp_path / "tiny"
    MotionPipeline(build_denoiser("baseline", latent_dim=32, num_layers=2, num_heads=2, ff_dim=64, max_frames=200),
                   load_text_encoder("minilm"), np.zeros(263, np.float32), np.ones(263, np.float32),
                   {"skeleton": "humanml3d"}).save_pretrained(mdir)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app([str(mdir)], tmp_path / "store"), host="127.0.0.1", port=port,
                                        log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(2000):
        if srv.started:
            break
        th.join(0.01)
    assert srv.started
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    th.join(30)


def _png(data: bytes) -> np.ndarray:
    import matplotlib.image
    return matplotlib.image.imread(io.BytesIO(data), format="png")


@pytest.mark.slow
def test_mannequin_view_and_download_on_my_character(server, tmp_path):
    from conftest import DATA
    cmu = DATA / "bvh" / "cmu" / "01_01.bvh"
    if not cmu.is_file():
        pytest.skip(f"{cmu} not found")
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"])
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(server)
        page.wait_for_function("document.getElementById('status').textContent === 'ready'", timeout=TIMEOUT_MS)
        page.select_option("#figure", "mannequin")
        page.fill("#text", "a person walks forward")
        page.fill("#seconds", "3")
        page.click("#advanced summary")
        page.fill("#steps", "4")
        page.click("#generate")
        page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=TIMEOUT_MS)
        page.wait_for_function("window.__studio.figures.length === 1 && window.__studio.figures[0].mixer !== null",
                               timeout=TIMEOUT_MS)
        assert page.evaluate("window.__studio.figures[0].constructor.name") == "Mannequin"
        page.click("#play")
        shots = []
        for frame in (0, 45):
            page.evaluate(f"(() => {{ const s = document.getElementById('scrub'); s.value = {frame}; "
                          f"s.dispatchEvent(new Event('input')); }})()")
            drawn = page.evaluate("window.__studio.drawn")
            page.wait_for_function(f"window.__studio.drawn > {drawn + 2} && window.__studio.frame === {frame}")
            shots.append(page.locator("#view canvas").screenshot())
        a, b = _png(shots[0]), _png(shots[1])
        assert (np.abs(a - b).max(-1) > 0.02).mean() > 0.001          # the skinned mesh moves
        page.set_input_files("#character-file", str(cmu))
        page.wait_for_function("document.getElementById('character-info').textContent.includes('31 bones')",
                               timeout=TIMEOUT_MS)
        with page.expect_download(timeout=TIMEOUT_MS) as dl:
            page.click("#downloads a[data-format=character-bvh]")
        dl.value.save_as(tmp_path / "on_character.bvh")
        bvh = read_bvh(tmp_path / "on_character.bvh")
        assert bvh.num_joints == 31 and bvh.joint_names[1] == "LHipJoint" and bvh.num_frames == 60
        assert not errors, errors
        browser.close()
