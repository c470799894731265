"""The studio page in a real browser: Debian's chromium driven by Playwright (executable_path; nothing is
downloaded). Types a prompt, generates, checks that the 3D view draws a figure that moves, edits the result,
downloads the BVH and parses it. Screenshots go to $MOTIONGEN_ARTIFACTS (default test-artifacts/studio)."""
import numpy as np
import pytest

playwright_sync = pytest.importorskip("playwright.sync_api")
pytest.importorskip("uvicorn")

from studio_browser import (ARTIFACTS, CHROMIUM, CHROMIUM_MISSING, TIMEOUT_MS, canvas_at_frames, generate,  # noqa: E402
                            launch_chromium, new_studio_page, png_pixels)

from motiongen.motion.bvh import read_bvh  # noqa: E402

pytestmark = pytest.mark.skipif(CHROMIUM is None, reason=CHROMIUM_MISSING)


def test_page_generates_shows_a_moving_figure_edits_and_downloads(studio_server, tmp_path):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as p:
        browser = launch_chromium(p)
        page = new_studio_page(browser)
        errors, missing, icons = [], [], []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("response", lambda r: (missing.append(r.url) if r.status >= 400 else None,
                                       icons.append(r.url) if "favicon" in r.url else None))
        page.goto(studio_server)
        page.wait_for_function("document.getElementById('status').textContent === 'ready'", timeout=TIMEOUT_MS)
        # no 404 on load (the favicon is served); the transport says "Play" while nothing plays
        page.wait_for_function("performance.getEntriesByType('resource').some((e) => e.name.includes('favicon'))",
                               timeout=TIMEOUT_MS)
        assert icons and not missing, (icons, missing)
        assert page.text_content("#play") == "Play"
        page.click("#play")                                           # nothing to play: still "Play"
        assert page.text_content("#play") == "Play"
        generate(page, "a person walks forward and waves", seconds=3, steps=4)
        page.wait_for_function("window.__studio.figures.length === 1 && window.__studio.frames === 60")
        # the frame readout advances while playing
        first = page.text_content("#readout")
        page.wait_for_function(f"document.getElementById('readout').textContent !== {first!r}", timeout=TIMEOUT_MS)
        # two paused frames draw different pixels: the figure moves
        page.click("#play")
        shots = canvas_at_frames(page, (0, 45))
        (ARTIFACTS / "frame_000.png").write_bytes(shots[0])
        (ARTIFACTS / "frame_045.png").write_bytes(shots[1])
        a, b = png_pixels(shots[0]), png_pixels(shots[1])
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

