"""The ASF/AMC, DeepMimic and ASE readers and the SNU / m21 / tennis rig presets, on the real files of each set:
frame rate, floor contact, facing, left/right and bone proportions against the HumanML3D skeleton."""
import json
import warnings

import numpy as np
import pytest

from conftest import DATA, needs_shared
from motiongen.motion.asf import ASFError, parse_amc, parse_asf, read_asf_amc
from motiongen.motion.readers import read_skeletal_motion
from motiongen.motion.retarget import retarget_bvh

EXTRA = DATA / "extra-mocap"
CMU = DATA / "bvh" / "cmu"


def _retarget(path, rig=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        motion = read_skeletal_motion(str(path))
        return motion, retarget_bvh(motion, rig, fps=20.0)


# one real clip per set: (path, preset it must be recognised as, moves forward?)
CLIPS = {
    "hdm05": (f"{EXTRA}/hdm05/data.zip::train/6/HDM_bd_kickLFront1Reps_001_120.amc", "acclaim", False),
    "deepmimic": (f"{EXTRA}/deepmimic/data.zip::data/motions/humanoid3d_walk.txt", "deepmimic", True),
    "ase": (f"{EXTRA}/ase-sword-shield/data.zip::motions/RL_Avatar_WalkForward01_Motion.npz", "ase", True),
    "snu-basketball": (f"{EXTRA}/snu-basketball/data.zip::data/motions/basketData/motion/s_003_1_1.bvh", "snu", False),
    "snu-martial-arts": (f"{EXTRA}/snu-martial-arts/data.zip::mrl.motion.critical/data/martial_arts_compact/motion/"
                         "16_21_1.bvh", "snu", True),
    "cmu69": (f"{EXTRA}/snu-cmu69-tennis-indian/data.zip::mrl.motion.neural/walkTest/motion/69_01_1.bvh", "snu", True),
    "tennis": (f"{EXTRA}/snu-cmu69-tennis-indian/data.zip::mrl.motion.neural/tennisData/motion/"
               "tennis_KangTennisF19.bvh", "tennis", False),
    "m21": (f"{EXTRA}/m21-style/data.zip::m21_data/content/walk.bvh", "m21", True),
    "cmu-asf": (f"{CMU}/01_01.amc", "acclaim", False),
}
TEMPLATE_BONES = {"thigh": (1, 4), "shin": (4, 7), "upper arm": (16, 18), "forearm": (18, 20)}


@needs_shared
@pytest.mark.parametrize("name", list(CLIPS))
def test_each_set_retargets_to_the_humanml3d_layout(name):
    path, preset, forward = CLIPS[name]
    motion, res = _retarget(path)
    j = res.joints
    assert res.preset == preset
    # 20 fps: the duration is kept
    src_seconds = (motion.num_frames - 1) / motion.fps
    assert abs((len(j) - 1) / 20.0 - src_seconds) <= 0.05 + 1 / 20
    # metres, on the floor: the feet touch it, the pelvis is at hip height while standing
    feet = j[:, [7, 8, 10, 11], 1].min(1)
    assert np.mean(feet < 0.06) > 0.5, f"{name}: feet off the floor"
    assert 0.7 < np.median(j[:, 0, 1]) < 1.15, f"{name}: pelvis height {np.median(j[:, 0, 1]):.2f} m"
    # facing +Z at frame 0 (hips + shoulders), and the toes agree: left/right are not swapped
    toes = (j[0, [10, 11]] - j[0, [7, 8]]).mean(0)
    assert toes[2] > 0.5 * np.linalg.norm(toes[[0, 2]]), f"{name}: toes point {toes}"
    assert j[0, 1, 0] > j[0, 2, 0] and j[0, 16, 0] > j[0, 17, 0], f"{name}: left is not at +X"
    if forward:
        assert j[-1, 0, 2] - j[0, 0, 2] > 0.5
    # bone proportions against the HumanML3D template skeleton (after scaling to the same leg length)
    t = np.load(DATA / "humanml3d" / "template" / "000021.npy")[0, :22]
    length = lambda x, a, b: np.median(np.linalg.norm(x[..., a, :] - x[..., b, :], axis=-1))
    leg = lambda x: length(x, 1, 4) + length(x, 4, 7)
    assert 0.7 < leg(j) < 1.05, f"{name}: leg {leg(j):.2f} m"
    for bone, (a, b) in TEMPLATE_BONES.items():
        ratio = (length(j, a, b) / leg(j)) / (length(t, a, b) / leg(t))
        assert 0.75 < ratio < 1.3, f"{name}: {bone} is {ratio:.2f} x the HumanML3D proportion"


@needs_shared
def test_asf_amc_matches_cmus_own_bvh_of_the_same_trial():
    """01_01.amc read with 01.asf gives the same leg and spine joints as CMU's 01_01.bvh (whose first frame is an
    added T-pose, and whose neck drops the thorax bone, so the upper body differs by that bone)."""
    from motiongen.motion.bvh import read_bvh
    amc = read_asf_amc(CMU / "01.asf", CMU / "01_01.amc")
    assert amc.fps == 120.0 and amc.num_frames == 2751
    pa, na = amc.world_positions(include_end_sites=True)
    pb, nb = read_bvh(CMU / "01_01.bvh").world_positions(include_end_sites=True)
    pb = pb[1:]
    for a, b in [("lfemur", "LeftUpLeg"), ("rtibia", "RightLeg"), ("lfoot", "LeftFoot"), ("rtoes", "RightToeBase"),
                 ("thorax", "Spine1")]:
        assert np.abs(pa[:, na.index(a)] - pb[:, nb.index(b)]).max() < 1e-3
    assert read_asf_amc(CMU / "01_01.amc").num_frames == 2751      # the ASF found beside it


@needs_shared
def test_hdm05_kick_kicks_with_the_named_leg_and_grab_reaches_with_the_right_hand():
    from motiongen.data.build import kick_side
    _, kick = _retarget(CLIPS["hdm05"][0])
    assert kick_side(kick.joints) == "left"
    _, grab = _retarget(f"{EXTRA}/hdm05/data.zip::train/3/HDM_bd_grabHighR_001_120.amc")
    g = grab.joints
    assert g[:, 21, 1].max() > g[:, 20, 1].max() + 0.2 and g[:, 21, 1].max() > g[:, 15, 1].max()


@needs_shared
def test_lie_down_ends_lying_and_get_up_starts_lying():
    _, lie = _retarget(f"{EXTRA}/hdm05/data.zip::train/7/HDM_bd_lieDownFloor_001_120.amc")
    assert lie.joints[0, 15, 1] > 1.3 and lie.joints[-1, 15, 1] < 0.45        # head height: standing -> lying
    _, up = _retarget(f"{EXTRA}/deepmimic/data.zip::data/motions/humanoid3d_getup_faceup.txt")
    assert up.joints[0, 15, 1] < 0.45 and up.joints[-1, 15, 1] > 1.2


@needs_shared
def test_deepmimic_offsets_are_the_character_files_and_ase_drops_the_props():
    from motiongen.motion.ase import read_ase_npz
    from motiongen.motion.asf import read_text
    from motiongen.motion.deepmimic import HUMANOID3D_OFFSETS
    text, _ = read_text(f"{EXTRA}/deepmimic/data.zip::data/characters/humanoid3d.txt")
    char = {j["Name"]: (j["AttachX"], j["AttachY"], j["AttachZ"]) for j in json.loads(text)["Skeleton"]["Joints"]}
    for name, off in HUMANOID3D_OFFSETS.items():              # the reader's constants are the character file's
        assert np.allclose(char[name], off)
    ase = read_ase_npz(CLIPS["ase"][0])
    assert "sword" not in ase.joint_names and "shield" not in ase.joint_names and len(ase.joint_names) == 15
    pos, names = ase.world_positions()
    assert (pos[:, names.index("head"), 1] > pos[:, names.index("pelvis"), 1] + 0.3).all()     # Y up now


def test_bad_asf_amc_deepmimic_and_npz_inputs_give_one_clear_line(tmp_path):
    from motiongen.motion.ase import ASEError, read_ase_npz
    from motiongen.motion.deepmimic import DeepMimicError, parse_deepmimic
    asf = parse_asf(":units\n length 1\n angle deg\n:root\n order TX TY TZ RX RY RZ\n axis XYZ\n:bonedata\n begin\n"
                    "  name a\n  direction 0 1 0\n  length 2\n  axis 0 0 0 XYZ\n  dof rx ry rz\n end\n"
                    ":hierarchy\n begin\n  root a\n end\n", "t.asf")
    with pytest.raises(ASFError, match=r"t\.amc, line 4: bone 'a': expected 3 values"):
        parse_amc(":FULLY-SPECIFIED\n1\nroot 0 0 0 0 0 0\na 1 2\n", asf, "t.amc")
    with pytest.raises(ASFError, match="not in the skeleton"):
        parse_amc("1\nroot 0 0 0 0 0 0\nzzz 1\n", asf, "t.amc")
    with pytest.raises(ASFError, match="no :bonedata"):
        parse_asf("hello", "x.asf")
    with pytest.raises(ASFError, match="unknown bone 'b'"):
        parse_asf(":bonedata\n begin\n name a\n direction 0 1 0\n length 1\n end\n:hierarchy\n begin\n root b\n end\n")
    (tmp_path / "m.amc").write_text("1\nroot 0 0 0 0 0 0\n")
    with pytest.raises(ASFError, match="no .asf file beside it"):
        read_asf_amc(tmp_path / "m.amc")
    with pytest.raises(DeepMimicError, match=r"Frames\[1\]: expected 44 numbers"):
        parse_deepmimic(json.dumps({"Frames": [[0.1] * 44, [0.1] * 40]}), "c.txt")
    with pytest.raises(DeepMimicError, match="invalid JSON"):
        parse_deepmimic("{oops", "c.txt")
    np.savez(tmp_path / "x.npz", foo=np.zeros(3))
    with pytest.raises(ASEError, match="missing rotation_xyzw"):
        read_ase_npz(tmp_path / "x.npz")


@needs_shared
def test_convert_accepts_the_snu_basketball_bvh_and_asf_amc(tmp_path):
    from motiongen.cli import main
    for src in (CLIPS["snu-basketball"][0], str(CMU / "01_01.amc")):
        out = tmp_path / "j.npy"
        assert main(["convert", src, str(out)]) in (None, 0)
        j = np.load(out)
        assert j.shape[1:] == (22, 3) and np.isfinite(j).all()
        out.unlink()


def test_a_corrupt_zip_member_is_one_clear_error_for_every_reader(tmp_path):
    """The readers share the BVH reader's archive code: a member whose compressed data is damaged (zlib.error
    inside zipfile) is the reader's own error naming the member, never a traceback."""
    import zipfile

    from motiongen.motion.ase import ASEError, read_ase_npz
    from motiongen.motion.asf import ASFError, read_text
    from motiongen.motion.bvh import BVHError, read_bvh
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name in ("m.bvh", "m.amc", "m.npz"):
            zf.writestr(name, ("HIERARCHY ROOT Hips " * 400).encode())
    raw = bytearray(archive.read_bytes())
    for name in (b"m.bvh", b"m.amc", b"m.npz"):         # damage the deflate stream of each member
        at = raw.index(name) + len(name) + 10
        raw[at:at + 40] = b"\xff" * 40
    archive.write_bytes(bytes(raw))
    for reader, err, member in ((read_bvh, BVHError, "m.bvh"), (read_text, ASFError, "m.amc"),
                                (read_ase_npz, ASEError, "m.npz")):
        with pytest.raises(err, match=f"a.zip::{member}"):
            reader(f"{archive}::{member}")
