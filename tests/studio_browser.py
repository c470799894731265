"""Shared pieces of the studio's browser tests: Debian's chromium driven by Playwright (executable_path; nothing is
downloaded), a tiny untrained studio served on a free local port, and reading canvas screenshots."""
import io
import os
import shutil
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_MISSING = "Debian's chromium is not installed (apt-get install chromium)"
ARTIFACTS = Path(os.environ.get("MOTIONGEN_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts" / "studio"))
TIMEOUT_MS = 600_000          # a hang guard, not a speed budget


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_tiny_studio(tmp_path: Path):
    """Save a tiny untrained baseline model under ``tmp_path`` and serve the studio on it (uvicorn in a thread);
    yields the page's URL and stops the server on exit."""
    import uvicorn
    from conftest import save_tiny_model

    from motiongen.studio.server import create_app

    mdir = save_tiny_model(tmp_path / "tiny")
    port = free_port()
    srv = uvicorn.Server(uvicorn.Config(create_app([str(mdir)], tmp_path / "store"), host="127.0.0.1", port=port,
                                        log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(2000):
        if srv.started:
            break
        th.join(0.01)
    assert srv.started
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        srv.should_exit = True
        th.join(30)


def launch_chromium(playwright):
    """Debian's chromium, headless, with WebGL drawn in software (SwiftShader) so the 3D view renders without a GPU."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"])


def new_studio_page(browser):
    return browser.new_page(viewport={"width": 1280, "height": 800}, accept_downloads=True)


def generate(page, text: str, seconds: float = 3, steps: int = 4) -> None:
    """Type ``text`` and a length, set the sampler steps (under "advanced"), generate, and wait until it is done."""
    page.fill("#text", text)
    page.fill("#seconds", str(seconds))
    page.click("#advanced summary")
    page.fill("#steps", str(steps))
    page.click("#generate")
    page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=TIMEOUT_MS)


def canvas_at_frames(page, frames) -> list[bytes]:
    """Scrub the (paused) studio to each frame, wait until it has drawn it, and screenshot the 3D view (PNG bytes)."""
    shots = []
    for frame in frames:
        page.evaluate(f"(() => {{ const s = document.getElementById('scrub'); s.value = {frame}; "
                      f"s.dispatchEvent(new Event('input')); }})()")
        drawn = page.evaluate("window.__studio.drawn")
        page.wait_for_function(f"window.__studio.drawn > {drawn + 2} && window.__studio.frame === {frame}")
        shots.append(page.locator("#view canvas").screenshot())
    return shots


def png_pixels(data: bytes) -> np.ndarray:
    import matplotlib.image
    return matplotlib.image.imread(io.BytesIO(data), format="png")
