"""Security and no lost files (issue 27): the studio answers only its own names and page and never hands out the
operator's key; no command deletes or replaces a file it did not write; the remaining tracebacks are clear errors.
Each test fails on the code before the fix."""
import asyncio
import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import save_tiny_model  # noqa: E402
from motiongen.cli import main  # noqa: E402
from motiongen.io_utils import MANIFEST, TEMP_MARKER, atomic_directory, check_output_dir, mark_temporary  # noqa: E402
from motiongen.studio.server import Limits, RequestGuard, create_app  # noqa: E402

BASE = "http://127.0.0.1:7860"


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny model folder, written once (the studio only reads its config unless a job runs)."""
    return save_tiny_model(tmp_path_factory.mktemp("security") / "tiny", latent_dim=16, num_layers=1, ff_dim=16)


def _client(model_dir, store, **kw):
    app = create_app([str(model_dir)], store, **kw)
    return TestClient(app, base_url=BASE, raise_server_exceptions=False), app.state.studio


def _fake_result(store: Path, rid: str, frames: int = 12) -> Path:
    """A stored result as the studio writes it (without running a model)."""
    d = store / rid
    sub = d / "sample_000"
    sub.mkdir(parents=True)
    np.save(sub / "joints.npy", np.zeros((frames, 22, 3), np.float32))
    (sub / "meta.json").write_text(json.dumps({"seed": 1, "fps": 20.0}))
    (sub / "plan.json").write_text(json.dumps({"stages": [{"text": "walk", "frames": [0, frames]}]}))
    (d / "result.json").write_text(json.dumps({"id": rid, "samples": 1, "frames": frames, "text": "walk"}))
    return d


# ---- the studio: Host, Origin, operator-only LLM settings ------------------------------------------------------

@pytest.mark.parametrize("host", ["evil.example:7860", "127.0.0.1.nip.io:7860", "", "evil.example", "127.0.0.1@x",
                                  "localhost.evil.example"])
def test_studio_refuses_foreign_host_names(model_dir, tmp_path, host):
    """DNS rebinding: a page whose name resolves to 127.0.0.1 sends its own name in Host and gets nothing."""
    client, _ = _client(model_dir, tmp_path / "store")
    _fake_result(tmp_path / "store", "r1")
    for method, url in (("GET", "/api/results"), ("GET", "/api/results/r1"), ("GET", "/"),
                        ("POST", "/api/generate")):
        r = client.request(method, url, headers={"Host": host}, json={"text": "walk"} if method == "POST" else None)
        assert r.status_code == 421, (url, r.status_code)
        assert r.json()["field"] == "host" and "r1" not in r.text


@pytest.mark.parametrize("host", ["127.0.0.1:7860", "localhost:7860", "[::1]:7860", "LOCALHOST", "studio.lan:80"])
def test_studio_answers_its_own_names(model_dir, tmp_path, host):
    client, _ = _client(model_dir, tmp_path / "store", hosts=["studio.lan"])   # serve --host studio.lan
    assert client.get("/api/results", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize("headers,status", [
    ({"Origin": "http://evil.example"}, 403),
    ({"Origin": "null"}, 403),
    ({"Origin": "http://127.0.0.1:9999"}, 403),            # another local server's page
    ({"Origin": "http://127.0.0.1:7860", "Sec-Fetch-Site": "cross-site"}, 403),
    ({"Content-Type": "text/plain"}, 415),                 # a form post, which needs no CORS preflight
])
def test_state_changing_requests_come_only_from_the_studio_page(model_dir, tmp_path, headers, status):
    client, studio = _client(model_dir, tmp_path / "store")
    studio.open.clear()                                    # keep jobs queued
    body = json.dumps({"text": "walk", "seconds": 1, "steps": 1}).encode()
    r = client.post("/api/generate", content=body, headers={"Content-Type": "application/json", **headers})
    assert r.status_code == status and not studio.jobs
    ok = client.post("/api/generate", content=body, headers={"Content-Type": "application/json",
                                                             "Origin": "http://127.0.0.1:7860"})
    assert ok.status_code == 202
    job = ok.json()["job"]["id"]
    bad = client.post(f"/api/jobs/{job}/cancel", headers={"Origin": "http://evil.example"})
    assert bad.status_code == 403 and studio.jobs[job].status == "queued"      # cancel is guarded too
    assert client.post(f"/api/jobs/{job}/cancel").json()["status"] == "cancelled"   # curl (no Origin) may
    studio.open.set()


def test_a_request_cannot_choose_the_llm_server_or_borrow_the_key(model_dir, tmp_path, monkeypatch):
    """The issue's reproducer: a request-chosen llm_url with the server's OPENAI_API_KEY. Nothing may be sent."""
    import http.server
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    seen = []

    class Listener(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            seen.append(dict(self.headers))
            self.send_response(500)
            self.end_headers()

        def log_message(self, *a):
            pass
    srv = http.server.HTTPServer(("127.0.0.1", 0), Listener)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        client, studio = _client(model_dir, tmp_path / "store")
        _fake_result(tmp_path / "store", "r1")
        for extra in ({"llm_url": f"http://127.0.0.1:{srv.server_port}/v1"}, {"llm_key": "x"},
                      {"llm_url": "file:///etc/passwd"}):
            r = client.post("/api/edit", json={"parent": "r1", "instruction": "slower", "backend": "openai",
                                               **extra})
            assert r.status_code == 422 and r.json()["field"] in extra and "operator" in r.json()["error"]
        r = client.post("/api/edit", json={"parent": "r1", "instruction": "slower", "backend": "openai"})
        assert r.status_code == 422 and r.json()["field"] == "backend"       # no LLM server configured
        time.sleep(0.2)
        assert seen == [] and not studio.jobs
    finally:
        srv.shutdown()
    with pytest.raises(ValueError, match="http"):
        create_app([str(model_dir)], tmp_path / "s2", llm_url="file:///etc/passwd")


def test_llm_client_refuses_non_http_urls_and_bad_timeouts():
    from motiongen.edit.llm import LLMEditError, OpenAIChatEditor
    for url in ("file:///etc/passwd", "ftp://127.0.0.1/v1", "gopher://x", "http://", "127.0.0.1:8080/v1",
                "http://127.0.0.1:abc/v1"):
        with pytest.raises(LLMEditError, match="llm-url"):
            OpenAIChatEditor(base_url=url)
    for t in (-1, 0, float("inf"), float("nan")):
        with pytest.raises(LLMEditError, match="llm-timeout"):
            OpenAIChatEditor(base_url="http://127.0.0.1:9/v1", timeout=t)


def test_llm_client_reads_at_most_a_little_of_an_error_body(monkeypatch):
    import urllib.error

    from motiongen.edit import llm
    class Body(io.BytesIO):
        read_bytes = 0

        def read(self, n=-1):
            data = super().read(n)
            Body.read_bytes += len(data)
            return data
    body = Body(b"x" * (8 << 20))

    def refuse(req, timeout=None):
        raise urllib.error.HTTPError(req.full_url, 500, "boom", {}, body)
    monkeypatch.setattr(llm._OPENER, "open", refuse)
    with pytest.raises(llm.LLMEditError, match="HTTP 500"):
        llm.OpenAIChatEditor(base_url="http://127.0.0.1:9/v1")._chat([{"role": "user", "content": "x"}])
    assert 0 < Body.read_bytes <= 4096


def test_cli_llm_timeout_and_seeds_are_checked_by_the_parser(capsys):
    for argv, flag in ((["edit", "x", "--from", "d", "--out", "o", "--llm-timeout", "-1"], "--llm-timeout"),
                       (["generate", "x", "--out", "o", "--seed", "-1"], "--seed"),
                       (["generate", "x", "--out", "o", "--seed", "18446744073709551616"], "--seed"),
                       (["generate", "x", "--out", "o", "--seed", "9" * 5000], "--seed")):
        with pytest.raises(SystemExit) as e:
            main(argv)
        assert e.value.code == 2 and flag in capsys.readouterr().err


# ---- the studio: bodies, seeds, texts, huge numbers -------------------------------------------------------------

def test_chunked_bodies_are_counted_while_streaming():
    """A chunked body is refused once it passes the limit, without reading the rest (a 384 MB POST did)."""
    class Stub:
        limits = Limits(max_body_bytes=1000)
    pulled, sent = [], []

    async def receive():
        pulled.append(1)
        return {"type": "http.request", "body": b"x" * 100, "more_body": True}      # never ends

    async def send(msg):
        sent.append(msg)

    async def app(scope, rcv, snd):
        raise AssertionError("the app must not see an oversized body")
    scope = {"type": "http", "method": "POST", "headers": [(b"host", b"127.0.0.1:7860"),
                                                           (b"transfer-encoding", b"chunked"),
                                                           (b"content-type", b"application/json")]}
    asyncio.run(RequestGuard(app, Stub(), ("127.0.0.1",))(scope, receive, send))
    assert sent[0]["status"] == 413 and len(pulled) == 11


def test_studio_seeds_texts_and_huge_numbers(model_dir, tmp_path):
    client, studio = _client(model_dir, tmp_path / "store")
    studio.open.clear()
    for seed in (True, -1, 2 ** 32, 1.5):
        r = client.post("/api/generate", json={"text": "walk", "seconds": 1, "seed": seed})
        assert r.status_code == 422 and r.json()["field"] == "seed", seed
    assert client.post("/api/generate", json={"text": "walk", "seconds": 1, "seed": 2 ** 32 - 1}).status_code == 202
    r = client.post("/api/generate", json={"text": "walk", "seconds": 1, "seed": 2 ** 32 - 1, "samples": 2})
    assert r.status_code == 422 and r.json()["field"] == "seed"
    r = client.post("/api/generate", json={"text": "walk", "samples": True})
    assert r.status_code == 422 and r.json()["field"] == "samples"
    r = client.post("/api/generate", json={"plan": {"stages": [{"text": "walk", "seconds": 10 ** 400}]}})
    assert r.status_code == 422 and "seconds" in r.json()["error"]                   # was a 500
    r = client.post("/api/generate", content=b'{"text": "walk", "seconds": ' + b"9" * 5000 + b"}",
                    headers={"Content-Type": "application/json"})
    assert r.status_code in (400, 422) and r.json()["field"] in ("body", "seconds")
    for body in (b'{"text": "a \\ud800 walks"}', b'{"plan": {"stages": [{"text": "a \\udcff", "seconds": 1}]}}'):
        r = client.post("/api/generate", content=body, headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and "UTF-8" in r.json()["error"], body            # was accepted
    _fake_result(tmp_path / "store", "r1")
    r = client.post("/api/edit", content=b'{"parent": "r1", "instruction": "slower \\udfff"}',
                    headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and r.json()["field"] == "instruction"
    studio.open.set()


def test_store_damage_is_skipped_or_reported_never_a_500(model_dir, tmp_path):
    store = tmp_path / "store"
    client, _ = _client(model_dir, store)
    _fake_result(store, "a-good")
    (_fake_result(store, "b-list") / "result.json").write_text("[1, 2]")
    (_fake_result(store, "c-trunc") / "result.json").write_text('{"id": "c-trunc", "sam')
    (_fake_result(store, "d-abc") / "result.json").write_text('{"id": "d-abc", "samples": "abc"}')
    (_fake_result(store, "e-nojoints") / "sample_000" / "joints.npy").unlink()
    (_fake_result(store, "f-plan") / "sample_000" / "plan.json").write_text("{")
    (_fake_result(store, "g-pickle") / "sample_000" / "joints.npy").write_bytes(b"\x80\x04K\x01.")
    (_fake_result(store, "h-zip") / "sample_000" / "joints.npy").write_bytes(b"PK\x03\x04" + b"\x00" * 30)
    (_fake_result(store, "i-surrogate") / "result.json").write_text('{"id": "i", "text": "a \\udcff"}')
    (_fake_result(store, "j-nan") / "result.json").write_text('{"id": "j", "created": NaN}')
    r = client.get("/api/results")
    assert r.status_code == 200
    assert {x["id"] for x in r.json()["results"]} == {"a-good", "e-nojoints", "f-plan", "g-pickle", "h-zip"}
    assert set(r.json()["damaged"]) == {"b-list", "c-trunc", "d-abc", "i-surrogate", "j-nan"}
    assert client.get("/api/results/a-good").status_code == 200
    for rid in ("b-list", "c-trunc", "d-abc", "e-nojoints", "f-plan", "g-pickle", "h-zip", "i-surrogate", "j-nan"):
        r = client.get(f"/api/results/{rid}")
        assert r.status_code == 404 and "damaged" in r.json()["error"], rid
    r = client.get("/api/results/e-nojoints/samples/0/mp4")
    assert r.status_code == 404 and "damaged" in r.json()["error"]
    r = client.post("/api/edit", json={"parent": "b-list", "instruction": "slower"})
    assert r.status_code == 404 and "damaged" in r.json()["error"]


def test_concurrent_first_mp4_requests_render_once(model_dir, tmp_path, monkeypatch):
    from motiongen.motion import render
    calls = []

    def slow_render(joints, path, fps=20.0, **kw):
        calls.append(1)
        time.sleep(0.3)
        Path(path).write_bytes(b"mp4")
    monkeypatch.setattr(render, "render_motion", slow_render)
    _, studio = _client(model_dir, tmp_path / "store")
    _fake_result(tmp_path / "store", "r1")
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(studio.download("r1", 0, "mp4"))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(paths) == 4 and paths[0].read_bytes() == b"mp4"


def test_serve_store_that_is_a_file_is_a_clear_error(model_dir, tmp_path):
    f = tmp_path / "store"
    f.write_text("mine")
    with pytest.raises(ValueError, match="--store .* is a file"):
        create_app([str(model_dir)], f)
    assert f.read_text() == "mine"


# ---- no lost files: the manifest, not the names ----------------------------------------------------------------

def test_models_init_overwrite_never_deletes_user_files(tmp_path, capsys):
    out = tmp_path / "work"
    (out / "sub").mkdir(parents=True)
    (out / "thesis.tex").write_text("years of work")
    (out / "sub" / "photo.jpg").write_bytes(b"\xff\xd8")
    assert main(["models", "init", "baseline", "--out", str(out), "--overwrite"]) == 2
    assert "did not write" in capsys.readouterr().err
    assert (out / "thesis.tex").read_text() == "years of work" and (out / "sub" / "photo.jpg").is_file()
    f = tmp_path / "file"
    f.write_text("mine")
    assert main(["models", "init", "baseline", "--out", str(f)]) == 2 and f.read_text() == "mine"


def test_models_init_overwrite_replaces_its_own_model(tmp_path):
    out = tmp_path / "m"
    small = ["--set", "latent_dim=16", "--set", "num_layers=1", "--set", "num_heads=2", "--set", "ff_dim=16"]
    assert main(["models", "init", "baseline", "--out", str(out), *small]) == 0
    assert (out / MANIFEST).is_file()
    assert main(["models", "init", "baseline", "--out", str(out), "--overwrite", "--seed", "1", *small]) == 0
    (out / "notes.txt").write_text("mine")                 # a file of the user's in it now: refused
    assert main(["models", "init", "baseline", "--out", str(out), "--overwrite", *small]) == 2
    assert (out / "notes.txt").read_text() == "mine"


def test_overwrite_judges_by_manifest_not_by_names(tmp_path):
    user = tmp_path / "user"
    user.mkdir()
    (user / "plan.json").write_text('{"stages": [{"text": "my plan", "seconds": 2}]}')
    (user / "meta.json").write_text("{}")
    (user / "motion.npy").write_text("mine")
    with pytest.raises(FileExistsError, match="did not write"):
        check_output_dir(user, overwrite=True)

    def fill(d):
        (d / "plan.json").write_text("{}")
        (d / "meta.json").write_text("{}")
    ours = atomic_directory(tmp_path / "ours", fill, manifest="motion output")
    assert check_output_dir(ours, overwrite=True) == ours
    (ours / "plan.json").write_text('{"edited": "by the user"}')        # changed since motiongen wrote it
    with pytest.raises(FileExistsError, match="plan.json"):
        check_output_dir(ours, overwrite=True)
    (ours / MANIFEST).write_text("[]")                                     # a broken manifest is no manifest
    with pytest.raises(FileExistsError, match="did not write"):
        check_output_dir(ours, overwrite=True)


def test_generate_overwrite_refuses_user_files_and_its_own_plan_input(tmp_path, capsys):
    user = tmp_path / "user"
    user.mkdir()
    (user / "plan.json").write_text('{"stages": [{"text": "a person walks", "seconds": 2}]}')
    assert main(["generate", "--plan", str(user / "plan.json"), "--out", str(user), "--overwrite"]) == 2
    assert "did not write" in capsys.readouterr().err and "walks" in (user / "plan.json").read_text()
    ours = atomic_directory(tmp_path / "ours", lambda d: (d / "plan.json").write_text(
        '{"stages": [{"text": "a person walks", "seconds": 2}]}'), manifest="motion output")
    assert main(["generate", "--plan", str(ours / "plan.json"), "--out", str(ours), "--overwrite"]) == 2
    assert "lies inside" in capsys.readouterr().err
    assert main(["edit", "slower", "--from", str(ours), "--out", str(ours), "--overwrite"]) == 2
    assert "lies inside" in capsys.readouterr().err and (ours / "plan.json").is_file()


def test_convert_never_replaces_a_file_unless_asked(tmp_path, capsys):
    src = tmp_path / "j.npy"
    np.save(src, np.random.default_rng(0).normal(0, 0.3, (30, 22, 3)).astype(np.float32))
    dst = tmp_path / "mine.npy"
    dst.write_bytes(b"user data")
    assert main(["convert", str(src), str(dst), "--to", "joints"]) == 2
    assert "--overwrite" in capsys.readouterr().err and dst.read_bytes() == b"user data"
    assert main(["convert", str(src), str(dst), "--to", "joints", "--overwrite"]) == 0
    assert np.load(dst).shape == (30, 22, 3)
    (tmp_path / "existing_dir.npy").mkdir()
    assert main(["convert", str(src), str(tmp_path / "existing_dir.npy")]) == 2
    assert "directory" in capsys.readouterr().err
    assert main(["convert", str(src), str(src), "--overwrite"]) == 2 and np.load(src).shape == (30, 22, 3)


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout.strip())


def test_data_build_leaves_a_partial_folder_it_did_not_make(tmp_path, capsys):
    out = tmp_path / "corpus"
    partial = tmp_path / "corpus.partial"
    partial.mkdir()
    (partial / "mine.txt").write_text("mine")
    assert main(["data", "build", "--source", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert "not an unfinished motiongen build" in capsys.readouterr().err and (partial / "mine.txt").is_file()
    (partial / "mine.txt").unlink()
    partial.rmdir()
    target = tmp_path / "elsewhere"
    target.mkdir()
    (target / "keep.txt").write_text("keep")
    partial.symlink_to(target)                                   # was a traceback
    assert main(["data", "build", "--source", str(tmp_path / "none"), "--out", str(out)]) == 2
    assert (target / "keep.txt").is_file()
    partial.unlink()
    partial.mkdir()                                              # our own unfinished build, its writer gone
    (partial / TEMP_MARKER).write_text(json.dumps({"pid": _dead_pid(), "target": "corpus"}))
    main(["data", "build", "--source", str(tmp_path / "none"), "--out", str(out)])
    assert not partial.exists()
    f = tmp_path / "file"
    f.write_text("x")
    assert main(["data", "build", "--source", str(tmp_path), "--out", str(f)]) == 2 and f.read_text() == "x"


def test_temporary_files_carry_the_marker_and_files_are_never_swept(tmp_path):
    from motiongen.io_utils import atomic_write_bytes, remove_stale_temporaries
    dead = _dead_pid()
    users = tmp_path / f".out.npy.tmp-{dead}-notes"
    users.write_text("mine")
    atomic_write_bytes(tmp_path / "out.npy", b"new")
    assert users.read_text() == "mine" and (tmp_path / "out.npy").read_bytes() == b"new"
    ours = tmp_path / f".out.npy.tmp-{dead}-x"
    ours.mkdir()
    (ours / "payload.npy").write_text("half")
    (ours / TEMP_MARKER).write_text(json.dumps({"pid": dead, "target": "out.npy"}))
    assert remove_stale_temporaries(tmp_path / "out.npy") == [ours] and users.exists()
    mine = tmp_path / "mine"
    mine.mkdir()
    mark_temporary(mine, "out.npy")                      # the marker names this (live) process
    assert json.loads((mine / TEMP_MARKER).read_text())["pid"] == os.getpid()


def test_train_out_file_is_a_clear_error(tmp_path, capsys):
    f = tmp_path / "run"
    f.write_text("x")
    (tmp_path / "data").mkdir()
    assert main(["train", "--data", str(tmp_path / "data"), "--out", str(f), "--steps", "1"]) == 2
    assert "--out" in capsys.readouterr().err and f.read_text() == "x"


# ---- remaining tracebacks ---------------------------------------------------------------------------------------

def test_plan_seconds_as_a_huge_integer(tmp_path):
    from motiongen.plan import Plan, PlanError, load_plan
    for huge in (10 ** 400, -(10 ** 400)):
        with pytest.raises(PlanError, match="stage 1: 'seconds'"):
            Plan.from_dict({"stages": [{"text": "walk", "seconds": huge}]})
    f = tmp_path / "p.json"
    f.write_text('{"stages": [{"text": "walk", "seconds": ' + "9" * 5000 + "}]}")
    with pytest.raises(PlanError, match="p.json"):
        load_plan(f)
    assert Plan.from_dict({"stages": [{"text": "walk", "seconds": 2}]}).total_frames() == 40


def test_text_that_is_not_utf8_is_a_clear_error(tmp_path, capsys):
    from motiongen.plan import Plan, PlanError
    assert main(["generate", "a person \udcff walks", "--out", str(tmp_path / "o")]) == 2
    assert "UTF-8" in capsys.readouterr().err
    with pytest.raises(PlanError, match="UTF-8"):
        Plan.from_dict({"stages": [{"text": "walk", "seconds": 1, "parts": {"left_arm": "\ud800"}}]})
    p = tmp_path / "prompts.txt"
    p.write_bytes(b"a person \xff walks#2\n")
    assert main(["generate", "--prompts", str(p), "--out", str(tmp_path / "o2")]) == 2
    assert "prompts.txt" in capsys.readouterr().err


def _model_folder(tmp_path):
    from motiongen.models.pretrained import save_model_dir
    from motiongen.models.registry import build_denoiser
    m = build_denoiser("baseline", latent_dim=16, num_layers=1, num_heads=2, ff_dim=16)
    return save_model_dir(tmp_path / "m", m, np.zeros(263), np.ones(263),
                          {"text_encoder": {"name": "minilm", "dim": 384}})


def test_huge_integers_in_a_model_config(tmp_path):
    from motiongen.models.pretrained import ModelFileError, load_model_dir
    d = _model_folder(tmp_path)
    cfg = json.loads((d / "config.json").read_text())
    cfg["model"]["latent_dim"] = -(10 ** 400)
    (d / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(ModelFileError, match="latent_dim"):
        load_model_dir(d)


def test_malformed_model_folders(tmp_path):
    from motiongen.models.pretrained import ModelFileError, load_model_dir
    d = _model_folder(tmp_path)
    good_std = (d / "std.npy").read_bytes()
    np.savez(d / "std.npz", np.ones(263))
    os.replace(d / "std.npz", d / "std.npy")                         # an .npz saved under the name std.npy
    with pytest.raises(ModelFileError, match="std.npy"):
        load_model_dir(d)
    header = good_std.replace(b"(263,)", b"(10000000000,)")         # declares 10^10 values (37 GiB)
    (d / "std.npy").write_bytes(header)
    # refused from the header, before reading (or allocating) anything: the shape message, not a failed read
    with pytest.raises(ModelFileError, match=r"std\.npy' has shape \(10000000000,\), expected \(263,\)"):
        load_model_dir(d)
    (d / "std.npy").write_bytes(good_std)
    cfg = (d / "config.json").read_text()
    (d / "config.json").write_text(cfg.replace('"format_version"', '"num_timesteps_x": Infinity, "format_version"'))
    with pytest.raises(ModelFileError, match="Infinity"):
        load_model_dir(d)
    (d / "config.json").write_text(cfg.replace('"format_version"', '"big": ' + "9" * 5000 + ', "format_version"'))
    with pytest.raises(ModelFileError, match="config.json"):
        load_model_dir(d)


def test_corrupt_zip_member_and_bad_frame_time(tmp_path):
    from motiongen.motion.bvh import BVHError, parse_bvh, read_bvh

    from test_bvh import GOOD
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("m.bvh", GOOD * 20)
    data = bytearray(z.read_bytes())
    start = 30 + len("m.bvh")
    for i in range(start + 5, start + 60):
        data[i] ^= 0x5A                                             # the deflated bytes, not the headers
    z.write_bytes(bytes(data))
    with pytest.raises(BVHError, match="a.zip::m.bvh"):
        read_bvh(f"{z}::m.bvh")
    with pytest.raises(BVHError, match="x.bvh, line .*Frame Time"):
        parse_bvh(GOOD.replace("Frame Time: 0.05", "Frame Time: ."), "x.bvh")
    with pytest.raises(BVHError, match="x.bvh.*corrupt"):
        parse_bvh(GOOD.replace("Frames: 2", "Frames: " + "9" * 5000), "x.bvh")


def _edit_source(tmp_path, meta: dict, features=(40, 263)):
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    (d / "plan.json").write_text(json.dumps({"stages": [{"text": "walk", "frames": [0, features[0]]}]}))
    np.save(d / "motion.npy", np.zeros(features, np.float32))
    (d / "meta.json").write_text(json.dumps(meta))
    return d


@pytest.mark.parametrize("meta,field", [({"model": "abc"}, "model"), ({"seed": "x"}, "seed"),
                                        ({"seed": -4}, "seed"), ({"steps": "many"}, "steps"),
                                        ({"model": {"dir": 5}}, "model.dir"), ({"sampler": 3}, "sampler"),
                                        ({"seed": True}, "seed")])
def test_edit_from_with_wrong_typed_meta_fields(tmp_path, meta, field):
    from motiongen.edit.editor import EditError, edit
    with pytest.raises(EditError, match=f"'{field}'"):
        edit(_edit_source(tmp_path, meta), "slower")


def test_edit_of_a_motion_of_another_width_and_a_plan_the_instruction_breaks(tmp_path, model_dir):
    from motiongen.edit.editor import EditError, edit
    d = _edit_source(tmp_path, {}, features=(40, 5))
    with pytest.raises(EditError, match="5 features per frame"):
        edit(d, "make everything faster", model=str(model_dir))

    class Breaks:
        name = "test"

        def revise(self, plan, instruction):
            return {"stages": [{"text": "walk", "frames": [10, 5]}]}
    with pytest.raises(EditError, match="instruction 'do it'"):
        edit(_edit_source(tmp_path, {}), "do it", backend=Breaks())
