"""The Blender add-on: the zip `motiongen blender-addon` writes, its registration (against a stand-in bpy), and in
the slow suite the real thing in Debian's blender, headless."""
import json
import os
import shutil
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA
from motiongen.cli import main


def _fake_bpy():
    """Just enough of bpy for the module to import and register: records what is registered."""
    bpy = types.ModuleType("bpy")
    registered = []

    class _Base:
        pass
    bpy.types = types.SimpleNamespace(Operator=type("Operator", (_Base,), {}), Panel=type("Panel", (_Base,), {}),
                                      PropertyGroup=type("PropertyGroup", (_Base,), {}), Scene=type("Scene", (), {}))

    def prop(kind):
        return lambda **kw: (kind, kw)
    bpy.props = types.SimpleNamespace(**{n: prop(n) for n in ("StringProperty", "FloatProperty", "IntProperty",
                                                              "PointerProperty")})
    bpy.utils = types.SimpleNamespace(register_class=registered.append,
                                      unregister_class=lambda c: registered.remove(c))
    return bpy, registered


def test_addon_zip_installs_as_a_package_and_registers(tmp_path, monkeypatch):
    assert main(["blender-addon", "--out", str(tmp_path / "motiongen_blender.zip")]) == 0
    with zipfile.ZipFile(tmp_path / "motiongen_blender.zip") as zf:
        assert zf.namelist() == ["motiongen_blender/__init__.py"]
        source = zf.read("motiongen_blender/__init__.py").decode()
    compile(source, "motiongen_blender/__init__.py", "exec")
    bpy, registered = _fake_bpy()
    monkeypatch.setitem(sys.modules, "bpy", bpy)
    module = types.ModuleType("motiongen_blender")
    exec(compile(source, "motiongen_blender/__init__.py", "exec"), module.__dict__)
    assert module.bl_info["blender"] >= (3, 0, 0)
    module.register()
    ops = {getattr(c, "bl_idname", None): c for c in registered}
    op = ops["motiongen.generate"]
    assert {"text", "seconds", "seed", "model"} <= set(op.__annotations__)
    assert "MOTIONGEN_PT_panel" in ops and bpy.types.Scene.motiongen[0] == "PointerProperty"
    module.unregister()
    assert registered == [] and not hasattr(bpy.types.Scene, "motiongen")
    assert main(["blender-addon", "--out", str(tmp_path / "addon.tar")]) == 2
    mine = tmp_path / "thesis.zip"                       # a zip of the user's is never replaced unasked
    mine.write_bytes(b"PK\x05\x06" + bytes(18))
    assert main(["blender-addon", "--out", str(mine)]) == 2 and mine.read_bytes() == b"PK\x05\x06" + bytes(18)
    assert main(["blender-addon", "--out", str(mine), "--overwrite"]) == 0 and zipfile.is_zipfile(mine)


@pytest.mark.slow
def test_blender_addon_generates_onto_a_new_and_onto_the_users_armature(tmp_path):
    """Debian's blender 3.x, headless: the add-on installed from its zip; bpy.ops.motiongen.generate with nothing
    selected makes a new armature, and on an armature (CMU's rig, in its rest pose) a new action whose every bone
    is where `motiongen retarget` puts it."""
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("Blender is not installed (apt-get install blender python3-numpy)")
    cmu = DATA / "bvh" / "cmu" / "01_01.bvh"
    if not cmu.is_file():
        pytest.skip(f"{cmu} not found")
    src = Path(__file__).resolve().parents[1] / "src"
    command = tmp_path / "motiongen.sh"           # this checkout's motiongen, run by the test's own Python
    command.write_text(f"#!/bin/sh\nOMP_NUM_THREADS=1 PYTHONPATH={src} exec {sys.executable} -m motiongen.cli \"$@\"\n")
    command.chmod(0o755)
    assert main(["blender-addon", "--out", str(tmp_path / "motiongen_blender.zip")]) == 0
    env = {**os.environ, "PATH": "/usr/bin:/bin:" + os.environ.get("PATH", ""),
           "BLENDER_USER_CONFIG": str(tmp_path / "config"), "BLENDER_USER_SCRIPTS": str(tmp_path / "scripts")}
    run = subprocess.run([blender, "-b", "--factory-startup", "--python-exit-code", "1", "--python",
                          str(Path(__file__).with_name("blender_addon_run.py")), "--",
                          str(tmp_path / "motiongen_blender.zip"), str(command), str(tmp_path / "out.json"), str(cmu)],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    got = json.loads((tmp_path / "out.json").read_text())
    new, mine = got["new"], got["character"]
    assert new["armature"] == "motiongen" and new["bones"] == 22 and new["action"].startswith("motiongen: a person")
    assert mine["armature"] == "my_character" and mine["bones"] == 31 and mine["action"].startswith("motiongen: ")
    joints = np.load(Path(new["output"]) / "joints.npy").astype(np.float64)
    assert new["frames"] == [1, len(joints)] and mine["frames"] == [1, len(joints)]
    from motiongen.motion.bvh import BVH_JOINT_NAMES_22
    heads = np.array([[h[n] for n in BVH_JOINT_NAMES_22] for h in new["heads"]])
    assert np.abs(heads - joints[..., [0, 2, 1]] * [1, -1, 1]).max() < 0.01      # Blender is Z up
    from motiongen.motion.character import read_character, retarget_to_character
    ch = read_character(cmu)
    res = retarget_to_character(np.load(Path(mine["output"]) / "joints.npy").astype(np.float64), 20.0, ch)
    heads = np.array([[h[n] for n in ch.names] for h in mine["heads"]])
    assert np.abs(heads - res.world[..., [0, 2, 1]] * [1, -1, 1]).max() < 0.01


def test_addon_generates_through_a_running_studio(tmp_path, monkeypatch):
    """The add-on's server path against a real `motiongen serve` (a tiny random model), over HTTP."""
    import socket
    import threading

    import torch
    uvicorn = pytest.importorskip("uvicorn")
    from motiongen.models.registry import build_denoiser
    from motiongen.pipeline import MotionPipeline
    from motiongen.studio.server import create_app
    from motiongen.text.encoders import load_text_encoder
    torch.manual_seed(0)
    MotionPipeline(build_denoiser("baseline", latent_dim=32, num_layers=2, num_heads=2, ff_dim=64, max_frames=200),
                   load_text_encoder("minilm"), np.zeros(263, np.float32), np.ones(263, np.float32),
                   {"skeleton": "humanml3d"}).save_pretrained(tmp_path / "tiny")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app([str(tmp_path / "tiny")], tmp_path / "store"), host="127.0.0.1",
                                        port=port, log_level="warning"))
    th = threading.Thread(target=srv.run, daemon=True)
    th.start()
    try:
        for _ in range(2000):
            if srv.started:
                break
            th.join(0.01)
        bpy, _ = _fake_bpy()
        monkeypatch.setitem(sys.modules, "bpy", bpy)
        from motiongen.blender_addon.package import addon_source
        module = types.ModuleType("motiongen_blender")
        exec(compile(addon_source(), "motiongen_blender", "exec"), module.__dict__)
        url = f"http://127.0.0.1:{port}"
        out = module._generate_by_server(url, "a person walks", 2.0, 3, "", str(tmp_path / "motion"))
        assert out == str(tmp_path / "motion")
        assert np.load(tmp_path / "motion" / "joints.npy").shape == (40, 22, 3)
        from motiongen.motion.bvh import read_bvh
        assert read_bvh(tmp_path / "motion" / "motion.bvh").num_frames == 40
        with pytest.raises(RuntimeError, match="the server refused: model"):
            module._generate_by_server(url, "a person walks", 2.0, 3, "no-such-model", str(tmp_path / "m2"))
        assert module._generate_by_server("http://127.0.0.1:9", "x", 2.0, 0, "", str(tmp_path / "m3")) is None
    finally:
        srv.should_exit = True
        th.join(30)
