import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from motiongen.motion.bvh import BVH_JOINT_NAMES_22, read_bvh, write_bvh
from motiongen.motion.features import recover_joints_from_features
from motiongen.motion.gltf import mannequin, read_glb_joints, write_glb

JS = Path(__file__).resolve().parent / "js"


@pytest.fixture(scope="module")
def walk(real_samples):
    return recover_joints_from_features(real_samples["012314"][0])


def test_glb_reproduces_the_joints_and_agrees_with_the_bvh(walk, tmp_path):
    write_glb(tmp_path / "m.glb", walk)
    pos, names = read_glb_joints(tmp_path / "m.glb")
    assert names == list(BVH_JOINT_NAMES_22)
    assert np.abs(pos - walk).max() < 1e-4                  # each animated joint where our joints are
    write_bvh(tmp_path / "m.bvh", walk)
    bvh_pos, bvh_names = read_bvh(tmp_path / "m.bvh").world_positions()
    bvh_pos = bvh_pos[:, [bvh_names.index(n) for n in BVH_JOINT_NAMES_22]] / 100.0        # cm -> m
    assert np.abs(bvh_pos - pos).max() < 1e-5               # BVH and GLB agree frame by frame


def test_glb_holds_a_skinned_mannequin_and_one_animation(walk, tmp_path):
    import pygltflib
    write_glb(tmp_path / "m.glb", walk, fps=20.0)
    g = pygltflib.GLTF2().load(str(tmp_path / "m.glb"))
    assert len(g.skins) == 1 and len(g.skins[0].joints) == 22 and len(g.animations) == 1
    times = g.accessors[g.animations[0].samplers[0].input]
    assert times.count == len(walk) and times.max[0] == pytest.approx((len(walk) - 1) / 20.0)
    rot = [c for c in g.animations[0].channels if c.target.path == "rotation"]
    assert len(rot) == 22
    prim = g.meshes[0].primitives[0]
    assert prim.attributes.JOINTS_0 is not None and prim.attributes.WEIGHTS_0 is not None
    pos = g.accessors[prim.attributes.POSITION]
    height = pos.max[1] - pos.min[1]
    assert 1.3 < height < 2.2                               # a person-sized figure, Y up, metres


def test_mannequin_weights_are_normalised_and_blend_near_joints(walk):
    from motiongen.motion.bvh import solve_rotations
    from motiongen.skeleton import HUMANML3D
    pose = solve_rotations(walk)
    rest = np.zeros((22, 3))
    for j in range(1, 22):
        rest[j] = rest[HUMANML3D.parents[j]] + pose.rest[j]
    _, _, tri, joints, weights = mannequin(rest, HUMANML3D.parents, BVH_JOINT_NAMES_22)
    assert np.allclose(weights.sum(1), 1.0)
    assert (weights[:, 1] > 0).any() and (weights[:, 1] <= 0.5).all()          # smooth blends, never a flip
    assert tri.max() < len(weights)


@pytest.mark.skipif(shutil.which("node") is None or not (JS / "node_modules" / "gltf-validator").is_dir(),
                    reason="the Khronos validator is not installed (npm ci --prefix tests/js)")
def test_khronos_validator_reports_no_errors(walk, tmp_path):
    write_glb(tmp_path / "m.glb", walk)
    out = subprocess.run(["node", str(JS / "validate.js"), str(tmp_path / "m.glb")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["errors"] == 0 and report["warnings"] == 0, report["messages"]


def test_cli_writes_glb_on_request(walk, tmp_path, capsys):
    from motiongen.cli import main
    np.save(tmp_path / "j.npy", walk.astype(np.float32))
    assert main(["convert", str(tmp_path / "j.npy"), str(tmp_path / "o.glb")]) == 0
    assert read_glb_joints(tmp_path / "o.glb")[0].shape == walk.shape
    from motiongen.export import parse_formats
    assert parse_formats("bvh,glb,npy,mp4") == {"preview": "mp4", "bvh": True, "glb": True}
    with pytest.raises(ValueError, match="unknown format"):
        parse_formats("bvh,fbx")
    with pytest.raises(ValueError, match="joints"):
        write_glb(tmp_path / "bad.glb", walk[:, :21])


@pytest.mark.slow
def test_blender_imports_our_glb_and_every_bone_head_is_where_our_joints_are(walk, tmp_path):
    """Blender's own glTF importer (Debian's blender, headless); Blender is Z up, glTF Y up."""
    from conftest import blender_or_skip
    blender = blender_or_skip(needs_numpy=True)
    write_glb(tmp_path / "m.glb", walk, fps=20.0)
    script = Path(__file__).with_name("blender_read_glb.py")
    import os
    env = {**os.environ, "PATH": "/usr/bin:/bin:" + os.environ.get("PATH", "")}   # Blender's own Python, not ours
    out = subprocess.run([blender, "-b", "--factory-startup", "--python", str(script), "--", str(tmp_path / "m.glb"),
                          str(tmp_path / "out.json"), "20", "all"], capture_output=True, text=True, timeout=600,
                         env=env)
    assert (tmp_path / "out.json").is_file(), out.stdout[-2000:] + out.stderr[-2000:]
    got = json.loads((tmp_path / "out.json").read_text())
    frames = [k for k in got if k != "start"]
    assert len(frames) == len(walk)
    for f in frames:
        heads = np.array([got[f][n] for n in BVH_JOINT_NAMES_22])
        ours = walk[int(f)][:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])
        assert np.abs(heads - ours).max() < 0.01, f
