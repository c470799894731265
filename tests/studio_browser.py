"""Shared pieces of the studio's browser tests: the studio served on a tiny untrained model, the page, generating,
and reading canvas screenshots. Serving and launching chromium are scripts/studio_page.py's (the screenshot
scripts use the same), loaded from its file."""
import importlib.util
import io
import os
from contextlib import contextmanager
from pathlib import Path

import numpy as np

_ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("studio_page", _ROOT / "scripts" / "studio_page.py")
studio_page = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(studio_page)
CHROMIUM = studio_page.CHROMIUM
launch_chromium = studio_page.launch_chromium
free_port = studio_page.free_port

CHROMIUM_MISSING = "Debian's chromium is not installed (apt-get install chromium)"
ARTIFACTS = Path(os.environ.get("MOTIONGEN_ARTIFACTS", _ROOT / "test-artifacts" / "studio"))
TIMEOUT_MS = 600_000          # a hang guard, not a speed budget


@contextmanager
def serve_tiny_studio(tmp_path: Path):
    """Save a tiny untrained baseline model under ``tmp_path`` and serve the studio on it; yields the page's URL
    and stops the server on exit."""
    from conftest import save_tiny_model
    mdir = save_tiny_model(tmp_path / "tiny")
    with studio_page.serve_studio([str(mdir)], tmp_path / "store") as url:
        yield url


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
