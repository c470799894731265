"""The studio page in a real browser: Debian's chromium driven by Playwright (executable_path; nothing is
downloaded). Types a prompt, generates, checks that the 3D view draws a figure that moves, edits the result,
downloads the BVH and parses it. Screenshots go to $MOTIONGEN_ARTIFACTS (default test-artifacts/studio)."""
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


def test_page_generates_shows_a_moving_figure_edits_and_downloads(server, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"])
        page = browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)
        errors, missing, icons = [], [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: (missing.append(r.url) if r.status >= 400 else None,
                                       icons.append(r.url) if "favicon" in r.url else None))
        page.goto(server)
        page.wait_for_function("document.getElementById('status').textContent === 'ready'", timeout=TIMEOUT_MS)
        # no 404 on load (the favicon is served); the transport says "Play" while nothing plays
        page.wait_for_function("performance.getEntriesByType('resource').some((e) => e.name.includes('favicon'))",
                               timeout=TIMEOUT_MS)
        assert icons and not missing, (icons, missing)
        assert page.text_content("#play") == "Play"
        page.click("#play")                                           # nothing to play: still "Play"
        assert page.text_content("#play") == "Play"
        page.fill("#text", "a person walks forward and waves")
        page.fill("#seconds", "3")
        page.click("#advanced summary")
        page.fill("#steps", "4")
        page.click("#generate")
        page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=TIMEOUT_MS)
        page.wait_for_function("window.__studio.figures.length === 1 && window.__studio.frames === 60")
        # the frame readout advances while playing
        first = page.text_content("#readout")
        page.wait_for_function(f"document.getElementById('readout').textContent !== {first!r}", timeout=TIMEOUT_MS)
        # two paused frames draw different pixels: the figure moves
        page.click("#play")
        shots = []
        for frame in (0, 45):
            page.evaluate(f"(() => {{ const s = document.getElementById('scrub'); s.value = {frame}; "
                          f"s.dispatchEvent(new Event('input')); }})()")
            drawn = page.evaluate("window.__studio.drawn")
            page.wait_for_function(f"window.__studio.drawn > {drawn + 2} && window.__studio.frame === {frame}")
            shots.append(page.locator("#view canvas").screenshot())
        (ARTIFACTS / "frame_000.png").write_bytes(shots[0])
        (ARTIFACTS / "frame_045.png").write_bytes(shots[1])
        a, b = _png(shots[0]), _png(shots[1])
        changed = (np.abs(a - b).max(-1) > 0.02).mean()
        assert changed > 0.001, f"only {changed:.5f} of the pixels changed between frames"
        assert a.std() > 0.01                                         # not a blank canvas
        # edit it: the result appears beside its parent, with a parent link in the history
        page.fill("#instruction", "make everything faster")
        page.click("#edit")
        page.wait_for_function("document.getElementById('status').textContent.startsWith('edit of')",
                               timeout=TIMEOUT_MS)
        assert page.evaluate("window.__studio.figures.length") == 2
        assert "edit of" in page.text_content("#history")
        page.screenshot(path=str(ARTIFACTS / "page.png"))
        # download the BVH and parse it
        with page.expect_download(timeout=TIMEOUT_MS) as dl:
            page.click("#downloads a[data-format=bvh]")
        target = tmp_path / "dl.bvh"
        dl.value.save_as(target)
        bvh = read_bvh(target)
        assert bvh.num_frames > 10
        # with follow off the camera frames the whole path: a synthetic 10 m walk keeps its root in view
        assert not page.is_checked("#follow")
        page.evaluate("""(() => {
            const frames = [];
            for (let t = 0; t < 200; t++) {
                const z = 10 * t / 199, f = [];
                for (let j = 0; j < 22; j++) f.push([0.1 * Math.sin(j), 0.9 + 0.04 * j, z]);
                frames.push(f);
            }
            window.__studio.show([{ joints: frames, fps: 20 }]);
        })()""")
        assert page.text_content("#play") == "Pause"                  # a new motion plays
        assert page.evaluate("window.__studio.rootsInView()") <= 1.0
        page.check("#follow")
        page.uncheck("#follow")                                       # back to the whole path
        assert page.evaluate("window.__studio.rootsInView()") <= 1.0
        assert not missing, missing
        assert not errors, errors
        browser.close()

