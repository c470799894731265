import json
import shutil

import numpy as np
import pytest

from motiongen.cli import main
from motiongen.data.build import build_corpus, collect_jobs, mean_std, split_of
from motiongen.data.captions import bandai_captions, pos_tokens
from motiongen.data.dataset import Caption, MotionTextDataset, read_texts, write_texts  # noqa: F401

from conftest import BVH_DIR, HUMANML3D_DIR, needs_shared


def test_loader_filters_segments_and_pads(hml_folder, real_samples):
    ds = MotionTextDataset(hml_folder, "train")
    names = [it.name for it in ds.items]
    lengths = {sid: len(v) for sid, (v, _) in real_samples.items()}
    # the 199-frame motions pass (< 200); every motion with a 1..3.5 s caption yields a 50-frame sub-item
    assert all(lengths[n.split("#")[0]] >= 40 for n in names)
    subs = [it for it in ds.items if "#" in it.name]
    assert subs and all(len(it.motion) == 50 for it in subs)
    item = ds[0]
    assert item["motion"].shape == (196, 263) and item["mask"].shape == (196,)
    assert item["mask"].sum() == item["length"] and item["length"] % 4 == 0
    assert np.all(item["motion"][item["length"]:] == 0)
    # normalised with Mean/Std: the same draw without normalisation, normalised by hand, is identical
    plain = MotionTextDataset(hml_folder, "train", normalize=False)[0]
    n = item["length"]
    assert plain["length"] == n and plain["text"] == item["text"]
    assert np.allclose(item["motion"][:n], (plain["motion"][:n] - ds.mean) / ds.std, atol=1e-5)
    assert not np.allclose(item["motion"][:n], plain["motion"][:n])


def test_loader_is_deterministic_under_seed_and_epoch(hml_folder):
    a, b = MotionTextDataset(hml_folder, seed=3), MotionTextDataset(hml_folder, seed=3)
    for i in range(len(a)):
        x, y = a[i], b[i]
        assert x["text"] == y["text"] and np.array_equal(x["motion"], y["motion"])
    draws = set()
    for epoch in range(8):
        a.set_epoch(epoch)
        draws.add((a[1]["text"], a[1]["length"], float(a[1]["motion"][0, 0])))
    assert len(draws) > 1, "crops and captions should vary across epochs"


def test_loader_works_with_torch_dataloader(hml_folder):
    import torch
    dl = torch.utils.data.DataLoader(MotionTextDataset(hml_folder), batch_size=3)
    batch = next(iter(dl))
    assert batch["motion"].shape == (3, 196, 263) and batch["mask"].dtype == torch.bool
    assert len(batch["text"]) == 3


def test_missing_files_are_named(hml_folder):
    (hml_folder / "Std.npy").unlink()
    with pytest.raises(FileNotFoundError, match="Std.npy not found"):
        MotionTextDataset(hml_folder)
    shutil.copy(HUMANML3D_DIR / "Std.npy", hml_folder / "Std.npy")
    (hml_folder / "texts" / "007005.txt").unlink()
    with pytest.raises(FileNotFoundError, match="007005.txt"):
        MotionTextDataset(hml_folder)
    with pytest.raises(FileNotFoundError, match="split file 'val.txt'"):
        MotionTextDataset(hml_folder, "val")
    write_texts(hml_folder / "texts" / "007005.txt", [Caption("a person walks.")])
    with open(hml_folder / "train.txt", "a") as f:
        f.write("999999\n")
    with pytest.raises(FileNotFoundError, match="999999"):
        MotionTextDataset(hml_folder)


def test_caption_round_trip(tmp_path):
    caps = [Caption("a man walks.", ("a/DET", "man/NOUN", "walk/VERB"), 0, 0), Caption("sub", (), 1.5, 4.0)]
    write_texts(tmp_path / "x.txt", caps)
    assert read_texts(tmp_path / "x.txt") == caps
    assert read_texts(HUMANML3D_DIR / "texts" / "000000.txt")[0].tokens[1] == "man/NOUN"


def test_bandai_captions_are_varied_and_faithful():
    rng = np.random.default_rng(0)
    caps = bandai_captions("wave-left-hand", "angry", rng)
    assert len(set(caps)) == 3
    assert all("left hand" in c for c in caps)
    assert any("angr" in c for c in caps)
    with pytest.raises(KeyError, match="content label 'juggle'"):
        bandai_captions("juggle", "normal", rng)
    assert pos_tokens("a person waves slowly")[:3] == ["a/DET", "person/NOUN", "waves/VERB"]


def test_split_is_by_clip_and_stable():
    assert split_of("dataset-1_bow_active_001") == split_of("dataset-1_bow_active_001")
    counts = {"train": 0, "val": 0, "test": 0}
    for i in range(2000):
        counts[split_of(f"clip{i}")] += 1
    assert 0.75 < counts["train"] / 2000 < 0.85 and counts["test"] > 150


def test_mean_std_groups_share_std():
    rng = np.random.default_rng(0)
    m, s = mean_std([rng.normal(size=(50, 263)) * np.arange(1, 264)])
    assert np.allclose(s[4:67], s[4])
    assert m.shape == s.shape == (263,)


@needs_shared
def test_collect_jobs_reads_every_label_file():
    jobs = collect_jobs(BVH_DIR)
    by_set = {}
    for j in jobs:
        by_set[j.source] = by_set.get(j.source, 0) + 1
    assert by_set["bandai-namco"] == 2929 and by_set["cmu"] == 6 and by_set["aalto-gait"] == 24
    assert by_set["cmu-iclone"] == 13 and by_set["xia-style"] == 9
    assert all(j.captions or j.mirrored_captions for j in jobs)


@needs_shared
def test_small_build_then_load_stats_and_show(tmp_path, capsys):
    out = tmp_path / "corpus"
    summary = build_corpus(BVH_DIR, out, sets=["bandai-namco", "cmu-iclone", "aalto-gait"], limit=6, workers=1,
                           progress=False)
    assert summary.clips["bandai-namco"] == 6
    for split in ("train", "val", "test"):
        ids = (out / f"{split}.txt").read_text().split()
        for other in {"train", "val", "test"} - {split}:
            assert not set(ids) & set((out / f"{other}.txt").read_text().split())
    # mirror copies share the split of their clip
    all_ids = {s: set((out / f"{s}.txt").read_text().split()) for s in ("train", "val", "test")}
    for ids in all_ids.values():
        for i in ids:
            if i.startswith("M") and i[1:] in set().union(*all_ids.values()):
                assert i[1:] in ids
    feats = np.load(out / "new_joint_vecs" / sorted((out / "new_joint_vecs").iterdir())[0].name)
    assert feats.shape[1] == 263 and np.isfinite(feats).all()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["sources"]["bandai-namco"]["licence"].startswith("CC BY-NC")
    ds = MotionTextDataset(out, "train")
    assert len(ds) > 0 and ds[0]["motion"].shape == (196, 263)
    assert main(["data", "stats", str(out)]) == 0
    assert "train:" in capsys.readouterr().out
    first = (out / "train.txt").read_text().split()[0]
    assert main(["data", "show", str(out), first, "--out", str(tmp_path / "x.gif")]) == 0
    assert (tmp_path / "x.gif").read_bytes()[:3] == b"GIF"
    # an existing corpus is never overwritten
    assert main(["data", "build", "--source", str(BVH_DIR), "--out", str(out), "--limit", "1"]) == 2
    assert "exists and is not empty" in capsys.readouterr().err
    assert (out / "meta.json").exists()
