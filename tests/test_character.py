"""Retargeting onto the user's own character (motiongen.motion.character), with real rigs as the characters."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from conftest import DATA
from motiongen.motion.bvh import BVH_JOINT_NAMES_22, read_bvh, write_bvh
from motiongen.motion.character import (CharacterError, read_character, retarget_to_character, write_character_bvh,
                                        write_character_glb)
from motiongen.motion.cleanup import detect_contacts

JS = Path(__file__).resolve().parent / "js"
EXTRA = DATA / "extra-mocap"
RIGS = {   # name: (character file, the preset that must be detected, how many of our 22 joints must be mapped)
    "bandai": (f"{DATA}/bvh/bandai-namco/dataset-1/data.zip::data/dataset-1_bow_active_001.bvh", "bandai", 21),
    "cmu": (f"{DATA}/bvh/cmu/01_01.bvh", "cmu", 21),
    "iclone": (f"{DATA}/bvh/cmu-iclone/001_01.bvh", "iclone", 22),
    "snu": (f"{EXTRA}/snu-martial-arts/data.zip::mrl.motion.critical/data/martial_arts_compact/motion/16_08_1.bvh",
            "snu", 22),
    "m21": (f"{EXTRA}/m21-style/data.zip::m21_data/content/box-1.bvh", "m21", 21),
}


@pytest.fixture(scope="module")
def walk(real_samples):
    return real_samples["012314"][1].astype(np.float64)          # a real HumanML3D walk, joints (T, 22, 3)


def _rig(name):
    path = RIGS[name][0]
    if not Path(path.split("::")[0]).is_file():
        pytest.skip(f"{path} not found")
    return path


def _slide(joints, contacts, fps=20.0, which=(0, 1, 2, 3)):
    """Mean horizontal speed (m/s) of the ankles and toes (contact channels ``which``) during the (T, 4) contacts."""
    out = []
    for c, j in enumerate((7, 10, 8, 11)):
        if c not in which:
            continue
        v = np.linalg.norm(np.diff(joints[:, j][:, [0, 2]], axis=0), axis=-1) * fps
        out.append(v[contacts[1:, c]])
    return float(np.concatenate(out).mean())


@pytest.mark.parametrize("name", list(RIGS))
def test_real_rig_as_character(name, walk, tmp_path):
    ch = read_character(_rig(name))
    res = retarget_to_character(walk, 20.0, ch)
    assert res.how == f"preset {RIGS[name][1]!r}" and len(res.mapping) >= RIGS[name][2]
    write_character_bvh(tmp_path / "c.bvh", res)
    back = read_bvh(tmp_path / "c.bvh")
    # the character's own skeleton: names, hierarchy and offsets
    assert back.joint_names == ch.names and back.parents == ch.parents
    assert np.allclose(back.offsets[1:], ch.offsets[1:], atol=1e-5)
    pos, _ = back.world_positions()
    assert np.abs(pos * ch.base_scale - res.world).max() < 1e-4      # what our reader sees is what was solved
    ours = res.points()
    # every mapped end effector follows the source's direction and timing (relative to the pelvis)
    for k in (7, 8, 15, 20, 21):
        if k not in res.mapping:
            continue
        a, b = walk[:, k] - walk[:, 0], ours[:, k] - ours[:, 0]
        for axis in range(3):
            if a[:, axis].std() > 0.03:
                assert np.corrcoef(a[:, axis], b[:, axis])[0, 1] > 0.9, (k, axis)
    # the feet slide no more than the source's during its contacts (in the source's scale), ankles and toes each,
    # and less than without the leg IK (the first step of a contact and the toes of a flat foot slid more: #32)
    contacts = detect_contacts(walk, fps=20.0)
    for which in ((0, 2), (1, 3)):
        assert _slide(ours, contacts, which=which) / res.scale <= (1 + 1e-6) * _slide(walk, contacts, which=which)
    free = retarget_to_character(walk, 20.0, ch, plant_feet=False).points()
    assert _slide(ours, contacts) < _slide(free, contacts)
    # on the floor: the lowest foot point is where the source's is (scaled)
    feet = [res.mapping[k] for k in (7, 8, 10, 11) if k in res.mapping]
    assert abs(res.world[:, feet, 1].min() - res.scale * walk[:, [7, 8, 10, 11], 1].min()) < 0.03


def test_m21_rig_is_detected_with_its_wrists_extended(walk):
    """m21's Hand joint is CMU's (the start of the lower forearm): its preset, not CMU's, and its ``extend``."""
    ch = read_character(_rig("m21"))
    res = retarget_to_character(walk, 20.0, ch)
    assert res.how == "preset 'm21'" and res.extend == {20: 1.5, 21: 1.5}
    pts = res.points()
    for wrist, elbow, hand in ((20, 18, "LeftHand"), (21, 19, "RightHand")):
        on_hand = res.world[:, ch.names.index(hand)]
        assert np.allclose(pts[:, wrist], pts[:, elbow] + 1.5 * (on_hand - pts[:, elbow]))
    # the extended wrist makes a forearm of the source's proportion (scaled), the Hand joint a much shorter one
    source = res.scale * np.median(np.linalg.norm(walk[:, 21] - walk[:, 19], axis=-1))
    extended = np.median(np.linalg.norm(pts[:, 21] - pts[:, 19], axis=-1))
    hand = np.median(np.linalg.norm(res.world[:, ch.names.index("RightHand")] - pts[:, 19], axis=-1))
    assert abs(extended / source - 1) < 0.2 < abs(hand / source - 1), (source, extended, hand)


def test_round_trip_onto_our_own_skeleton(walk, tmp_path):
    write_bvh(tmp_path / "ours.bvh", walk)
    ch = read_character(tmp_path / "ours.bvh")
    for plant, tol_max, tol_mean in ((False, 1e-3, 1e-4), (True, 1e-3, 1e-4)):
        res = retarget_to_character(walk, 20.0, ch, plant_feet=plant)
        assert res.unmapped == [] and abs(res.scale - 1) < 0.01
        write_character_bvh(tmp_path / "back.bvh", res)
        pos, names = read_bvh(tmp_path / "back.bvh").world_positions()
        pos = pos[:, [names.index(n) for n in BVH_JOINT_NAMES_22]] * ch.base_scale
        err = np.linalg.norm(pos - walk, axis=-1)
        assert err.max() < tol_max and err.mean() < tol_mean, (plant, err.max(), err.mean())
        # on its own skeleton the leg IK holds each ankle where the source's is: nothing to correct


def _bone_cosines(res, walk):
    """Cosine between each mapped bone (our parent -> child, both mapped) and the source's bone, every frame."""
    from motiongen.skeleton import HUMANML3D
    out = []
    for c, k in enumerate(HUMANML3D.parents):
        if k >= 0 and c in res.mapping and k in res.mapping:
            u = walk[:, c] - walk[:, k]
            v = res.world[:, res.mapping[c]] - res.world[:, res.mapping[k]]
            if np.linalg.norm(v, axis=-1).min() < 1e-3:      # a zero-length bone (CMU's clavicle joint on the spine)
                continue
            out.append((u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.maximum(np.linalg.norm(v, axis=-1), 1e-9))
    return np.concatenate(out)


def test_rest_pose_does_not_matter_t_pose_or_a_pose(walk):
    """CMU's zero pose is a T-pose; the same rig with its arms lowered 45 degrees in its rest is an A-pose (and its
    first frame is yet another rest). Whatever the rest, the mapped bones point where the source's do."""
    from scipy.spatial.transform import Rotation
    path = _rig("cmu")
    a_pose = read_character(path)
    for side, sign in (("Left", -1), ("Right", 1)):
        a_pose.rest_local[a_pose.names.index(f"{side}Arm")] = Rotation.from_euler("z", sign * 45, degrees=True).as_matrix()
    t_pos, a_pos = read_character(path).rest_world()[0], a_pose.rest_world()[0]
    arm = a_pose.names.index("LeftForeArm"), a_pose.names.index("LeftHand")
    dt, da = t_pos[arm[1]] - t_pos[arm[0]], a_pos[arm[1]] - a_pos[arm[0]]
    assert np.degrees(np.arccos(dt @ da / np.linalg.norm(dt) / np.linalg.norm(da))) > 40     # two different rests
    worlds = []
    for ch in (read_character(path), a_pose, read_character(path, rest="first-frame")):
        res = retarget_to_character(walk, 20.0, ch, plant_feet=False)
        cos = _bone_cosines(res, walk)
        assert np.median(cos) > 0.999 and cos.min() > 0.9
        worlds.append(res.world[:, [res.mapping[k] for k in sorted(res.mapping)]])
    assert np.abs(worlds[1] - worlds[0]).max() < 1e-6          # the T-pose and A-pose rigs move identically


def test_user_map_and_clear_errors(walk, tmp_path):
    write_bvh(tmp_path / "ours.bvh", walk)
    text = (tmp_path / "ours.bvh").read_text()
    for old, new in (("LeftUpLeg", "thighL"), ("RightUpLeg", "thighR")):
        text = text.replace(f"JOINT {old}\n", f"JOINT {new}\n")
    (tmp_path / "odd.bvh").write_text(text)
    ch = read_character(tmp_path / "odd.bvh", units="cm")
    with pytest.raises(CharacterError, match="left_hip"):
        retarget_to_character(walk, 20.0, ch)
    (tmp_path / "map.json").write_text(json.dumps({"left_hip": "thighL", "RightUpLeg": "thighR"}))
    with pytest.raises(CharacterError, match="could not map"):       # a user map is the whole map
        retarget_to_character(walk, 20.0, ch, tmp_path / "map.json")
    full = {n: n for n in BVH_JOINT_NAMES_22} | {"LeftUpLeg": "thighL", "RightUpLeg": "thighR"}
    res = retarget_to_character(walk, 20.0, ch, full)
    assert res.how == "user map" and len(res.mapping) == 22
    with pytest.raises(CharacterError, match="no bone named 'nope'"):
        retarget_to_character(walk, 20.0, ch, {**full, "head": "nope"})
    from motiongen.cli import main
    (tmp_path / "bad.json").write_text("{")
    assert main(["retarget", str(tmp_path / "ours.bvh"), "--to", str(tmp_path / "odd.bvh"), "--map",
                 str(tmp_path / "bad.json"), "--out", str(tmp_path / "o.bvh")]) == 2
    assert not (tmp_path / "o.bvh").exists()


def test_gltf_character_keeps_its_file_and_gets_the_motion(walk, tmp_path):
    import pygltflib

    from motiongen.motion.gltf import read_glb_joints
    # a GLB rig of the CMU skeleton (our mannequin skinned to it) stands in for a user's GLB character
    res = retarget_to_character(walk[:40], 20.0, read_character(_rig("cmu")))
    write_character_glb(tmp_path / "rig.glb", res, name="rig")
    ch = read_character(tmp_path / "rig.glb")
    assert ch.kind == "gltf" and ch.num_joints == 31
    out = retarget_to_character(walk, 20.0, ch)
    write_character_glb(tmp_path / "out.glb", out, name="walk")
    g = pygltflib.GLTF2().load(str(tmp_path / "out.glb"))
    assert [a.name for a in g.animations] == ["walk", "rig"]            # ours first, the rig's own kept
    assert len(g.meshes) == 1 and len(g.skins[0].joints) == 31
    pos, names = read_glb_joints(tmp_path / "out.glb")
    order = [names.index(n) for n in ch.names]
    assert np.abs(pos[:, order] - out.world).max() < 1e-4
    if shutil.which("node") and (JS / "node_modules" / "gltf-validator").is_dir():
        for f in ("rig.glb", "out.glb"):
            rep = subprocess.run(["node", str(JS / "validate.js"), str(tmp_path / f)], capture_output=True,
                                 text=True)
            report = json.loads(rep.stdout)
            assert report["errors"] == 0 and report["warnings"] == 0, report["messages"]


def test_cli_retarget_from_an_output_folder_and_generate_writes_character_files(walk, tmp_path, capsys):
    from types import SimpleNamespace

    from motiongen.cli import main
    from motiongen.export import write_outputs
    from motiongen.motion.features import joints_to_features
    feats, _ = joints_to_features(walk)
    motion = SimpleNamespace(features=feats, joints=walk[:len(feats)], fps=20.0, text="a person walks", meta={},
                             plan=None, num_frames=len(feats), seed=0)
    [d] = write_outputs(tmp_path / "out", [motion], preview="none", character=read_character(_rig("cmu")))
    meta = json.loads((d / "meta.json").read_text())
    assert meta["files"]["character_bvh"] == "character.bvh"
    assert "left at rest (10): LHipJoint" in meta["character"]["notes"][1]
    assert read_bvh(d / "character.bvh").num_joints == 31
    assert main(["retarget", str(d), "--to", _rig("bandai"), "--out", str(tmp_path / "b.glb")]) == 0
    printed = capsys.readouterr().out
    assert "mapped by preset 'bandai'" in printed and "left at rest (1): joint_Root" in printed
    assert (tmp_path / "b.glb").stat().st_size > 1000
    assert main(["retarget", str(d), "--to", _rig("bandai"), "--out", str(tmp_path / "b.fbx")]) == 2
    # an existing file is the user's: refused without --overwrite, and the character itself never replaced
    before = (tmp_path / "b.glb").read_bytes()
    assert main(["retarget", str(d), "--to", _rig("bandai"), "--out", str(tmp_path / "b.glb")]) == 2
    assert "exists; choose another name or pass --overwrite" in capsys.readouterr().err
    assert (tmp_path / "b.glb").read_bytes() == before
    assert main(["retarget", str(d), "--to", _rig("bandai"), "--out", str(tmp_path / "b.glb"), "--overwrite"]) == 0
    rig = tmp_path / "rig.bvh"
    rig.write_bytes((d / "character.bvh").read_bytes())
    assert main(["retarget", str(d), "--to", str(rig), "--out", str(rig), "--overwrite"]) == 2
    assert "is an input of this command" in capsys.readouterr().err
    assert rig.read_bytes() == (d / "character.bvh").read_bytes()


@pytest.mark.slow
def test_blender_imports_the_retargeted_character(walk, tmp_path):
    """Debian's blender, headless: its BVH importer puts every bone head of the Bandai character where we solved."""
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("Blender is not installed (apt-get install blender python3-numpy)")
    ch = read_character(_rig("bandai"))
    res = retarget_to_character(walk, 20.0, ch)
    write_character_bvh(tmp_path / "c.bvh", res)
    frames = [0, 60, 120]
    env = {**os.environ, "PATH": "/usr/bin:/bin:" + os.environ.get("PATH", "")}
    subprocess.run([blender, "-b", "--factory-startup", "--python", str(Path(__file__).with_name("blender_read_bvh.py")),
                    "--", str(tmp_path / "c.bvh"), str(tmp_path / "out.json"), *map(str, frames)], check=True,
                   capture_output=True, timeout=300, env=env)
    got = json.loads((tmp_path / "out.json").read_text())
    for f in frames:
        heads = np.array([got[str(f)][n] for n in ch.names])
        ours = res.world[f][:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])
        assert np.abs(heads - ours).max() < 0.01, f


@pytest.mark.slow
def test_generate_with_character_writes_it_and_a_bad_one_fails_first(tmp_path, capsys):
    from conftest import save_tiny_model

    from motiongen.cli import main
    save_tiny_model(tmp_path / "tiny")
    common = ["generate", "a person walks", "--model", str(tmp_path / "tiny"), "--steps", "2", "--sampler", "ddim",
              "--seconds", "2", "--preview", "none", "--quiet", "--threads", "1"]
    (tmp_path / "rig.bvh").write_text("HIERARCHY\nROOT Hips\n{\n")
    assert main(common + ["--character", str(tmp_path / "rig.bvh"), "--out", str(tmp_path / "bad")]) == 2
    assert "rig.bvh" in capsys.readouterr().err and not (tmp_path / "bad").exists()
    assert main(common + ["--character", _rig("cmu"), "--formats", "bvh,glb,npy", "--out", str(tmp_path / "o")]) == 0
    assert "left at rest (10): LHipJoint" in capsys.readouterr().out
    assert read_bvh(tmp_path / "o" / "character.bvh").num_joints == 31
    assert (tmp_path / "o" / "character.glb").read_bytes()[:4] == b"glTF"


def test_gltf_character_under_a_scaled_armature_node_and_its_first_frame_rest(walk, tmp_path):
    """As FBX conversions write them: the skeleton under an "Armature" node scaled 0.01, turned, the joints in cm.
    The same rig in the same place must move the same; its first animation frame can be its rest too."""
    import pygltflib
    from scipy.spatial.transform import Rotation
    res = retarget_to_character(walk[:40], 20.0, read_character(_rig("bandai")))
    write_character_glb(tmp_path / "rig.glb", res, name="rig")
    g = pygltflib.GLTF2().load(str(tmp_path / "rig.glb"))
    skin_joints = set(g.skins[0].joints)
    root = g.skins[0].skeleton
    turn = Rotation.from_euler("y", 90, degrees=True)
    for n in skin_joints:                      # joints in cm; the root also turned back by the armature's turn
        node = g.nodes[n]
        node.translation = [100 * v for v in node.translation]
        if n == root:
            node.translation = list(turn.inv().apply(node.translation))
            node.rotation = list((turn.inv() * Rotation.from_quat(node.rotation)).as_quat())
    g.animations = []
    g.nodes.append(pygltflib.Node(name="Armature", children=[root], scale=[0.01] * 3,
                                  rotation=list(turn.as_quat())))
    g.scenes[0].nodes = [len(g.nodes) - 1 if n == root else n for n in g.scenes[0].nodes]
    g.save(str(tmp_path / "armature.glb"))
    plain, wrapped = read_character(tmp_path / "rig.glb"), read_character(tmp_path / "armature.glb")
    assert abs(wrapped.base_scale - 0.01) < 1e-9
    assert np.abs(wrapped.rest_world()[0] - plain.rest_world()[0]).max() < 1e-5
    a, b = retarget_to_character(walk, 20.0, plain), retarget_to_character(walk, 20.0, wrapped)
    assert np.abs(a.world - b.world).max() < 1e-5
    write_character_glb(tmp_path / "out.glb", b)
    from motiongen.motion.character import _accessor
    out = pygltflib.GLTF2().load(str(tmp_path / "out.glb"))
    ch = [c for c in out.animations[0].channels if c.target.node == root and c.target.path == "translation"][0]
    tr = _accessor(out, out.animations[0].samplers[ch.sampler].output)
    world = turn.apply(tr * 0.01)                            # through the armature node
    assert np.abs(world - b.world[:, b.character.names.index(g.nodes[root].name)]).max() < 1e-4
    # its first animation frame as the rest: the rig's own walk starts elsewhere, but bones still follow ours
    first = read_character(tmp_path / "rig.glb", rest="first-frame")
    assert np.abs(first.rest_world()[0] - plain.rest_world()[0]).max() > 0.01
    c = _bone_cosines(retarget_to_character(walk, 20.0, first, plant_feet=False), walk)
    assert np.median(c) > 0.999


@pytest.mark.parametrize("preset, prefix", [("mixamo", "mixamorig:"), ("unreal", ""), ("rokoko", "")])
def test_name_maps_on_our_skeleton_renamed(preset, prefix, walk, tmp_path):
    """No real Mixamo, Unreal mannequin or Rokoko rig is in ../shared/data: these check the name maps only, on our
    own skeleton written with those names (Mixamo's with its namespace), and that the motion comes back on it."""
    from motiongen.motion.character import CHARACTER_PRESETS
    from motiongen.motion.retarget import PRESETS
    from motiongen.skeleton import HUMANML3D
    joints = {**PRESETS, **CHARACTER_PRESETS}[preset].joints
    names = tuple(prefix + (lambda e: e[0] if isinstance(e, tuple) else e)(joints[n]) for n in HUMANML3D.joint_names)
    write_bvh(tmp_path / "rig.bvh", walk, joint_names=names)
    ch = read_character(tmp_path / "rig.bvh")
    res = retarget_to_character(walk, 20.0, ch)
    assert res.how == f"preset {preset!r}" and len(res.mapping) == 22 and res.unmapped == []
    assert all(ch.names[res.mapping[k]] == names[k] for k in range(22))
    assert np.abs(res.points() - walk).max() < 2e-3
