"""The README's studio screenshot: serve the shipped model, generate one sentence in Debian's chromium, save a PNG.

    python scripts/studio_screenshot.py [--out docs/media/studio.png] [--text "..."] [--samples 2]
"""
from __future__ import annotations

import argparse
import shutil
import socket
import tempfile
import threading
import time


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="docs/media/studio.png")
    ap.add_argument("--text", default="a person walks forward and waves with the left hand")
    ap.add_argument("--samples", type=int, default=2)
    a = ap.parse_args()
    import uvicorn
    from playwright.sync_api import sync_playwright

    from motiongen.studio.server import create_app
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(None, tempfile.mkdtemp()), host="127.0.0.1", port=port,
                                        log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=[
            "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"])
        page = browser.new_page(viewport={"width": 1280, "height": 760})
        page.goto(f"http://127.0.0.1:{port}/")
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
    srv.should_exit = True
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
