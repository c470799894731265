"""Shared by the studio screenshot scripts: the studio on the shipped model, served on a free local port (store in
a temporary folder), and Debian's chromium driven by Playwright (executable_path; nothing is downloaded)."""
from __future__ import annotations

import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager


@contextmanager
def served_studio():
    """Yields the page's URL while uvicorn serves the studio in a thread; stops it on exit."""
    import uvicorn

    from motiongen.studio.server import create_app
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(None, tempfile.mkdtemp(prefix="motiongen-studio-")),
                                        host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=srv.run, daemon=True).start()
    while not srv.started:
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        srv.should_exit = True


def open_page(playwright):
    """(browser, page): chromium headless with WebGL in software (SwiftShader), a 1280 x 760 page."""
    browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=[
        "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"])
    return browser, browser.new_page(viewport={"width": 1280, "height": 760})
