import io
import pickle

import numpy as np
import pytest
import torch

from motiongen.cli import main
from motiongen.evaluate.evaluator import (EvaluatorConfig, EvaluatorError, GuoEvaluator, _safe_pickle,
                                          load_evaluator, load_guo_evaluator, save_evaluator)
from motiongen.evaluate.metrics import (diversity, fid, frechet_distance, mean_and_confidence, multimodality,
                                        r_precision)
from motiongen.evaluate.physical import physical_metrics


def test_fid_of_identical_sets_is_zero_and_matches_gaussian_closed_form():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2000, 4))
    assert abs(fid(x, x)) < 1e-8
    # two Gaussians: FID = |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2); diagonal: sum (s1 - s2)^2
    mu1, mu2 = np.array([0.0, 1, 2]), np.array([1.0, 1, 0])
    s1, s2 = np.diag([1.0, 4, 9]), np.diag([4.0, 1, 1])
    expected = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 1) ** 2
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected)
    a = rng.multivariate_normal(mu1, s1, size=200_000)
    b = rng.multivariate_normal(mu2, s2, size=200_000)
    assert fid(a, b) == pytest.approx(expected, rel=0.02)


def test_r_precision_of_a_perfect_matcher_is_one_and_random_is_chance():
    rng = np.random.default_rng(1)
    e = rng.normal(size=(64, 8))
    top, mm = r_precision(e, e)
    assert np.allclose(top, 1.0) and mm == pytest.approx(0.0, abs=1e-6)
    top, _ = r_precision(rng.normal(size=(3200, 8)), rng.normal(size=(3200, 8)))
    assert top[0] == pytest.approx(1 / 32, abs=0.01) and top[2] == pytest.approx(3 / 32, abs=0.015)
    with pytest.raises(ValueError, match="at least 32"):
        r_precision(e[:10], e[:10])


def _guo_r_precision(text_emb, motion_emb, top_k=3, batch_size=32):
    """Written from Guo et al.'s final_evaluations.py: text x motion distances, each text ranks the motions."""
    hits = np.zeros(top_k)
    n = len(text_emb) // batch_size * batch_size
    for s in range(0, n, batch_size):
        t, m = text_emb[s:s + batch_size], motion_emb[s:s + batch_size]
        for i in range(batch_size):
            d = np.sqrt(((m - t[i]) ** 2).sum(1))
            rank = int((d < d[i]).sum())          # motions strictly nearer to text i than its own motion
            hits[rank:] += rank < top_k
    return hits / n


def test_r_precision_ranks_motions_per_text_as_guo_does():
    # hubs: a few motions lie near every text; texts are spread out. Ranking motions per text (Guo) and ranking
    # texts per motion (the old code) then give clearly different answers.
    rng = np.random.default_rng(3)
    n = 320
    text = rng.normal(size=(n, 6)) * 3.0
    motion = text * 0.15 + rng.normal(size=(n, 6)) * 0.4
    hubs = rng.random(n) < 0.1
    motion[hubs] *= 0.05
    top, mm = r_precision(text, motion)
    ref = _guo_r_precision(text, motion)
    assert np.allclose(top, ref)
    transposed, _ = r_precision(motion, text)     # what ranking texts per motion gives
    assert np.abs(transposed - ref).max() > 0.05
    assert mm == pytest.approx(np.linalg.norm(text[:n] - motion[:n], axis=1).mean())


def test_diversity_multimodality_and_confidence():
    rng = np.random.default_rng(2)
    assert diversity(np.zeros((400, 3))) == 0.0
    same = np.repeat(rng.normal(size=(5, 1, 4)), 30, axis=1)
    assert multimodality(same) == 0.0
    spread = rng.normal(size=(5, 30, 4))
    assert multimodality(spread) > 1.0
    m, ci = mean_and_confidence([1.0, 1.0, 1.0])
    assert (m, ci) == (1.0, 0.0)
    m, ci = mean_and_confidence([0.0, 2.0])
    assert m == 1.0 and ci == pytest.approx(1.96 * 1.0 / np.sqrt(2))


def test_physical_metrics(real_samples):
    joints = real_samples["000000"][1]
    real = physical_metrics(joints)
    stand = np.repeat(joints[:1], 40, axis=0)
    s = physical_metrics(stand)
    assert s["jitter"] == 0.0 and s["foot_skating"] == 0.0
    slide = stand.copy()
    slide[:, :, 0] += np.arange(40)[:, None] * 0.05          # the whole body glides 5 cm per frame
    assert physical_metrics(slide)["foot_skating"] == 1.0
    sunk = stand.copy()
    sunk[:, :, 1] -= 0.1 + stand[:, :, 1].min()
    assert physical_metrics(sunk)["penetration"] == pytest.approx(0.1)
    lifted = stand.copy()
    lifted[:, :, 1] += 0.5
    assert physical_metrics(lifted)["floating"] > 0.45
    assert real["foot_skating"] < 0.3 and real["jitter"] > 0


def _tiny_ev():
    torch.manual_seed(0)
    cfg = EvaluatorConfig(movement_hidden=16, movement_latent=16, motion_hidden=16, text_hidden=16,
                          embedding_dim=8, word_dim=12)
    return GuoEvaluator(cfg, ["sos", "eos", "unk", "walk", "person"])


def test_evaluator_roundtrip_and_padding(tmp_path):
    ev = _tiny_ev().eval()
    x = torch.randn(2, 40, 263)
    lengths = torch.tensor([40, 24])
    e = ev.motion_embedding(x, lengths)
    x2 = x.clone()
    x2[1, 24:] = 99.0                          # beyond its length: must not matter
    assert torch.allclose(ev.motion_embedding(x2, lengths), e, atol=1e-5)
    t = ev.text_embedding([["a/DET", "person/NOUN", "walk/VERB"], ["walk/VERB"]])
    assert t.shape == (2, 8)
    save_evaluator(tmp_path / "ev", ev)
    ev2 = load_evaluator(tmp_path / "ev")
    assert torch.allclose(ev2.motion_embedding(x, lengths), e)
    with pytest.raises(EvaluatorError, match="missing"):
        load_evaluator(tmp_path / "nothing")


def test_guo_files_missing_are_named(tmp_path):
    with pytest.raises(EvaluatorError, match="finest.tar.*our_vab_words.pkl"):
        load_guo_evaluator(tmp_path)


def test_guo_loader_maps_the_released_layout(tmp_path):
    """Write files in the released layout (keys of text2motion's modules) and load them."""
    c = EvaluatorConfig()                       # the released sizes
    ref = GuoEvaluator(c, ["sos", "eos", "unk", "walk"])
    sd = ref.state_dict()
    inv = {"movement_encoder": {"movement.0.": "main.0.", "movement.3.": "main.3.", "movement_out.": "out_net."},
           "motion_encoder": {"motion_in.": "input_emb.", "motion_gru.": "gru.", "motion_out.": "output_net.",
                              "motion_h0": "hidden"},
           "text_encoder": {"pos_emb.": "pos_emb.", "text_in.": "input_emb.", "text_gru.": "gru.",
                            "text_out.": "output_net.", "text_h0": "hidden"}}
    ckpt = {part: {} for part in inv}
    for part, ren in inv.items():
        for k, v in sd.items():
            for new, old in ren.items():
                if k.startswith(new):
                    ckpt[part][old + k[len(new):]] = v
    torch.save(ckpt, tmp_path / "finest.tar")
    np.save(tmp_path / "mean.npy", np.zeros(263, np.float32))
    np.save(tmp_path / "std.npy", np.ones(263, np.float32))
    np.save(tmp_path / "our_vab_data.npy", np.random.default_rng(0).normal(size=(4, 300)).astype(np.float32))
    (tmp_path / "our_vab_words.pkl").write_bytes(pickle.dumps(["sos", "eos", "unk", "walk"]))
    (tmp_path / "our_vab_idx.pkl").write_bytes(pickle.dumps({"sos": 0, "eos": 1, "unk": 2, "walk": 3}))
    loaded = load_guo_evaluator(tmp_path)
    assert torch.equal(loaded.motion_out[0].weight, sd["motion_out.0.weight"])
    assert loaded.config.word_source == "glove" and not loaded.word_vectors.requires_grad


def test_pickles_with_code_are_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))
    f = tmp_path / "our_vab_words.pkl"
    f.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(EvaluatorError, match="refusing"):
        _safe_pickle(f)
    buf = io.BytesIO()
    pickle.dump(["a", "b"], buf)
    f.write_bytes(buf.getvalue())
    assert _safe_pickle(f) == ["a", "b"]


def test_train_evaluator_and_evaluate_end_to_end(hml_folder, tmp_path, capsys, monkeypatch):
    from motiongen.models.registry import build_denoiser
    from motiongen.pipeline import MotionPipeline
    from motiongen.text.encoders import load_text_encoder

    assert main(["train-evaluator", "--data", str(hml_folder), "--out", str(tmp_path / "ev"), "--epochs", "2",
                 "--batch-size", "4", "--quiet"]) == 0
    ev = load_evaluator(tmp_path / "ev")
    assert "unk" in ev.words and ev.config.word_source == "learned"
    torch.manual_seed(0)
    pipe = MotionPipeline(build_denoiser("baseline", latent_dim=16, num_layers=1, num_heads=2, ff_dim=16),
                          load_text_encoder(), ev.mean.numpy(), ev.std.numpy(),
                          {"sampling": {"sampler": "ddim", "steps": 3, "guidance_scale": 1.5,
                                        "guidance_schedule": "constant"}})
    pipe.save_pretrained(tmp_path / "m")
    ids = (hml_folder / "train.txt").read_text().split()
    (hml_folder / "test.txt").write_text("\n".join(ids * 3) + "\n")      # 39 items: R-precision needs 32
    capsys.readouterr()
    assert main(["evaluate", "--models", str(tmp_path / "m"), "--data", str(hml_folder), "--evaluator",
                 str(tmp_path / "ev"), "--replications", "2", "--mm-texts", "2", "--mm-samples", "11",
                 "--max-items", "32", "--steps", "2", "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "Real motions" in printed and "FID" in printed and "\nm " in printed
    assert "note: real: Diversity from 31 pairs" in printed               # fewer than the protocol's 300, said
    import json
    res = json.loads((tmp_path / "r.json").read_text())
    row = res["rows"]["m"]
    assert row["fid"][0] > res["rows"]["Real motions"]["fid"][0]           # random model vs real crops
    assert 0 <= row["top1"][0] <= row["top3"][0] <= 1 and row["multimodality"][0] >= 0
    assert len(row["multimodality"]) == 2 and res["notes"]                 # MultiModality has its interval too
    assert 0 <= row["foot_skating"][0] <= 1
    st = row["settings"]                                                   # every setting behind the numbers
    assert st["x0_lowpass_hz"] == 0 and st["transition_lowpass_hz"] == 0 and st["steps"] == 2
    assert st["bone_lengths"].startswith("as decoded") and st["split"] == "test" and st["replications"] == 2
    assert {"sampler", "guidance_scale", "guidance_schedule", "seed"} <= set(st)
    assert "no x0 band limit" in printed and "bone lengths as decoded" in printed and "split test" in printed
    assert st["sampler"] == "ddim" and st["guidance_scale"] == 1.5             # the folder's recorded sampling
    # without --steps the settings are what ran: --sampler dpm runs dpm's own default steps, not the folder's
    # ddim steps (which the settings used to report for any sampler)
    from motiongen.diffusion.sampling import DEFAULT_STEPS
    monkeypatch.setitem(DEFAULT_STEPS, "dpm", 4)                           # dpm's default, kept quick
    assert main(["evaluate", "--models", str(tmp_path / "m"), "--data", str(hml_folder), "--evaluator",
                 str(tmp_path / "ev"), "--replications", "1", "--max-items", "32", "--json",
                 str(tmp_path / "r2.json"), "--quiet", "--sampler", "dpm", "--mm-texts", "0"]) == 0
    st = json.loads((tmp_path / "r2.json").read_text())["rows"]["m"]["settings"]
    assert (st["sampler"], st["steps"], st["guidance_scale"]) == ("dpm", 4, 1.5)


def test_real_vs_real_fid_redraws_crops_of_the_same_motions(hml_folder):
    from motiongen.data.dataset import MotionTextDataset
    from motiongen.evaluate.runner import _draw
    ds = MotionTextDataset(hml_folder, "train", normalize=False)
    a = _draw(ds, 0, 0, limit=5)
    b = _draw(ds, 0, 0, crop_epoch=12345, limit=5)
    assert [x["id"] for x in a] == [x["id"] for x in b]                  # the same motions ...
    assert any(x["length"] != y["length"] or not np.array_equal(x["motion"], y["motion"]) for x, y in zip(a, b))


def test_out_of_vocabulary_words_get_guos_other_tag():
    from motiongen.evaluate.evaluator import POS_ENUMERATOR
    ev = GuoEvaluator(EvaluatorConfig(), ["sos", "eos", "unk", "walk"])
    idx, pos, _ = ev.tokens_to_tensors([["walk/VERB", "left/ADJ", "zyzzyva/NOUN"]])
    assert idx[0, 1] == 3 and pos[0, 1, POS_ENUMERATOR["Act_VIP"]] == 1          # known word: its VIP class
    assert idx[0, 2] == 2 and pos[0, 2, POS_ENUMERATOR["OTHER"]] == 1            # 'left' not in this vocabulary
    assert idx[0, 3] == 2 and pos[0, 3, POS_ENUMERATOR["OTHER"]] == 1 and pos[0, 3].sum() == 1


def test_cli_help_and_model_list_read_as_plain_text(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "``" not in out and "generate" in out
    assert main(["models"]) == 0
    listing = capsys.readouterr().out
    baseline = next(line for line in listing.splitlines() if line.startswith("baseline"))
    assert "MDM-style" in baseline and "motiongen.models" not in baseline


def test_evaluation_measures_the_raw_model_output():
    """No export cleanup and no plan reading inside evaluate: the metrics are about the model itself."""
    from motiongen.evaluate.runner import _generate
    from motiongen.models.registry import build_denoiser
    from motiongen.pipeline import MotionPipeline
    from motiongen.text.encoders import load_text_encoder
    pipe = MotionPipeline(build_denoiser("finemogen", num_layers=1, part_dim=8, num_templates=4, text_latent_dim=16,
                                         text_layers=1, text_heads=2, text_ff_dim=16, time_embed_dim=16, ffn_dim=8,
                                         num_experts=2, expert_hidden_dim=8),
                          load_text_encoder(), np.zeros(263, np.float32), np.ones(263, np.float32), {})
    items = [{"text": "a person walks forward and waves with the left hand", "length": 20}]
    [m] = _generate(pipe, items, 0, "ddim", 2, 4)
    assert m.meta["foot_cleanup"] is False and "read_as_plan" not in m.meta


def test_evaluation_does_not_apply_the_model_folders_band_limit_unless_asked():
    """A model folder with a 4 Hz x0 band limit: evaluate's default generation equals the same weights without
    it (the raw denoiser), and differs from it with sampling_filters=True; physical metrics see decoded joints."""
    from motiongen.evaluate.runner import _generate, configure_for_evaluation
    from motiongen.models.registry import build_denoiser
    from motiongen.pipeline import MotionPipeline
    from motiongen.text.encoders import load_text_encoder
    from conftest import randomised
    torch.manual_seed(0)
    den = build_denoiser("baseline", latent_dim=16, num_layers=1, num_heads=2, ff_dim=16)
    randomised(den)
    enc = load_text_encoder()
    stats = np.zeros(263, np.float32), np.ones(263, np.float32)
    filtered = {"diffusion": {"x0_lowpass_hz": 4.0, "fps": 20.0, "transition_lowpass_hz": 3.5}}
    items = [{"text": "a person walks forward", "length": 40}]

    def run(info, **kw):
        pipe = MotionPipeline(den, enc, *stats, info)
        settings = configure_for_evaluation(pipe, **kw)
        [m] = _generate(pipe, items, 0, "ddim", 4, 4)
        return m, settings
    plain, _ = run({})
    default, st = run(filtered)
    on, st_on = run(filtered, sampling_filters=True)
    np.testing.assert_array_equal(default.features, plain.features)
    assert np.abs(on.features - plain.features).max() > 1e-3
    assert st["x0_lowpass_hz"] == 0 and st["model_folder_x0_lowpass_hz"] == 4.0 and st_on["x0_lowpass_hz"] == 4.0
    from motiongen.motion.features import recover_joints_from_features
    np.testing.assert_allclose(default.joints, recover_joints_from_features(default.features, 22), atol=1e-6)
    rigid, st_r = run(filtered, rigid_bones=True)
    assert st_r["bone_lengths"].startswith("rigid") and np.abs(rigid.joints - default.joints).max() > 1e-4
