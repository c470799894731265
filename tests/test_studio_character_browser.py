"""The studio page in a real browser (Debian's chromium, Playwright): the skinned GLB mannequin in the viewer, and
"on my character": upload a rig, download a result on it."""
import numpy as np
import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
pytest.importorskip("uvicorn")

from studio_browser import (CHROMIUM, CHROMIUM_MISSING, TIMEOUT_MS, canvas_at_frames, generate, launch_chromium,  # noqa: E402
                            new_studio_page, png_pixels)

from motiongen.motion.bvh import read_bvh  # noqa: E402

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=CHROMIUM_MISSING)


@pytest.mark.slow
def test_mannequin_view_and_download_on_my_character(studio_server, tmp_path):
    from conftest import DATA
    cmu = DATA / "bvh" / "cmu" / "01_01.bvh"
    if not cmu.is_file():
        pytest.skip(f"{cmu} not found")
    with playwright_sync.sync_playwright() as p:
        browser = launch_chromium(p)
        page = new_studio_page(browser)
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(studio_server)
        page.wait_for_function("document.getElementById('status').textContent === 'ready'", timeout=TIMEOUT_MS)
        page.select_option("#figure", "mannequin")
        generate(page, "a person walks forward", seconds=3, steps=4)
        page.wait_for_function("window.__studio.figures.length === 1 && window.__studio.figures[0].mixer !== null",
                               timeout=TIMEOUT_MS)
        assert page.evaluate("window.__studio.figures[0].constructor.name") == "Mannequin"
        page.click("#play")
        shots = canvas_at_frames(page, (0, 45))
        a, b = png_pixels(shots[0]), png_pixels(shots[1])
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
