"""The studio's "on my character": upload a rig once, download any result retargeted onto it."""
import time

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")
from fastapi.testclient import TestClient  # noqa: E402

from conftest import DATA, save_tiny_model  # noqa: E402
from motiongen.motion.bvh import parse_bvh  # noqa: E402
from motiongen.studio.server import create_app  # noqa: E402

OCTET = {"content-type": "application/octet-stream"}       # a rig file is uploaded as its raw bytes

CMU = DATA / "bvh" / "cmu" / "01_01.bvh"


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("studio_character")
    save_tiny_model(root / "tiny")
    return TestClient(create_app([str(root / "tiny")], root / "store"), raise_server_exceptions=False,
                      base_url="http://127.0.0.1:7860")


def _result(client):
    job = client.post("/api/generate", json={"text": "a person walks", "seconds": 2, "steps": 2,
                                             "sampler": "ddim"}).json()["job"]
    for _ in range(600):
        job = client.get(f"/api/jobs/{job['id']}").json()
        if job["status"] not in ("queued", "running"):
            break
        time.sleep(0.05)
    assert job["status"] == "done", job
    return job["result"]


def test_upload_a_rig_once_and_download_results_on_it(client):
    if not CMU.is_file():
        pytest.skip(f"{CMU} not found")
    r = client.post("/api/characters?name=my_rig.bvh", content=CMU.read_bytes(), headers=OCTET)
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["bones"] == 31 and info["mapped"] == 21 and "LHipJoint" in info["at_rest"]
    assert [c["id"] for c in client.get("/api/characters").json()["characters"]] == [info["id"]]
    rid = _result(client)
    bvh = client.get(f"/api/results/{rid}/samples/0/character/{info['id']}.bvh")
    assert bvh.status_code == 200
    parsed = parse_bvh(bvh.text)
    assert parsed.joint_names[:3] == ["Hips", "LHipJoint", "LeftUpLeg"] and parsed.num_frames == 40
    glb = client.get(f"/api/results/{rid}/samples/0/character/{info['id']}.glb")
    assert glb.status_code == 200 and glb.content[:4] == b"glTF"
    # a GLB rig (the one just downloaded) is a character too, and keeps its file
    r2 = client.post("/api/characters?name=rig.glb", content=glb.content, headers=OCTET)
    assert r2.status_code == 201 and r2.json()["bones"] == 31
    again = client.get(f"/api/results/{rid}/samples/0/character/{r2.json()['id']}.glb")
    assert again.status_code == 200 and again.content[:4] == b"glTF"
    # a damaged sample is a clear 404, as for the other downloads, never a 500
    rid2 = _result(client)
    sample = client.app.state.studio.result_dir(rid2) / "sample_000"
    np.save(sample / "joints.npy", np.full((40, 22, 3), np.nan, np.float32))
    bad = client.get(f"/api/results/{rid2}/samples/0/character/{info['id']}.bvh")
    assert bad.status_code == 404 and "damaged" in bad.json()["error"], bad.text
    assert client.get(f"/api/results/{rid}/samples/1000/character/{info['id']}.bvh").status_code == 404


def test_bad_uploads_and_ids_get_one_clear_error(client):
    r = client.post("/api/characters?name=rig.fbx", content=b"x", headers=OCTET)
    assert r.status_code == 422 and r.json()["field"] == "name"
    r = client.post("/api/characters?name=rig.bvh", content=b"HIERARCHY\nROOT Hips\n{\n", headers=OCTET)
    assert r.status_code == 422 and "rig.bvh" in r.json()["error"] and ".upload-" not in r.json()["error"]
    rid = _result(client)
    assert client.get(f"/api/results/{rid}/samples/0/character/0123456789ab.bvh").status_code == 404
    assert client.get(f"/api/results/{rid}/samples/0/character/ZZZ.bvh").status_code == 400     # not an id
    assert client.get(f"/api/results/{rid}/samples/0/character/0123456789ab.fbx").status_code == 400
