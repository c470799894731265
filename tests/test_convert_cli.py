import numpy as np

from motiongen.cli import main

from conftest import BVH_DIR, needs_shared


@needs_shared
def test_convert_chain_bvh_joints_features_bvh(tmp_path, capsys):
    src = BVH_DIR / "aalto-gait" / "k_walk_fast_k_walk_angry_k_walk_regular_100_000_000.bvh"
    assert main(["convert", str(src), str(tmp_path / "a.npy")]) == 0
    joints = np.load(tmp_path / "a.npy")
    assert joints.shape[1:] == (22, 3)
    assert main(["convert", str(tmp_path / "a.npy"), str(tmp_path / "f.npy")]) == 0
    feats = np.load(tmp_path / "f.npy")
    assert feats.shape == (len(joints) - 1, 263)
    assert main(["convert", str(tmp_path / "f.npy"), str(tmp_path / "b.bvh")]) == 0
    assert main(["convert", str(tmp_path / "b.bvh"), str(tmp_path / "b.npy"), "--rig", "mixamo"]) == 0
    back = np.load(tmp_path / "b.npy")
    assert back.shape == (len(feats), 22, 3)
    out = capsys.readouterr().out
    assert "rig: aalto" in out and "interpolated" in out


@needs_shared
def test_convert_zip_member_to_gif(tmp_path):
    src = f"{BVH_DIR}/bandai-namco/dataset-1/data.zip::data/dataset-1_bow_active_001.bvh"
    assert main(["convert", src, str(tmp_path / "bow.gif"), "--fps", "10"]) == 0
    data = (tmp_path / "bow.gif").read_bytes()
    assert data[:6] in (b"GIF89a", b"GIF87a")


def test_convert_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((10, 7)))
    assert main(["convert", str(bad), str(tmp_path / "x.bvh")]) == 2
    err = capsys.readouterr().err
    assert "bad.npy: expected joints (T, 22|21, 3) or features (T, 263|251), got shape (10, 7)" in err
    assert "Traceback" not in err
    assert main(["convert", str(tmp_path / "missing.bvh"), str(tmp_path / "x.npy")]) == 2
    assert "input not found" in capsys.readouterr().err


def test_failed_conversion_keeps_existing_output(tmp_path):
    out = tmp_path / "keep.npy"
    np.save(out, np.arange(5))
    bad = tmp_path / "nan.npy"
    arr = np.zeros((10, 22, 3))
    arr[2, 3, 0] = np.nan
    np.save(bad, arr)
    assert main(["convert", str(bad), str(out)]) == 2
    assert np.array_equal(np.load(out), np.arange(5))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
