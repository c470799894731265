"""A randomly initialised CLIP text tower in Hugging Face format, with a byte-level tokenizer, written offline.

For exercising the CLIP code path and measuring paper-size speed and memory without the real weights (which no
package ships): the values are random, the shapes and the tokenizer are CLIP's. Nothing is downloaded."""
from __future__ import annotations

import json
from pathlib import Path


def _bytes_to_unicode() -> list[str]:
    """GPT-2 / CLIP's reversible map of the 256 byte values to printable characters."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def write_random_clip(path: Path, hidden: int = 512, layers: int = 12, heads: int = 8, intermediate: int | None = None,
                      projection: int | None = None, seed: int = 0) -> Path:
    """Write a CLIPTextModelWithProjection (ViT-B/32's text size by default: width 512, 12 layers, 8 heads, MLP
    ``intermediate`` = 4 x width, ``projection`` = width) with random weights from ``seed``, and its tokenizer
    files (byte-level vocabulary, no merges), into ``path``. Returns ``path``."""
    import torch
    from transformers import CLIPTextConfig, CLIPTextModelWithProjection

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    chars = _bytes_to_unicode()
    vocab = {c: i for i, c in enumerate(chars)}
    for c in chars:
        vocab[c + "</w>"] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    (path / "vocab.json").write_text(json.dumps(vocab))
    (path / "merges.txt").write_text("#version: 0.2\n")
    (path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "CLIPTokenizer", "model_max_length": 77}))
    torch.manual_seed(seed)
    cfg = CLIPTextConfig(vocab_size=len(vocab), hidden_size=hidden, intermediate_size=intermediate or 4 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, projection_dim=projection or hidden,
                         max_position_embeddings=77, bos_token_id=vocab["<|startoftext|>"],
                         eos_token_id=vocab["<|endoftext|>"], pad_token_id=vocab["<|endoftext|>"])
    CLIPTextModelWithProjection(cfg).save_pretrained(path)
    return path
