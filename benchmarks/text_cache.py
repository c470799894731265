"""Text features for a corpus: one sentence per encoder pass (the encoder's own cache) against
:class:`motiongen.text.encoders.TextFeatureStore` (batches of equal token count), then reading the cache file back.

    python benchmarks/text_cache.py [--sentences 1000] [--batch 256] [--device cpu|cuda] [--encoder minilm]

Sentences: real HumanML3D captions (``../shared/data/humanml3d/captions-partial``). Prints sentences/s of each way,
the largest difference between them and the machine.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from motiongen.text.encoders import TextFeatureStore, load_text_encoder

CAPTIONS = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "humanml3d" / "captions-partial" / \
    "captions_2427_ids.json"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sentences", type=int, default=1000)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--encoder", default="minilm")
    args = ap.parse_args()
    caps = json.loads(CAPTIONS.read_text())
    texts = list(dict.fromkeys(c[2] for rows in caps.values() for c in rows))[:args.sentences]
    enc = load_text_encoder(args.encoder, device=args.device)
    enc.encode(texts[:2])                                        # load the weights
    dev = torch.device(args.device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else (platform.processor() or platform.machine())
    print(f"device: {dev} ({name}), torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cpus; {len(texts)} distinct captions")
    t0 = time.perf_counter()
    single = [enc._encode_uncached([t])[0] for t in texts]
    t_single = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        store = TextFeatureStore(enc, tmp)
        t0 = time.perf_counter()
        store.add(texts, args.batch)
        t_batch = time.perf_counter() - t0
        store.save()
        t0 = time.perf_counter()
        again = TextFeatureStore(enc, tmp)
        again.load()
        t_load = time.perf_counter() - t0
        size = store.path.stat().st_size
    got = again.encode(texts)
    diff = max(float((got.tokens[i, :tok.shape[0]] - tok).abs().max()) for i, (tok, _) in enumerate(single))
    print(f"one sentence per pass: {len(texts) / t_single:8.1f} sentences/s")
    print(f"batches of {args.batch:<4d}       : {len(texts) / t_batch:8.1f} sentences/s "
          f"({t_single / t_batch:.1f}x)")
    print(f"read from the cache   : {len(texts) / t_load:8.1f} sentences/s ({size / 1e6:.1f} MB file)")
    print(f"largest difference batched vs one per pass: {diff:.2e}")


if __name__ == "__main__":
    main()
