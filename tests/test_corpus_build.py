"""`motiongen data build` on real sets: clips.csv (the interface other tools read), clip-level splits, mirrored
sides, segment cuts, licences, and `data stats --json`."""
import csv
import json
import re

import numpy as np
import pytest

from conftest import DATA, needs_shared


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    if not DATA.is_dir():
        pytest.skip(f"real data not found at {DATA}")
    from motiongen.data.build import build_corpus
    out = tmp_path_factory.mktemp("corpus") / "c"
    summary = build_corpus(DATA, out, sets=["hdm05", "snu-basketball"], limit=3, workers=1, progress=False)
    return out, summary


@needs_shared
def test_clips_csv_has_one_row_per_motion_with_labels_and_licence(small_corpus):
    out, summary = small_corpus
    with open(out / "clips.csv", newline="") as f:
        reader = csv.reader(f)
        assert next(reader) == ["id", "source", "action", "side", "style", "licence", "split"]
        rows = {r[0]: dict(zip(["id", "source", "action", "side", "style", "licence", "split"], r)) for r in reader}
    files = {p.stem for p in (out / "new_joint_vecs").glob("*.npy")}
    assert set(rows) == files and len(files) > 20
    for split in ("train", "val", "test"):
        ids = (out / f"{split}.txt").read_text().split()
        assert all(rows[i]["split"] == split for i in ids)
    assert {r["source"] for r in rows.values()} == {"hdm05", "snu-basketball"}
    assert all(r["action"] and r["action"] == r["action"].lower() for r in rows.values())
    assert all(r["side"] in ("", "left", "right", "both") for r in rows.values())
    assert "CC BY-SA 3.0" in rows[next(i for i in rows if rows[i]["source"] == "hdm05")]["licence"]
    lic = (out / "LICENSES.txt").read_text()
    assert "hdm05: CC BY-SA 3.0" in lic and "snu-basketball: Apache-2.0" in lic
    assert summary.clips["snu-basketball"] > 3         # one take gives many annotated segments


@needs_shared
def test_mirrors_swap_the_side_in_labels_and_captions_and_share_the_split(small_corpus):
    out, _ = small_corpus
    with open(out / "clips.csv", newline="") as f:
        rows = {r["id"]: r for r in csv.DictReader(f)}
    put_down = [i for i in rows if i.startswith("hdm05_") and "depositFloorR" in i]
    assert put_down
    for i in put_down:
        m = rows["M" + i]
        assert rows[i]["action"] == "put down" and rows[i]["side"] == "right" and m["side"] == "left"
        assert m["split"] == rows[i]["split"]
        text = (out / "texts" / f"{i}.txt").read_text()
        mtext = (out / "texts" / f"M{i}.txt").read_text()
        assert re.search(r"\bright hand\b", text) and not re.search(r"\bleft\b", text.split("#")[0])
        assert re.search(r"\bleft hand\b", mtext) and not re.search(r"\bright\b", mtext.split("#")[0])
        # the mirrored motion really is the mirror: the right wrist of one moves like the left wrist of the other
        j, mj = np.load(out / "new_joints" / f"{i}.npy"), np.load(out / "new_joints" / f"M{i}.npy")
        # (heights up to the uniform skeleton's floor offset, so compared frame to frame)
        assert np.allclose(np.diff(j[:, 21, 1]), np.diff(mj[:, 20, 1]), atol=2e-3)
        assert not np.allclose(np.diff(j[:, 21, 1]), np.diff(mj[:, 21, 1]), atol=2e-3)
    # every segment (and window) of one take is in the take's split
    takes: dict[str, set] = {}
    for i, r in rows.items():
        if r["source"] == "snu-basketball":
            takes.setdefault(re.sub(r"^M|_s\d+(_w\d+)?$", "", i), set()).add(r["split"])
    assert takes and all(len(s) == 1 for s in takes.values())


@needs_shared
def test_segments_keep_their_annotated_frames_with_context(small_corpus):
    from motiongen.data.build import CONTEXT_S
    out, _ = small_corpus
    seg = [r for r in csv.DictReader(open(DATA / "extra-mocap" / "snu-basketball" / "segments.csv"))
           if r["file"] == "s_003_1_1.bvh"]
    first = np.load(out / "new_joint_vecs" / "basketball_s_003_1_1_s000.npy")
    want = (int(seg[0]["endFrame"]) - int(seg[0]["startFrame"])) / 30 + 2 * CONTEXT_S
    assert abs(len(first) / 20 - want) < 0.15


@needs_shared
def test_data_stats_json(small_corpus, capsys):
    from motiongen.cli import main
    out, _ = small_corpus
    assert main(["data", "stats", str(out), "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert set(stats) >= {"clips", "minutes", "actions", "sources"}
    assert stats["clips"] == len(list((out / "new_joint_vecs").glob("*.npy")))
    assert sum(stats["actions"].values()) == stats["clips"] == sum(stats["sources"].values())
    assert stats["actions"]["put down"] >= 6 and stats["minutes"] > 0
    assert main(["data", "stats", str(out), "--json", "--split", "train"]) == 0
    train = json.loads(capsys.readouterr().out)
    assert train["clips"] == len((out / "train.txt").read_text().split())
