"""The studio in a browser, shared by the studio screenshot scripts and the browser tests (tests/studio_browser.py
loads this file): the studio served on a free local port by uvicorn in a thread, and Debian's chromium driven by
Playwright (executable_path; nothing is downloaded) with WebGL drawn in software (SwiftShader)."""
from __future__ import annotations

import shutil
import socket
import tempfile
import threading
from contextlib import contextmanager

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serve_studio(model_dirs: list[str] | None = None, store=None, start_timeout_s: float = 20.0):
    """Serve the studio on ``model_dirs`` (None: the shipped model) with its store in ``store`` (default: a new
    temporary folder); yields the page's URL and stops the server on exit."""
    import uvicorn

    from motiongen.studio.server import create_app
    port = free_port()
    app = create_app(model_dirs, store if store is not None else tempfile.mkdtemp(prefix="motiongen-studio-"))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    for _ in range(int(start_timeout_s * 100)):
        if srv.started or not th.is_alive():
            break
        th.join(0.01)
    if not srv.started:
        srv.should_exit = True
        raise RuntimeError(f"the studio did not start on port {port} within {start_timeout_s:g} s")
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        srv.should_exit = True
        th.join(30)


def launch_chromium(playwright):
    """Debian's chromium, headless, with WebGL drawn in software (SwiftShader) so the 3D view renders without a GPU."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[
        "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader", "--ignore-gpu-blocklist"])


@contextmanager
def served_studio():
    """The screenshot scripts' studio: the shipped model, its store in a temporary folder."""
    with serve_studio() as url:
        yield url


def open_page(playwright):
    """(browser, page): :func:`launch_chromium` and a 1280 x 760 page (the README screenshots' size)."""
    browser = launch_chromium(playwright)
    return browser, browser.new_page(viewport={"width": 1280, "height": 760})
