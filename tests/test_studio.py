"""motiongen studio's JSON API through an in-process client: every endpoint, the limits, bad bodies, the queue,
cancellation, editing, path traversal and a restart."""
import io
import json
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import save_tiny_model  # noqa: E402
from motiongen.motion.bvh import read_bvh  # noqa: E402
from motiongen.studio.server import Limits, create_app  # noqa: E402


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_tiny_model(tmp_path_factory.mktemp("studio") / "tiny")


def _client(model_dir, store, **limits):
    app = create_app([str(model_dir)], store, limits=Limits(**limits) if limits else None)
    return TestClient(app, base_url="http://127.0.0.1:7860", raise_server_exceptions=False), app.state.studio


def _wait(client, job_id, timeout_steps=600):
    for _ in range(timeout_steps):                      # a bounded number of polls, not a wall-clock budget
        job = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] not in ("queued", "running"):
            return job
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_generate_list_fetch_download_and_restart(model_dir, tmp_path):
    client, _ = _client(model_dir, tmp_path / "store")
    models = client.get("/api/models").json()
    assert models["default"] == "tiny" and models["models"][0]["max_seconds"] == 10.0
    r = client.post("/api/generate", json={"text": "a person walks", "seconds": 2, "samples": 2, "steps": 4,
                                           "sampler": "ddim", "seed": 3})
    assert r.status_code == 202
    job = _wait(client, r.json()["job"]["id"])
    assert job["status"] == "done" and job["total"] == 4 and job["step"] == 4
    rid = job["result"]
    listed = client.get("/api/results").json()["results"]
    assert [x["id"] for x in listed] == [rid] and listed[0]["samples"] == 2 and listed[0]["seed"] == 3
    res = client.get(f"/api/results/{rid}").json()
    assert len(res["sample_data"]) == 2 and np.array(res["sample_data"][1]["joints"]).shape == (40, 22, 3)
    bvh = client.get(f"/api/results/{rid}/samples/0/bvh")
    assert bvh.status_code == 200
    (tmp_path / "x.bvh").write_bytes(bvh.content)
    assert read_bvh(tmp_path / "x.bvh").num_frames == 40
    for fmt, shape in (("joints", (40, 22, 3)), ("features", (40, 263))):
        arr = np.load(io.BytesIO(client.get(f"/api/results/{rid}/samples/1/{fmt}").content))
        assert arr.shape == shape
    assert client.get(f"/api/results/{rid}/samples/0/glb").content[:4] == b"glTF"
    assert json.loads(client.get(f"/api/results/{rid}/samples/0/plan").content)["stages"][0]["frames"] == [0, 40]
    mp4 = client.get(f"/api/results/{rid}/samples/0/mp4")
    assert mp4.status_code == 200 and mp4.content[4:8] == b"ftyp"
    # a restart over the same store lists the result again
    client2, _ = _client(model_dir, tmp_path / "store")
    assert [x["id"] for x in client2.get("/api/results").json()["results"]] == [rid]
    assert client2.get(f"/api/results/{rid}").status_code == 200


@pytest.mark.parametrize("body,status,field", [
    ({"text": "x" * 1001}, 422, "text"),
    ({"text": "   "}, 422, "text"),
    ({"text": "walk", "seconds": 30}, 422, "seconds"),
    ({"text": "walk", "seconds": 0.1}, 422, "seconds"),
    ({"text": "walk", "samples": 9}, 422, "samples"),
    ({"text": "walk", "steps": 5000}, 422, "steps"),
    ({"text": "walk", "sampler": "euler"}, 422, "sampler"),
    ({"text": "walk", "colour": "red"}, 422, "colour"),
    ({}, 422, "text"),
    ({"text": "walk", "plan": {"stages": []}}, 422, "text"),
    ({"plan": {"stages": [{"text": "walk"}]}}, 422, "plan"),
    ({"plan": {"stages": [{"text": "walk", "seconds": 60}]}}, 422, "plan"),
    ({"text": "walk", "model": "nope"}, 422, "model"),
    ({"text": "walk", "seed": -1}, 422, "seed"),
])
def test_bad_bodies_get_4xx_naming_the_field(model_dir, tmp_path, body, status, field):
    client, _ = _client(model_dir, tmp_path)
    r = client.post("/api/generate", json=body)
    assert r.status_code == status, r.text
    assert r.json()["field"].split(".")[0] == field and field in r.json()["error"]


def test_malformed_and_oversized_bodies(model_dir, tmp_path):
    client, _ = _client(model_dir, tmp_path, max_body_bytes=2000)
    r = client.post("/api/generate", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422 and "error" in r.json()
    r = client.post("/api/generate", json={"text": "walk " * 1000})
    assert r.status_code == 413 and r.json()["field"] == "body"
    r = client.post("/api/generate", content=b"[1, 2]", headers={"content-type": "application/json"})
    assert r.status_code == 422


def test_full_queue_is_429_and_queued_jobs_can_be_cancelled(model_dir, tmp_path):
    client, studio = _client(model_dir, tmp_path, queue_size=2)
    studio.open.clear()                                  # the worker holds off: jobs stay queued
    a = client.post("/api/generate", json={"text": "walk", "steps": 2}).json()["job"]["id"]
    b = client.post("/api/generate", json={"text": "walk", "steps": 2}).json()["job"]["id"]
    full = client.post("/api/generate", json={"text": "walk", "steps": 2})
    assert full.status_code == 429 and "queue is full" in full.json()["error"]
    assert client.post(f"/api/jobs/{a}/cancel").json()["status"] == "cancelled"
    studio.open.set()
    assert _wait(client, b)["status"] == "done"
    assert client.get(f"/api/jobs/{a}").json()["status"] == "cancelled"
    assert len(client.get("/api/results").json()["results"]) == 1


def test_a_running_job_can_be_cancelled(model_dir, tmp_path):
    client, _ = _client(model_dir, tmp_path)
    jid = client.post("/api/generate", json={"text": "walk", "sampler": "ddpm", "steps": 1000}).json()["job"]["id"]
    for _ in range(2000):
        job = client.get(f"/api/jobs/{jid}").json()
        if job["status"] == "running" and job["step"] > 0:
            break
        time.sleep(0.01)
    assert client.post(f"/api/jobs/{jid}/cancel").status_code == 200
    job = _wait(client, jid)
    assert job["status"] == "cancelled" and job["step"] < 1000
    assert client.get("/api/results").json()["results"] == []


def test_edit_makes_a_child_with_its_parent_and_plan_diff(model_dir, tmp_path):
    client, _ = _client(model_dir, tmp_path)
    plan = {"stages": [{"text": "a person walks", "seconds": 2}, {"text": "a person waves", "seconds": 2}]}
    parent = _wait(client, client.post("/api/generate", json={"plan": plan, "steps": 3}).json()["job"]["id"])["result"]
    r = client.post("/api/edit", json={"parent": parent, "instruction": "make the second stage slower"})
    assert r.status_code == 202
    job = _wait(client, r.json()["job"]["id"])
    assert job["status"] == "done", job
    child = client.get(f"/api/results/{job['result']}").json()
    assert child["parent"] == parent and child["plan_diff"] and child["frames"] > 80
    hist = {x["id"]: x for x in client.get("/api/results").json()["results"]}
    assert hist[job["result"]]["parent"] == parent
    bad = client.post("/api/edit", json={"parent": parent, "instruction": "do a backflip into orbit"})
    assert _wait(client, bad.json()["job"]["id"])["status"] == "failed"
    assert client.post("/api/edit", json={"parent": "missing-id", "instruction": "x"}).status_code == 404
    assert client.post("/api/edit", json={"parent": parent, "instruction": " "}).status_code == 422


@pytest.mark.parametrize("path,status", [
    ("/api/results/..%2F..%2Fetc", 404),
    ("/api/results/%2e%2e", 400),
    ("/api/results/..", 404),
    ("/api/results/a.b", 400),
    ("/api/results/UPPER", 400),
    ("/api/results/abc/samples/0/bvh", 404),
    ("/api/jobs/nope", 404),
    ("/api/results/abc/samples/0/../../x", 404),
])
def test_ids_are_validated(model_dir, tmp_path, path, status):
    client, _ = _client(model_dir, tmp_path)
    r = client.get(path)
    assert r.status_code == status and "error" in r.json()


def test_unknown_download_format_and_sample(model_dir, tmp_path):
    client, _ = _client(model_dir, tmp_path)
    rid = _wait(client, client.post("/api/generate", json={"text": "walk", "steps": 2}).json()["job"]["id"])["result"]
    r = client.get(f"/api/results/{rid}/samples/0/exe")
    assert r.status_code == 400 and r.json()["field"] == "format"
    assert client.get(f"/api/results/{rid}/samples/5/bvh").status_code == 404


def test_page_openapi_and_vendored_three_are_served(model_dir, tmp_path):
    client, _ = _client(model_dir, tmp_path)
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text and "http" not in page.text.split(
        "<body>")[0].replace("http-equiv", "")
    assert client.get("/static/vendor/three/three.module.js").status_code == 200
    assert "MIT" in client.get("/static/vendor/three/LICENSE").text
    spec = client.get("/openapi.json").json()
    assert {"/api/generate", "/api/edit", "/api/results", "/api/jobs/{job_id}"} <= set(spec["paths"])


def test_a_request_the_model_has_not_learned_is_generated_with_a_warning(model_dir, tmp_path):
    import shutil

    from motiongen.known_actions import KnownActions, write_known_actions
    known_dir = tmp_path / "knows"
    shutil.copytree(model_dir, known_dir)
    write_known_actions(known_dir, KnownActions({"walk": ["a person walks forward."],
                                                 "wave": ["a person waves the right hand."]}))
    client, _ = _client(known_dir, tmp_path / "store")
    sit = _wait(client, client.post("/api/generate", json={"text": "a person sits down on a chair", "seconds": 1,
                                                           "steps": 2}).json()["job"]["id"])
    assert sit["status"] == "done"
    res = client.get(f"/api/results/{sit['result']}").json()
    assert "has not learned" in res["warning"] and "nearest actions it knows: " in res["warning"]
    assert len(res["sample_data"]) == 1                      # generated all the same
    walk = _wait(client, client.post("/api/generate", json={"text": "a person walks forward", "seconds": 1,
                                                            "steps": 2}).json()["job"]["id"])
    assert "warning" not in client.get(f"/api/results/{walk['result']}").json()
