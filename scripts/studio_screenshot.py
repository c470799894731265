"""The README's studio screenshot: serve the shipped model, generate one sentence in Debian's chromium, save a PNG.

    python scripts/studio_screenshot.py [--out docs/media/studio.png] [--text "..."] [--samples 2]
"""
from __future__ import annotations

import argparse


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/media/studio.png")
    ap.add_argument("--text", default="a person walks forward and waves with the left hand")
    ap.add_argument("--samples", type=int, default=2)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright
    from studio_page import open_page, served_studio
    with served_studio() as url, sync_playwright() as p:
        browser, page = open_page(p)
        page.goto(url)
        page.wait_for_function("document.getElementById('status').textContent === 'ready'", timeout=600_000)
        page.fill("#text", a.text)
        page.fill("#samples", str(a.samples))
        page.click("#generate")
        page.wait_for_function("document.getElementById('status').textContent === 'done'", timeout=600_000)
        page.click("#play")
        page.evaluate("(() => { const s = document.getElementById('scrub'); s.value = 38; "
                      "s.dispatchEvent(new Event('input')); })()")
        page.wait_for_timeout(500)
        page.screenshot(path=a.out)
        browser.close()
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
