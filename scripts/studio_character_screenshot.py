"""Screenshot of the studio with the GLB mannequin and an uploaded character (docs/media/studio_character.png).

    PYTHONPATH=src python scripts/studio_character_screenshot.py OUT.png [RIG.bvh]

Starts a studio on a free local port with the shipped model (store in a temporary folder), generates one motion,
shows it as the skinned mannequin, uploads RIG (default: ../shared/data/bvh/cmu/01_01.bvh) and screenshots the
page with Debian's chromium (Playwright, nothing downloaded).
"""
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright
from studio_page import open_page, served_studio

RIG = sys.argv[2] if len(sys.argv) > 2 else str(Path(__file__).resolve().parents[2] / "shared" / "data" / "bvh" / "cmu"
                                                / "01_01.bvh")
with served_studio() as url, sync_playwright() as p:
    b, page = open_page(p)
    page.goto(url)
    page.wait_for_function("document.getElementById('status').textContent === 'ready'", timeout=300000)
    page.select_option("#figure", "mannequin")
    page.fill("#text", "a person walks forward and waves with the right hand")
    page.fill("#seconds", "4")
    page.click("#generate")
    page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=300000)
    page.wait_for_function("window.__studio.figures.length === 1 && window.__studio.figures[0].mixer !== null", timeout=300000)
    page.set_input_files("#character-file", RIG)
    page.wait_for_function("document.getElementById('character-info').textContent.includes('bones')", timeout=300000)
    page.click("#play")
    page.evaluate("(() => { const s = document.getElementById('scrub'); s.value = 30; s.dispatchEvent(new Event('input')); })()")
    d = page.evaluate("window.__studio.drawn")
    page.wait_for_function(f"window.__studio.drawn > {d + 5}")
    page.screenshot(path=sys.argv[1])
    b.close()
