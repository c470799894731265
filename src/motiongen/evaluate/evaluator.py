"""The Guo et al. (2022) text-motion matching evaluator, loaded from its released files or trained on our data.

Architecture (as released with HumanML3D, ``text2motion/networks/modules.py``):

* movement encoder: Conv1d(D-4 -> 512, k4 s2) -> Dropout(0.2) -> LeakyReLU -> Conv1d(512 -> 512, k4 s2) -> Dropout
  -> LeakyReLU -> Linear(512, 512) — features without the 4 foot contacts, normalised with the evaluator's own
  statistics, one output per 4 frames;
* motion encoder: Linear(512, 1024) -> BiGRU(1024) -> [last states of both directions] -> Linear(2048, 1024) ->
  LayerNorm -> LeakyReLU -> Linear(1024, 512);
* text encoder: GloVe word vector (300) + Linear(POS one-hot (15) -> 300) -> Linear(300, 512) -> BiGRU(512) ->
  Linear(1024, 512) -> LayerNorm -> LeakyReLU -> Linear(512, 512). Captions are 'sos' + at most 20 tokens + 'eos'.

Two ways to get one: :func:`load_guo_evaluator` reads ``finest.tar`` plus the GloVe files
(``our_vab_data.npy``, ``our_vab_words.pkl``, ``our_vab_idx.pkl``) and the evaluator's ``mean.npy``/``std.npy``
from the user's copy of the HumanML3D evaluation assets; :func:`train_evaluator` trains the same architecture
with the same contrastive objective on any dataset in the standard layout (word vectors learned from its
captions when no GloVe is given). Both are saved/loaded as an evaluator directory (safetensors + JSON).
"""
from __future__ import annotations

import io
import json
import os
import pickle
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from ..io_utils import atomic_write

__all__ = ["EvaluatorConfig", "GuoEvaluator", "load_evaluator", "load_guo_evaluator", "save_evaluator",
           "train_evaluator", "POS_ENUMERATOR", "EvaluatorError"]

POS_ENUMERATOR = {"VERB": 0, "NOUN": 1, "DET": 2, "ADP": 3, "NUM": 4, "AUX": 5, "PRON": 6, "ADJ": 7, "ADV": 8,
                  "Loc_VIP": 9, "Body_VIP": 10, "Obj_VIP": 11, "Act_VIP": 12, "Desc_VIP": 13, "OTHER": 14}
VIP = {
    "Loc_VIP": ("left", "right", "clockwise", "counterclockwise", "anticlockwise", "forward", "back", "backward",
                "up", "down", "straight", "curve"),
    "Body_VIP": ("arm", "chin", "foot", "feet", "face", "hand", "mouth", "leg", "waist", "eye", "knee", "shoulder",
                 "thigh"),
    "Obj_VIP": ("stair", "dumbbell", "chair", "window", "floor", "car", "ball", "handrail", "baseball",
                "basketball"),
    "Act_VIP": ("walk", "run", "swing", "pick", "bring", "kick", "put", "squat", "throw", "hop", "dance", "jump",
                "turn", "stumble", "stop", "sit", "lift", "lower", "raise", "wash", "stand", "kneel", "stroll",
                "rub", "bend", "balance", "flap", "jog", "shuffle", "lean", "rotate", "spin", "spread", "climb"),
    "Desc_VIP": ("slowly", "carefully", "fast", "careful", "slow", "quickly", "happy", "angry", "sad", "happily",
                 "angrily", "sadly"),
}
WORD_TO_VIP = {w: k for k, words in VIP.items() for w in words}
FORMAT = "motiongen-evaluator"


class EvaluatorError(ValueError):
    pass


@dataclass
class EvaluatorConfig:
    feature_dim: int = 263
    word_dim: int = 300
    pos_dim: int = 15
    movement_hidden: int = 512
    movement_latent: int = 512
    motion_hidden: int = 1024
    text_hidden: int = 512
    embedding_dim: int = 512
    unit_length: int = 4
    max_text_len: int = 20
    word_source: str = "learned"       # glove | learned


class GuoEvaluator(nn.Module):
    def __init__(self, config: EvaluatorConfig, words: list[str], word_vectors: torch.Tensor | None = None,
                 mean: np.ndarray | None = None, std: np.ndarray | None = None):
        super().__init__()
        c = self.config = config
        self.words = list(words)
        self.word_index = {w: i for i, w in enumerate(self.words)}
        for special in ("sos", "eos", "unk"):
            if special not in self.word_index:
                raise EvaluatorError(f"the evaluator vocabulary lacks the '{special}' token")
        vecs = word_vectors if word_vectors is not None else torch.randn(len(words), c.word_dim) * 0.1
        self.word_vectors = nn.Parameter(vecs.float(), requires_grad=c.word_source == "learned")
        D = c.feature_dim - 4
        self.movement = nn.Sequential(nn.Conv1d(D, c.movement_hidden, 4, 2, 1), nn.Dropout(0.2),
                                      nn.LeakyReLU(0.2, inplace=True),
                                      nn.Conv1d(c.movement_hidden, c.movement_latent, 4, 2, 1), nn.Dropout(0.2),
                                      nn.LeakyReLU(0.2, inplace=True))
        self.movement_out = nn.Linear(c.movement_latent, c.movement_latent)
        self.motion_in = nn.Linear(c.movement_latent, c.motion_hidden)
        self.motion_gru = nn.GRU(c.motion_hidden, c.motion_hidden, batch_first=True, bidirectional=True)
        self.motion_h0 = nn.Parameter(torch.randn(2, 1, c.motion_hidden))
        self.motion_out = nn.Sequential(nn.Linear(2 * c.motion_hidden, c.motion_hidden),
                                        nn.LayerNorm(c.motion_hidden), nn.LeakyReLU(0.2, inplace=True),
                                        nn.Linear(c.motion_hidden, c.embedding_dim))
        self.pos_emb = nn.Linear(c.pos_dim, c.word_dim)
        self.text_in = nn.Linear(c.word_dim, c.text_hidden)
        self.text_gru = nn.GRU(c.text_hidden, c.text_hidden, batch_first=True, bidirectional=True)
        self.text_h0 = nn.Parameter(torch.randn(2, 1, c.text_hidden))
        self.text_out = nn.Sequential(nn.Linear(2 * c.text_hidden, c.text_hidden), nn.LayerNorm(c.text_hidden),
                                      nn.LeakyReLU(0.2, inplace=True), nn.Linear(c.text_hidden, c.embedding_dim))
        self.register_buffer("mean", torch.as_tensor(mean if mean is not None else np.zeros(c.feature_dim),
                                                     dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std if std is not None else np.ones(c.feature_dim),
                                                    dtype=torch.float32))

    # ---- motion ----------------------------------------------------------------------------------------------
    def motion_embedding(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """features (B, T, D) de-normalised; lengths (B,) frames -> (B, 512)."""
        c = self.config
        x = ((features - self.mean) / self.std)[..., :-4]
        valid = torch.arange(x.shape[1], device=x.device)[None] < lengths.to(x.device)[:, None]
        x = x * valid[..., None].to(x.dtype)     # zero padding after normalisation, as the reference loader does
        h = self.movement(x.transpose(1, 2)).transpose(1, 2)
        h = self.movement_out(h)
        units = (lengths // c.unit_length).clamp(min=1, max=h.shape[1])
        emb = self.motion_in(h)
        h0 = self.motion_h0.repeat(1, len(x), 1)
        packed = pack_padded_sequence(emb, units.cpu(), batch_first=True, enforce_sorted=False)
        _, last = self.motion_gru(packed, h0)
        return self.motion_out(torch.cat([last[0], last[1]], dim=-1))

    # ---- text ------------------------------------------------------------------------------------------------
    def tokens_to_tensors(self, token_lists: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """'word/POS' tokens -> word indices (B, L), POS one-hots (B, L, 15), lengths (B,)."""
        c = self.config
        L = c.max_text_len + 2
        idx = torch.full((len(token_lists), L), self.word_index["unk"], dtype=torch.long)
        pos = torch.zeros(len(token_lists), L, c.pos_dim)
        lens = torch.zeros(len(token_lists), dtype=torch.long)
        for b, toks in enumerate(token_lists):
            toks = ["sos/OTHER"] + list(toks)[:c.max_text_len] + ["eos/OTHER"]
            for i, tok in enumerate(toks):
                word, _, tag = tok.rpartition("/") if "/" in tok else (tok, "", "OTHER")
                word = word.lower()
                if word in self.word_index:
                    idx[b, i] = self.word_index[word]
                    tag = WORD_TO_VIP.get(word, tag)
                else:                  # Guo's WordVectorizer: an out-of-vocabulary word is 'unk' with tag OTHER
                    idx[b, i] = self.word_index["unk"]
                    tag = "OTHER"
                pos[b, i, POS_ENUMERATOR.get(tag, POS_ENUMERATOR["OTHER"])] = 1.0
            lens[b] = len(toks)
        return idx, pos, lens

    def text_embedding(self, token_lists: list[list[str]]) -> torch.Tensor:
        idx, pos, lens = self.tokens_to_tensors(token_lists)
        dev = self.word_vectors.device
        inputs = self.word_vectors[idx.to(dev)] + self.pos_emb(pos.to(dev))
        emb = self.text_in(inputs)
        h0 = self.text_h0.repeat(1, len(token_lists), 1)
        packed = pack_padded_sequence(emb, lens, batch_first=True, enforce_sorted=False)
        _, last = self.text_gru(packed, h0)
        return self.text_out(torch.cat([last[0], last[1]], dim=-1))


# ---- files ---------------------------------------------------------------------------------------------------
def save_evaluator(path: str | os.PathLike, ev: GuoEvaluator, info: dict | None = None) -> Path:
    from safetensors.torch import save_file
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu().contiguous() for k, v in ev.state_dict().items()}
    atomic_write(path / "model.safetensors", lambda p: save_file(state, str(p)))
    atomic_write(path / "vocab.json", lambda p: p.write_text(json.dumps(ev.words)))
    cfg = {"format": FORMAT, "config": asdict(ev.config), **(info or {})}
    atomic_write(path / "config.json", lambda p: p.write_text(json.dumps(cfg, indent=2) + "\n"))
    return path


def load_evaluator(path: str | os.PathLike, device: str = "cpu") -> GuoEvaluator:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    from ..models.base import config_from_dict
    path = Path(path)
    if (path / "finest.tar").is_file() and not (path / "config.json").is_file():
        return load_guo_evaluator(path, device=device)
    for name in ("config.json", "model.safetensors", "vocab.json"):
        if not (path / name).is_file():
            raise EvaluatorError(f"evaluator directory '{path}': '{name}' is missing (expected a folder from "
                                 f"`motiongen train-evaluator`, or Guo et al.'s files: see `motiongen evaluate -h`)")
    try:
        cfg = json.loads((path / "config.json").read_text())
        words = json.loads((path / "vocab.json").read_text())
        state = load_file(str(path / "model.safetensors"))
    except (json.JSONDecodeError, SafetensorError, OSError) as e:
        raise EvaluatorError(f"evaluator directory '{path}' has a corrupt file: {e}") from e
    if cfg.get("format") != FORMAT:
        raise EvaluatorError(f"'{path / 'config.json'}' is not a motiongen evaluator config")
    ec = config_from_dict(EvaluatorConfig, cfg["config"], where=str(path / "config.json"))
    ev = GuoEvaluator(ec, words)
    try:
        ev.load_state_dict(state)
    except RuntimeError as e:
        raise EvaluatorError(f"'{path / 'model.safetensors'}' does not match its config: {e}") from e
    return ev.to(device).eval()


class _SafeUnpickler(pickle.Unpickler):
    """Only plain containers and strings/numbers: the GloVe vocab pickles hold a list and a dict, nothing else."""

    def find_class(self, module, name):
        raise EvaluatorError(f"refusing to unpickle {module}.{name}: only plain lists/dicts are expected")


def _safe_pickle(path: Path):
    try:
        return _SafeUnpickler(io.BytesIO(path.read_bytes())).load()
    except EvaluatorError:
        raise
    except Exception as e:
        raise EvaluatorError(f"'{path}' could not be read: {e}") from e


def load_guo_evaluator(path: str | os.PathLike, glove_dir: str | os.PathLike | None = None,
                       device: str = "cpu") -> GuoEvaluator:
    """Guo et al.'s released evaluator: ``finest.tar`` (and ``mean.npy``/``std.npy``, the evaluator's statistics)
    in ``path``; GloVe ``our_vab_*`` files in ``glove_dir`` (default: ``path`` or ``path/glove``)."""
    path = Path(path)
    glove = Path(glove_dir) if glove_dir else (path / "glove" if (path / "glove").is_dir() else path)
    needed = [path / "finest.tar", path / "mean.npy", path / "std.npy", glove / "our_vab_data.npy",
              glove / "our_vab_words.pkl", glove / "our_vab_idx.pkl"]
    missing = [str(p) for p in needed if not p.is_file()]
    if missing:
        raise EvaluatorError("Guo et al.'s evaluator needs these files, which were not found: " + ", ".join(missing))
    ckpt = torch.load(path / "finest.tar", map_location="cpu", weights_only=True)
    vectors = np.load(glove / "our_vab_data.npy", allow_pickle=False)
    words = list(_safe_pickle(glove / "our_vab_words.pkl"))
    mean, std = np.load(path / "mean.npy"), np.load(path / "std.npy")
    cfg = EvaluatorConfig(feature_dim=int(mean.shape[0]), word_source="glove")
    if "unk" not in words:
        raise EvaluatorError(f"{glove / 'our_vab_words.pkl'}: no 'unk' entry")
    ev = GuoEvaluator(cfg, words, torch.as_tensor(vectors), mean, std)
    mapping = {"movement_encoder": {"main.0.": "movement.0.", "main.3.": "movement.3.", "out_net.": "movement_out."},
               "motion_encoder": {"input_emb.": "motion_in.", "gru.": "motion_gru.", "output_net.": "motion_out.",
                                  "hidden": "motion_h0"},
               "text_encoder": {"pos_emb.": "pos_emb.", "input_emb.": "text_in.", "gru.": "text_gru.",
                                "output_net.": "text_out.", "hidden": "text_h0"}}
    state = {}
    for part, renames in mapping.items():
        if part not in ckpt:
            raise EvaluatorError(f"'{path / 'finest.tar'}' has no '{part}' weights")
        for k, v in ckpt[part].items():
            for old, new in renames.items():
                if k.startswith(old):
                    state[new + k[len(old):]] = v
                    break
    state.update({"word_vectors": ev.word_vectors.detach(), "mean": ev.mean, "std": ev.std})
    try:
        ev.load_state_dict(state)
    except RuntimeError as e:
        raise EvaluatorError(f"'{path / 'finest.tar'}' does not match the Guo architecture: {e}") from e
    return ev.to(device).eval()


# ---- training ------------------------------------------------------------------------------------------------
def _contrastive_loss(text: torch.Tensor, motion: torch.Tensor, margin: float = 10.0, shift: int = 1):
    """Guo's loss: matched pairs pulled together, mismatched (the batch shifted) pushed beyond ``margin``."""
    pos = (text - motion).norm(dim=-1)
    neg = (text - motion.roll(shift, 0)).norm(dim=-1)
    return (pos ** 2).mean() + (torch.clamp(margin - neg, min=0) ** 2).mean()


SIZES = {"full": {}, "small": {"movement_hidden": 256, "movement_latent": 256, "motion_hidden": 256,
                                "text_hidden": 256, "embedding_dim": 256}}


def train_evaluator(data: str | os.PathLike, out: str | os.PathLike, epochs: int = 30, batch_size: int = 32,
                    lr: float = 1e-4, seed: int = 0, progress: bool = True, glove_dir: str | None = None,
                    device: str = "cpu", size: str = "full") -> Path:
    """Train a Guo-style evaluator on ``data`` (train split; the val split is reported) and save it to ``out``.

    ``size="full"`` is Guo et al.'s widths (BiGRU 1024 for motion); ``"small"`` the same architecture at width 256,
    about 16x cheaper, for CPUs."""
    if size not in SIZES:
        raise EvaluatorError(f"size must be one of {', '.join(SIZES)}, got '{size}'")
    from tqdm.auto import tqdm

    from ..data.dataset import MotionTextDataset
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise EvaluatorError(f"--out '{out}' exists and is not empty")
    torch.manual_seed(seed)
    train_ds = MotionTextDataset(data, "train", normalize=False, seed=seed)
    try:
        val_ds = MotionTextDataset(data, "val", normalize=False, seed=seed)
    except (FileNotFoundError, ValueError):
        val_ds = None                     # no validation split: train without the per-epoch report
    counts: dict[str, int] = {}
    for it in train_ds.items:
        for cap in it.captions:
            for tok in cap.tokens:
                w = tok.rpartition("/")[0].lower() if "/" in tok else tok.lower()
                counts[w] = counts.get(w, 0) + 1
    if glove_dir:
        g = Path(glove_dir)
        words = list(_safe_pickle(g / "our_vab_words.pkl"))
        vectors = torch.as_tensor(np.load(g / "our_vab_data.npy", allow_pickle=False))
        cfg = EvaluatorConfig(feature_dim=train_ds.spec.feature_dim, word_source="glove", **SIZES[size])
    else:
        words = ["sos", "eos", "unk"] + sorted(w for w, n in counts.items() if n >= 2 and w not in ("sos", "eos",
                                                                                                  "unk"))
        vectors = None
        cfg = EvaluatorConfig(feature_dim=train_ds.spec.feature_dim, word_source="learned", **SIZES[size])
    ev = GuoEvaluator(cfg, words, vectors, train_ds.mean, train_ds.std).to(device)
    opt = torch.optim.Adam([p for p in ev.parameters() if p.requires_grad], lr=lr)

    def batches(ds, epoch, shuffle=True):
        ds.set_epoch(epoch)
        order = np.random.default_rng((seed, epoch)).permutation(len(ds)) if shuffle else np.arange(len(ds))
        for s in range(0, len(order) - batch_size + 1, batch_size):
            items = [ds[int(i)] for i in order[s:s + batch_size]]
            yield (torch.as_tensor(np.stack([it["motion"] for it in items])).to(device),
                   torch.as_tensor([it["length"] for it in items]).to(device),
                   [it["tokens"].split() for it in items])

    log = []
    t0 = time.perf_counter()
    bar = tqdm(range(epochs), disable=not progress, desc="evaluator")
    for epoch in bar:
        ev.train()
        tot, n = 0.0, 0
        for motion, lengths, toks in batches(train_ds, epoch):
            loss = _contrastive_loss(ev.text_embedding(toks), ev.motion_embedding(motion, lengths))
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(ev.parameters(), 1.0)
            opt.step()
            tot, n = tot + loss.item(), n + 1
        ev.eval()
        with torch.no_grad():
            from .metrics import r_precision
            te, me = [], []
            for motion, lengths, toks in (batches(val_ds, 0, shuffle=False) if val_ds is not None else []):
                te.append(ev.text_embedding(toks).cpu().numpy())
                me.append(ev.motion_embedding(motion, lengths).cpu().numpy())
            if te and sum(len(t) for t in te) >= 32:
                top, mm = r_precision(np.concatenate(te), np.concatenate(me))
            else:
                top, mm = np.full(3, np.nan), float("nan")
        log.append({"epoch": epoch + 1, "train_loss": tot / max(n, 1), "val_top1": float(top[0]),
                    "val_top3": float(top[2]), "val_mm_dist": float(mm)})
        bar.set_postfix(loss=f"{tot / max(n, 1):.3f}", val_top3=f"{top[2]:.3f}")
    info = {"trained_on": str(data), "epochs": epochs, "size": size, "seconds": round(time.perf_counter() - t0, 1),
            "history": log}
    return save_evaluator(out, ev.cpu().eval(), info)
