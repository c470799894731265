import warnings
import zipfile

import numpy as np
import pytest

from motiongen.motion.bvh import BVH_JOINT_NAMES_22, BVHError, parse_bvh, read_bvh, write_bvh
from motiongen.motion.retarget import PRESETS, retarget_bvh
from motiongen.skeleton import HUMANML3D

from conftest import BVH_DIR, data_left_direction, needs_shared

pytestmark = needs_shared


def _all_rig_files():
    files = []
    for sub in ("cmu", "xia-style", "cmu-iclone", "aalto-gait"):
        files += sorted((BVH_DIR / sub).glob("*.bvh"))
    out = [(str(f), "cmu-iclone" if f.parent.name == "cmu-iclone" else None) for f in files]
    for ds in ("dataset-1", "dataset-2"):
        zpath = BVH_DIR / "bandai-namco" / ds / "data.zip"
        members = sorted(m for m in zipfile.ZipFile(zpath).namelist() if m.endswith(".bvh"))
        out += [(f"{zpath}::{m}", None) for m in members[:: max(1, len(members) // 6)]]
    return out


RIG_FILES = _all_rig_files() if BVH_DIR.is_dir() else []


def _check_plausible(joints, label):
    assert joints.shape[1:] == (22, 3), label
    assert np.isfinite(joints).all(), label
    # upright: head above pelvis above the ankles, in most frames
    assert (joints[:, 15, 1] > joints[:, 0, 1]).mean() > 0.75, label   # allows dance, bows, falls
    assert (joints[:, 0, 1] > joints[:, [7, 8], 1].max(1)).mean() > 0.75, label
    assert joints[..., 1].min() == pytest.approx(0.0, abs=1e-9), label           # on the floor
    assert np.allclose(joints[0, 0, [0, 2]], 0.0, atol=1e-9), label                # root at the origin
    height = np.median(joints[:, 15, 1] - joints[:, [10, 11], 1].min(1))
    assert 1.0 < height < 2.0, (label, height)                                     # metres
    # facing +Z at the start, judged by where the toes point
    toes = (joints[0, [10, 11]] - joints[0, [7, 8]]).mean(0)
    assert toes[2] > abs(toes[0]), (label, toes)
    # left joints lie on the left the data defines
    left = data_left_direction(joints, (7, 8), (10, 11))
    for a, b in ((1, 2), (4, 5), (16, 17)):   # hips, knees, shoulders (wrists cross in a bow)
        assert (np.einsum("tc,tc->t", joints[:, a] - joints[:, b], left) > 0).mean() > 0.8, (label, a)


@pytest.mark.parametrize("path,rig", RIG_FILES, ids=[p.split("/")[-1][-40:] for p, _ in RIG_FILES])
def test_every_rig_reads_and_retargets(path, rig):
    bvh = read_bvh(path)
    pos, names = bvh.world_positions(include_end_sites=True)
    assert pos.shape[0] == bvh.num_frames and np.isfinite(pos).all()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = retarget_bvh(bvh, rig)
    assert abs(len(res.joints) - (bvh.num_frames - (rig == "cmu-iclone")) / bvh.fps * 20) <= 1.5
    _check_plausible(res.joints, path)


def test_detected_presets_and_units():
    expect = {"cmu/01_01.bvh": ("cmu", "cmu"), "cmu/131_01.bvh": ("cmu-3dsmax", "cmu"),
              "aalto-gait/k_run_fast_k_run_slow_000_100.bvh": ("aalto", "cm"), "cmu-iclone/001_01.bvh": ("iclone", "cm")}
    for rel, (preset, units) in expect.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            res = retarget_bvh(read_bvh(BVH_DIR / rel))
        assert (res.preset, res.units) == (preset, units), rel


def test_missing_joints_are_interpolated_and_reported():
    with pytest.warns(UserWarning, match="spine2"):
        res = retarget_bvh(read_bvh(BVH_DIR / "cmu" / "02_01.bvh"))
    assert "spine2" in res.interpolated
    mid = (res.joints[:, 3] + res.joints[:, 9]) / 2
    assert np.allclose(res.joints[:, 6], mid)


def test_write_read_round_trip_real_motions(real_samples):
    for sid, (_, joints) in real_samples.items():
        path = f"/tmp/motiongen_test_{sid}.bvh"
        write_bvh(path, joints)
        bvh = read_bvh(path)
        assert bvh.joint_names[0] == "Hips" and bvh.channels[0][:3] == ["Xposition", "Yposition", "Zposition"]
        pos, names = bvh.world_positions()
        idx = [names.index(n) for n in BVH_JOINT_NAMES_22]
        assert np.abs(pos[:, idx] / 100.0 - joints).max() < 0.01, sid


def test_round_trip_of_retargeted_mocap_and_bvhio_agrees(tmp_path):
    import bvhio
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        joints = retarget_bvh(read_bvh(BVH_DIR / "cmu" / "05_06.bvh")).joints[:120]
    path = tmp_path / "m.bvh"
    write_bvh(path, joints)
    pos, names = read_bvh(path).world_positions()
    idx = [names.index(n) for n in BVH_JOINT_NAMES_22]
    assert np.abs(pos[:, idx] / 100 - joints).max() < 0.01
    root = bvhio.readAsHierarchy(str(path))
    for frame in (0, 50, 119):
        root.loadPose(frame)
        got = {j.Name: np.array(j.PositionWorld) for j, _, _ in root.layout()}
        theirs = np.stack([got[n] for n in BVH_JOINT_NAMES_22]) / 100
        assert np.abs(theirs - joints[frame]).max() < 0.01


def test_units_are_inferred_from_body_size(tmp_path, real_samples):
    _, joints = real_samples["000000"]
    for units, expected in (("m", "m"), ("cm", "cm")):
        write_bvh(tmp_path / f"{units}.bvh", joints, units=units)
        res = retarget_bvh(read_bvh(tmp_path / f"{units}.bvh"), "mixamo")
        assert res.units == expected
        assert np.abs(res.joints[0, 15, 1] - res.joints[0, 0, 1] - (joints[0, 15, 1] - joints[0, 0, 1])) < 0.01


GOOD = """HIERARCHY
ROOT Hips
{
  OFFSET 0 0 0
  CHANNELS 6 Xposition Yposition Zposition Zrotation Xrotation Yrotation
  JOINT Spine
  {
    OFFSET 0 10 0
    CHANNELS 3 Zrotation Xrotation Yrotation
    End Site
    {
      OFFSET 0 10 0
    }
  }
}
MOTION
Frames: 2
Frame Time: 0.05
0 90 0 0 0 0 0 0 0
1 90 0 0 0 90 0 0 0
"""


def test_parse_small_file_and_channel_order():
    bvh = parse_bvh(GOOD, "good.bvh")
    pos, names = bvh.world_positions(include_end_sites=True)
    assert names == ["Hips", "Spine", "Spine_End"]
    assert np.allclose(pos[0, 2], [0, 110, 0])
    # frame 1: Hips yaw 90 deg about Y carries the spine along, which stays vertical
    assert np.allclose(pos[1, 1], [1, 100, 0])
    assert bvh.fps == pytest.approx(20)


@pytest.mark.parametrize("text,match", [
    (GOOD.replace("1 90 0 0 0 90 0 0 0\n", ""), r"good\.bvh.*truncated MOTION block: 'Frames: 2' but only 1"),
    (GOOD.replace("1 90 0 0 0 90 0 0 0", "1 90 0 0 0 90 0 0"), r"good\.bvh, line 20: expected 9 channel values"),
    (GOOD.replace("CHANNELS 3 Zrotation Xrotation Yrotation", "CHANNELS 3 Zrotation Xrotation"),
     r"line 9: joint 'Spine': CHANNELS declares 3"),
    (GOOD.replace("1 90 0 0 0 90 0 0 0", "1 90 0 0 0 nan 0 0 0"), r"line 20: joint 'Hips' channel Yrotation: nan"),
    (GOOD.replace("0 90 0 0 0 0 0 0 0\n", "0 90 0 0 0 0 0 0 0\n\n"), None),
    (GOOD.replace("0 90 0 0 0 0 0 0 0\n", "0 90 0 0 0 0 0 0 0\n\n").replace("1 90 0 0 0 90 0 0 0", "1 90 0 0 0 90 inf 0 0"),
     r"line 21: joint 'Spine' channel Zrotation: inf"),
    (GOOD.split("MOTION")[0], r"no MOTION block"),
    ("hello", r"not a BVH file"),
])
def test_bad_files_name_the_file_and_line(text, match):
    if match is None:                       # a blank line inside MOTION is fine
        assert parse_bvh(text, "good.bvh").num_frames == 2
        return
    with pytest.raises(BVHError, match=match):
        parse_bvh(text, "good.bvh")


def test_unknown_joint_names_are_named(tmp_path):
    p = tmp_path / "odd.bvh"
    p.write_text(GOOD)
    with pytest.raises(ValueError, match="could not recognise the rig.*Hips, Spine"):
        retarget_bvh(read_bvh(p))
    with pytest.raises(ValueError, match=r"odd\.bvh: rig preset 'cmu' expects joints the file lacks: .*left_hip <- LeftUpLeg"):
        retarget_bvh(read_bvh(p), "cmu")
    with pytest.raises(ValueError, match="unknown rig preset 'maya'"):
        retarget_bvh(read_bvh(p), "maya")


def test_zip_member_errors(tmp_path):
    z = BVH_DIR / "bandai-namco" / "dataset-1" / "data.zip"
    with pytest.raises(BVHError, match="name the BVH member"):
        read_bvh(z)
    with pytest.raises(FileNotFoundError, match="no member 'nope.bvh'"):
        read_bvh(z, "nope.bvh")


def test_presets_cover_all_22_joints():
    for preset in PRESETS.values():
        assert set(preset.joints) == set(HUMANML3D.joint_names), preset.name


@pytest.mark.slow
def test_blender_imports_our_bvh(tmp_path, real_samples):
    """Blender's own BVH importer reads our file and places every bone where our joints are (Blender is Z up)."""
    import json
    import shutil
    import subprocess
    from pathlib import Path
    blender = shutil.which("blender")
    if blender is None:
        pytest.skip("Blender is not installed (apt-get install blender)")
    _, joints = real_samples["012314"]
    write_bvh(tmp_path / "m.bvh", joints)
    script = Path(__file__).with_name("blender_read_bvh.py")
    frames = [0, 60, 120]
    subprocess.run([blender, "-b", "--factory-startup", "--python", str(script), "--", str(tmp_path / "m.bvh"),
                    str(tmp_path / "out.json"), *map(str, frames)], check=True, capture_output=True, timeout=300)
    got = json.loads((tmp_path / "out.json").read_text())
    for f in frames:
        heads = np.array([got[str(f)][n] for n in BVH_JOINT_NAMES_22])
        ours = joints[f][:, [0, 2, 1]] * np.array([1.0, -1.0, 1.0])       # Y up -> Blender's Z up
        assert np.abs(heads - ours).max() < 0.01, f
