"""Training: ``motiongen train --model finemogen|histf|baseline --data DIR --out RUN_DIR [--config FILE]``.

* Optimiser Adam or AdamW; learning-rate schedule constant, cosine or step, each with linear warm-up; gradient
  clipping; an exponential moving average (EMA) of the weights, which is what the finished model uses.
* Classifier-free guidance training: each caption is replaced by the null text with probability ``cond_drop``
  (10%, both papers).
* Determinism and exact resume: the batch of step s is a pure function of (seed, s) — an epoch permutation
  plus the dataset's (seed, epoch, index) crops — and the timesteps, noise, text dropout and dropout masks of
  step s come from generators seeded with (seed, s, rank). A resumed run therefore repeats an uninterrupted one
  bit for bit (on the same device). Checkpoints (``train_state.pt``: model, EMA, optimiser, schedule, step) are
  written atomically every ``checkpoint_every`` steps and at the end.
* Several processes: run under ``torchrun``; each rank takes its share of every global batch and gradients are
  averaged by DistributedDataParallel (gloo on CPU, nccl on GPU; gloo where ranks share a GPU). Rank r's device
  is ``cuda:LOCAL_RANK`` (modulo the GPUs present, :func:`device_for_rank`), set with ``torch.cuda.set_device``.
  The same command runs as one process.
* Throughput: batches are assembled by ``loader_workers`` DataLoader processes (auto: 0 on the CPU, where the
  main process is fastest, 4 on a GPU) into pinned memory; the captions' text features are computed once per
  corpus in batches on the training device and kept beside the corpus (``text_cache``,
  :class:`~motiongen.text.encoders.TextFeatureStore`); timesteps and noise are drawn on the device; the EMA is
  updated with ``torch._foreach_*`` ops; the loss is read back to the host only every ``log_every`` steps (a
  non-finite loss stops the run at the next such step, before any checkpoint is written).
* Mixed precision on GPU (bf16 autocast) with ``amp = true``. HiSTF's scan: ``scan_mode`` / ``scan_chunk``
  override the model's (``auto`` picks from the shapes and free memory). ``compile = true`` runs the denoiser
  through ``torch.compile`` on CUDA (refused on the CPU with a clear message). ``max_minutes`` ends a run (with a checkpoint)
  after a wall-clock budget — how models are compared fairly on a small CPU.
* ``RUN_DIR`` is a model directory (config.json, model.safetensors, mean.npy, std.npy) that
  ``motiongen generate --model RUN_DIR`` loads; ``log.csv`` holds the losses.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..diffusion.gaussian import FOOT_LABELS, PARAMETERIZATIONS, GaussianDiffusion, LossWeights
from ..io_utils import atomic_write
from ..models.base import config_from_dict
from ..models.condition import MotionCondition
from ..models.pretrained import update_model_files
from ..models.registry import build_denoiser
from ..text.encoders import load_text_encoder

__all__ = ["TrainConfig", "device_for_rank", "dist_backend_for", "ema_decay_at", "ema_update", "load_train_config",
           "train", "TrainError", "read_log", "LOG_COLUMNS"]


class TrainError(ValueError):
    pass


#: HiSTF trains with its geometric losses (appendix A.2, eq. 8); the paper gives no weights, these are ours,
#: chosen with benchmarks/loss_scales.py so that each term is a few tenths of the x0 loss at mid noise (docs/histf.md)
PAPER_GEOMETRIC_LOSSES = {"histf": {"loss_pos": 5.0, "loss_vel": 200.0, "loss_foot": 200.0}}


@dataclass
class TrainConfig:
    model: str = "finemogen"
    model_config: dict = field(default_factory=dict)   # overrides of the denoiser's defaults
    data: str = ""
    out: str = ""
    text_encoder: str = "minilm"
    clip_path: str = ""
    steps: int = 1000
    batch_size: int = 64                # global batch, split over ranks
    optimizer: str = "adamw"            # adam | adamw
    lr: float = 2e-4
    weight_decay: float = 0.0
    betas: tuple = (0.9, 0.999)
    schedule: str = "cosine"            # constant | cosine | step
    warmup_steps: int = 100
    step_size: int = 100000             # for schedule = step
    step_gamma: float = 0.1
    min_lr_ratio: float = 0.0           # cosine floor, as a fraction of lr
    grad_clip: float = 1.0
    ema_decay: float = 0.999
    cond_drop: float = 0.1
    # defaults are the papers' (both predict x0); "skip" is our addition (x0 = sqrt(abar) x_t + sqrt(1-abar) F;
    # gaussian.py, docs/finemogen.md), chosen in configs/*_cpu_small.toml
    parameterization: str = "x0"
    x0_lowpass_hz: float = 0.0          # band-limit the x0 estimate along time (diffusion/bandlimit.py); 0 = off
    init_from: str = ""                 # start from this model folder's weights (fine-tuning); "" = random init
    loss_simple: float = 1.0
    # geometric losses (HiSTF appendix A.2, eq. 8); None = the model's paper: on for HiSTF (at our weights, the
    # paper gives none: PAPER_GEOMETRIC_LOSSES), off for FineMoGen and the MDM-style baseline
    loss_pos: float | None = None
    loss_foot: float | None = None
    loss_vel: float | None = None
    loss_contact: float = 0.0           # ours: contact channels vs. planted feet (diffusion/gaussian.py, docs/feet.md)
    foot_labels: str = "channels"       # eq. 6's contact labels: channels (the paper) | motion (ours: planted feet)
    max_frames: int = 196
    mirror: float = 0.0                 # ours: share of drawn clips mirrored left/right, captions' sides swapped
    balance_actions: float = 0.0        # ours: draw clips with probability ~ 1 / count(action) ** this (clips.csv)
    reword: bool = False                # ours: meaning-preserving caption rewording (motiongen.data.augment)
    part_texts: float = 0.0             # ours: share of drawn clips whose still parts read their own text (FineMoGen)
    seed: int = 0
    checkpoint_every: int = 500
    log_every: int = 10
    amp: bool = False
    max_minutes: float = 0.0            # stop (and save) after this much wall-clock time; 0 = no limit
    device: str = "auto"                # auto | cpu | cuda
    sampler: str = ""                   # default sampler written into the model's config.json
    sampler_steps: int = 0
    guidance_scale: float = 2.5
    guidance_schedule: str = "constant"
    loader_workers: int = -1            # DataLoader processes; -1 = auto (0 on the CPU, 4 on a GPU)
    pin_memory: bool = True             # page-locked batches (GPU only)
    text_cache: str = "auto"            # text features on disk: auto (beside the corpus) | off | a folder
    text_batch_size: int = 256          # sentences per encoder pass when filling the text cache
    scan_mode: str = ""                 # HiSTF scan override: "" = the model's (auto) | sequential | chunked | ...
    scan_chunk: int = 0                 # HiSTF chunked-scan length; 0 = the model's (16)
    compile: bool = False               # torch.compile the denoiser (CUDA only)
    dist_backend: str = "auto"          # auto (nccl with one GPU per rank, else gloo) | nccl | gloo

    def __post_init__(self):
        paper = PAPER_GEOMETRIC_LOSSES.get(self.model, {})
        for name in ("loss_pos", "loss_foot", "loss_vel"):
            v = getattr(self, name)
            if v is None:
                setattr(self, name, float(paper.get(name, 0.0)))
            elif isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ValueError(f"{name}: expected a number, got {v!r}")
            else:
                setattr(self, name, float(v))

    def loss_weights(self) -> LossWeights:
        return LossWeights(self.loss_simple, self.loss_pos, self.loss_foot, self.loss_vel, self.loss_contact,
                           self.foot_labels)


def _toml_loads(text: str) -> dict:
    """TOML with the standard library (3.11+) or its backport ``tomli`` (Python 3.10)."""
    try:
        import tomllib
    except ImportError:
        try:
            import tomli as tomllib
        except ImportError as e:
            raise TrainError("TOML configs on Python 3.10 need the 'tomli' package (pip install tomli), or use "
                             "a JSON config") from e
    return tomllib.loads(text)


#: the columns of a run's ``log.csv``, in order (its header)
LOG_COLUMNS = ("step", "loss", "simple", "aux", "lr", "steps_per_s")


def read_log(path: str | os.PathLike) -> list[dict[str, float]]:
    """The rows of a run's ``log.csv`` (the run folder or the file), each ``{column: value}`` by its header."""
    import csv
    p = Path(path)
    p = p / "log.csv" if p.is_dir() else p
    with open(p, newline="", encoding="utf-8") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


def ema_decay_at(decay: float, step: int) -> float:
    """The EMA decay used after optimiser step ``step`` (0-based): min(decay, (1 + step) / (10 + step)).

    Without a warm-up, a decay of 0.999 leaves 0.999^1000 = 37% of the random initialisation in the weights
    after 1000 steps; with it, the initialisation's share after n steps is 9! n! / (n + 9)! (about 1e-21 at
    n = 1000), and the average covers roughly the last 10% of steps until the ramp reaches ``decay``."""
    return min(decay, (1.0 + step) / (10.0 + step))


def load_train_config(path: str | os.PathLike | None, overrides: dict | None = None) -> TrainConfig:
    """Read a TOML/YAML/JSON file (keys = TrainConfig fields) and apply ``overrides`` (None values ignored)."""
    data: dict = {}
    if path:
        p = Path(path)
        if not p.is_file():
            raise TrainError(f"config file '{p}' does not exist")
        text = p.read_text()
        try:
            if p.suffix == ".toml":
                data = _toml_loads(text)
            elif p.suffix in (".yaml", ".yml"):
                try:
                    import yaml
                except ImportError as e:
                    raise TrainError(f"'{p}': YAML configs need PyYAML (pip install pyyaml), or use TOML") from e
                data = yaml.safe_load(text) or {}
            elif p.suffix == ".json":
                data = json.loads(text)
            else:
                raise TrainError(f"config file '{p}': expected .toml, .yaml or .json")
        except TrainError:
            raise
        except Exception as e:  # parse errors of any of the three formats
            raise TrainError(f"config file '{p}' could not be parsed: {e}") from e
    for k, v in (overrides or {}).items():
        if v is not None:
            data[k] = v
    try:
        cfg = config_from_dict(TrainConfig, data, where=str(path or "train config"))
    except (TypeError, ValueError) as e:
        raise TrainError(str(e)) from e
    if cfg.optimizer not in ("adam", "adamw"):
        raise TrainError(f"optimizer must be 'adam' or 'adamw', got '{cfg.optimizer}'")
    if cfg.parameterization not in PARAMETERIZATIONS:
        raise TrainError(f"parameterization must be one of {', '.join(PARAMETERIZATIONS)}, got '{cfg.parameterization}'")
    if cfg.foot_labels not in FOOT_LABELS:
        raise TrainError(f"foot_labels must be one of {', '.join(FOOT_LABELS)}, got '{cfg.foot_labels}'")
    if cfg.schedule not in ("constant", "cosine", "step"):
        raise TrainError(f"schedule must be constant, cosine or step, got '{cfg.schedule}'")
    ranges = {"steps": (1, 10 ** 9), "batch_size": (1, 65536), "checkpoint_every": (1, 10 ** 9),
              "log_every": (1, 10 ** 9), "warmup_steps": (0, 10 ** 9), "step_size": (1, 10 ** 9),
              "max_frames": (8, 100_000), "lr": (0.0, 10.0), "weight_decay": (0.0, 10.0), "grad_clip": (0.0, 1e6),
              "ema_decay": (0.0, 0.999999), "min_lr_ratio": (0.0, 1.0), "step_gamma": (0.0, 1.0),
              "loss_simple": (0.0, 1e6), "loss_pos": (0.0, 1e6), "loss_foot": (0.0, 1e6), "loss_vel": (0.0, 1e6),
              "loss_contact": (0.0, 1e6), "mirror": (0.0, 1.0), "balance_actions": (0.0, 1.0),
              "part_texts": (0.0, 1.0),
              "max_minutes": (0.0, 1e7), "x0_lowpass_hz": (0.0, 10.0), "guidance_scale": (0.0, 100.0), "sampler_steps": (0, 1000),
              "loader_workers": (-1, 256), "text_batch_size": (1, 65536), "scan_chunk": (0, 4096)}
    for name, (lo, hi) in ranges.items():
        v = getattr(cfg, name)
        if not lo <= v <= hi:
            raise TrainError(f"{name} must be between {lo:g} and {hi:g}, got {v!r}")
    if not 0 <= cfg.cond_drop < 1:
        raise TrainError(f"cond_drop must be in [0, 1), got {cfg.cond_drop}")
    if len(cfg.betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in cfg.betas):
        raise TrainError(f"betas must be two numbers in [0, 1), got {cfg.betas!r}")
    if cfg.device not in ("auto", "cpu", "cuda") and not str(cfg.device).startswith("cuda:"):
        raise TrainError(f"device must be auto, cpu or cuda, got {cfg.device!r}")
    if str(cfg.device).startswith("cuda") and not torch.cuda.is_available():
        raise TrainError("device=cuda was asked for but no CUDA GPU is available to torch")
    if cfg.dist_backend not in ("auto", "nccl", "gloo"):
        raise TrainError(f"dist_backend must be auto, nccl or gloo, got {cfg.dist_backend!r}")
    from ..models.histf.ssm import SCAN_MODES
    if cfg.scan_mode and cfg.scan_mode not in SCAN_MODES:
        raise TrainError(f"scan_mode must be one of {', '.join(SCAN_MODES)} (or empty), got {cfg.scan_mode!r}")
    if (cfg.scan_mode or cfg.scan_chunk) and cfg.model != "histf":
        raise TrainError("scan_mode and scan_chunk are HiSTF settings; this run trains " + repr(cfg.model))
    return cfg


def lr_factor(cfg: TrainConfig, step: int) -> float:
    """Multiplier of cfg.lr at ``step`` (0-based): linear warm-up, then the schedule."""
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "cosine":
        span = max(1, cfg.steps - cfg.warmup_steps)
        prog = min(1.0, (step - cfg.warmup_steps) / span)
        return cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * prog))
    if cfg.schedule == "step":
        return cfg.step_gamma ** ((step - cfg.warmup_steps) // cfg.step_size)
    return 1.0


def _dist():
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return world, rank


def device_for_rank(requested: str, local_rank: int, cuda_devices: int) -> torch.device:
    """The device of the process with ``local_rank`` (torchrun's LOCAL_RANK) on a node with ``cuda_devices`` GPUs.

    ``auto``/``cuda``: GPU ``local_rank`` (modulo the count, so several ranks may share one GPU, e.g. a 2-process
    test on one card), ``auto`` the CPU where there is no GPU; ``cuda:N``: that GPU; ``cpu``: the CPU."""
    requested = str(requested)
    if requested == "cpu" or (requested == "auto" and cuda_devices < 1):
        return torch.device("cpu")
    if cuda_devices < 1:
        raise TrainError(f"device={requested} was asked for but no CUDA GPU is available to torch")
    if requested.startswith("cuda:"):
        index = int(requested.split(":", 1)[1])
        if not 0 <= index < cuda_devices:
            raise TrainError(f"device={requested}: this node has {cuda_devices} GPU(s) (cuda:0..cuda:{cuda_devices - 1})")
        return torch.device("cuda", index)
    return torch.device("cuda", local_rank % cuda_devices)


def dist_backend_for(requested: str, device: torch.device, local_world: int, cuda_devices: int) -> str:
    """``auto``: nccl when every rank of the node has a GPU of its own, gloo on the CPU or when ranks share a GPU
    (NCCL refuses two ranks on one device)."""
    if requested != "auto":
        return requested
    if device.type == "cuda" and local_world <= cuda_devices:
        return "nccl"
    return "gloo"


def ema_update(ema: list[torch.Tensor], values: list[torch.Tensor], decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * value for float32 lists, as two ``torch._foreach_*`` kernels per dtype
    group (one launch for all tensors, not one per tensor); the same arithmetic, element by element, as the
    per-tensor ``ema.mul_(decay).add_(value, alpha=1 - decay)``."""
    if not ema:
        return
    torch._foreach_mul_(ema, decay)
    torch._foreach_add_(ema, values, alpha=1 - decay)


class _Batches(torch.utils.data.Dataset):
    """This rank's part of the global batch of step s: a pure function of (seed, s), so DataLoader workers
    (each with its own copy) give the same batches as the main process."""

    def __init__(self, dataset, batch_size: int, seed: int, world: int, rank: int, balance: float = 0.0):
        self.ds, self.bs, self.seed, self.world, self.rank = dataset, batch_size, seed, world, rank
        self.per_epoch = len(dataset) // batch_size
        if self.per_epoch < 1:
            raise TrainError(f"the training split has {len(dataset)} items, fewer than batch_size={batch_size}")
        self._perm_epoch, self._perm = -1, None
        self.weights = None
        if balance:
            try:
                self.weights = dataset.balanced_weights(balance)
            except ValueError as e:
                raise TrainError(f"balance_actions: {e}") from e

    def indices(self, step: int) -> np.ndarray:
        """This rank's dataset indices at ``step``: a per-epoch permutation, or with ``balance`` a weighted draw
        (with replacement) seeded by the step, so a resumed run draws the same batches."""
        step = int(step)
        if self.weights is not None:
            glob = np.random.default_rng((self.seed, 1, step)).choice(len(self.ds), size=self.bs, p=self.weights)
            # a rare clip is drawn many times an epoch: each draw gets its own crop, caption and mirror coin
            self.ds.set_epoch(step)
            return glob[self.rank::self.world]
        epoch, within = divmod(step, self.per_epoch)
        if epoch != self._perm_epoch:
            self._perm = np.random.default_rng((self.seed, epoch)).permutation(len(self.ds))
            self._perm_epoch = epoch
            self.ds.set_epoch(epoch)
        glob = self._perm[within * self.bs:(within + 1) * self.bs]
        return glob[self.rank::self.world]

    def __getitem__(self, step: int) -> dict:
        idx = self.indices(step)
        items = [self.ds[int(i)] for i in idx]
        return {"motion": torch.as_tensor(np.stack([it["motion"] for it in items])),
                "mask": torch.as_tensor(np.stack([it["mask"] for it in items])),
                "text": [it["text"] for it in items], "parts": [it.get("parts", {}) for it in items]}

    __call__ = __getitem__


def _batch_stream(batches: _Batches, start: int, end: int, workers: int, pin: bool):
    """Batches of steps start..end-1 in order: from the main process (workers = 0) or from a DataLoader."""
    if workers <= 0:
        for step in range(start, end):
            b = batches[step]
            yield {**b, "motion": b["motion"].pin_memory(), "mask": b["mask"].pin_memory()} if pin else b
        return
    loader = torch.utils.data.DataLoader(batches, batch_size=None, sampler=range(start, end), num_workers=workers,
                                         pin_memory=pin, prefetch_factor=4, persistent_workers=False)
    yield from loader


def _training_condition(texts, batch: dict, with_parts: bool) -> MotionCondition:
    """The batch's condition: one sentence per clip, or with ``with_parts`` FineMoGen's 1 + 7 groups per clip
    (the caption, then each part's text: its own where the clip names it (``batch["parts"]``), else the caption,
    which is what a part reads from a plain sentence at sampling)."""
    if not with_parts:
        return MotionCondition(texts.encode(batch["text"]))
    from ..skeleton import FINEMOGEN_PART_NAMES
    flat = [t for text, parts in zip(batch["text"], batch["parts"])
            for t in [text, *(parts.get(p, text) for p in FINEMOGEN_PART_NAMES)]]
    return MotionCondition(texts.encode(flat), 1, 1 + len(FINEMOGEN_PART_NAMES))


def _caption_texts(dataset) -> list[str]:
    """Every caption a training item can draw, and its left/right mirror when mirroring is on (rewordings are
    encoded when drawn), and the part texts when the items name still parts."""
    from ..data.augment import swap_left_right
    texts = [c.text for it in dataset.items for c in it.captions]
    if dataset.mirror:
        texts += [swap_left_right(t) for t in texts]
    if getattr(dataset, "part_texts", 0):
        from ..data.parts import STILL_ARM_TEXT, STILL_LEGS_TEXT
        texts += [STILL_LEGS_TEXT, STILL_ARM_TEXT]
    return list(dict.fromkeys(texts))


def _text_store(cfg: TrainConfig, encoder, dataset, distributed: bool, is_main: bool, log):
    """The corpus's text features: loaded from the cache file, the missing ones encoded in batches (rank 0 writes
    the file; the other ranks wait for it and read it)."""
    from ..text.encoders import TextFeatureStore
    folder = None if cfg.text_cache in ("off", "") else Path(cfg.data if cfg.text_cache == "auto" else cfg.text_cache)
    store = TextFeatureStore(encoder, folder)
    texts = _caption_texts(dataset)
    if distributed and folder is not None and not is_main:
        torch.distributed.barrier()              # rank 0 fills the file first
    n_read = store.load()
    t0 = time.perf_counter()
    n_new = store.add(texts, cfg.text_batch_size)
    if n_new:
        log(f"encoded {n_new} captions in {time.perf_counter() - t0:.1f} s on {encoder.device} "
            f"({n_read} read from the cache)")
    if n_new and folder is not None and is_main:
        try:
            store.save()
            log(f"text features cached in {store.path}")
        except OSError as e:                     # a read-only corpus: keep them in memory
            log(f"note: could not write the text cache {store.path} ({e}); features stay in memory")
    if distributed and folder is not None and is_main:
        torch.distributed.barrier()
    return store


def _state_path(out: Path) -> Path:
    return out / "train_state.pt"


def train(cfg: TrainConfig, resume: bool = False, progress: bool = True, stop_after: int | None = None,
          return_model: bool = False):
    """Run (or resume) training; returns RUN_DIR (and the trained module with ``return_model``).
    ``stop_after`` ends the run after that many steps, as an interruption would (tests of resume)."""
    from ..data.dataset import MotionTextDataset

    world, rank = _dist()
    distributed = world > 1
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda_devices = torch.cuda.device_count() if torch.cuda.is_available() else 0
    device = device_for_rank(cfg.device, local_rank, cuda_devices)
    if device.type == "cuda":
        torch.cuda.set_device(device)            # NCCL and every bare .cuda() use this rank's GPU
    if cfg.compile and device.type != "cuda":
        raise TrainError("compile = true is for CUDA (torch.compile of the denoiser); this run is on the CPU, "
                         "where HiSTF's fused scan is already the fast path")
    if distributed and not torch.distributed.is_initialized():
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", str(world)))
        backend = dist_backend_for(cfg.dist_backend, device, local_world, cuda_devices)
        torch.distributed.init_process_group(backend, **({"device_id": device} if backend == "nccl" else {}))
    if not cfg.data:
        raise TrainError("give the dataset folder (--data DIR)")
    if not cfg.out:
        raise TrainError("give the run folder (--out RUN_DIR)")
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise TrainError(f"--out '{out}' is a file; the run folder must be a directory")
    state_file = _state_path(out)
    if resume and not state_file.is_file():
        raise TrainError(f"--resume: no checkpoint at '{state_file}'")
    if not resume and out.exists() and any(out.iterdir()):
        raise TrainError(f"--out '{out}' exists and is not empty; pass --resume to continue it or choose another "
                         f"folder")
    is_main = rank == 0
    dataset = MotionTextDataset(cfg.data, "train", max_frames=cfg.max_frames, seed=cfg.seed, mirror=cfg.mirror,
                                reword=cfg.reword, part_texts=cfg.part_texts)
    D = dataset.spec.feature_dim
    encoder = load_text_encoder(cfg.text_encoder, cfg.clip_path or None, device=device)
    texts = _text_store(cfg, encoder, dataset, distributed, is_main,
                        log=(lambda m: print(m, flush=True)) if (progress and is_main) else (lambda m: None))
    torch.manual_seed(cfg.seed)
    try:
        model = build_denoiser(cfg.model, feature_dim=D, text_dim=encoder.dim, **cfg.model_config).to(device)
    except (TypeError, ValueError) as e:
        raise TrainError(f"model_config: {e}") from e
    if cfg.part_texts and not model.supports_plans:
        raise TrainError(f"part_texts: the {cfg.model} model reads one sentence, not per-part texts; set "
                         f"part_texts = 0")
    if cfg.model == "histf":
        from ..models.histf.ssm import configure_scans
        configure_scans(model, cfg.scan_mode or None, cfg.scan_chunk or None)
    lineage = {"steps": 0, "hours": 0.0, "device": device.type}      # training before this run (init_from)
    if cfg.init_from and not resume:
        lineage = _load_initial_weights(model, cfg, dataset, device.type)
    ema = {k: v.detach().clone().float() for k, v in model.state_dict().items()}
    params = [p for p in model.parameters() if p.requires_grad]
    opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
    optimizer = opt_cls(params, lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay)
    start_step = 0
    if resume:
        try:
            state = torch.load(state_file, map_location="cpu", weights_only=True)
            saved = state["config"]
            _ = state["model"], state["ema"], state["optimizer"], int(state["step"])
        except Exception as e:        # truncated, not a checkpoint, or from something else entirely
            raise TrainError(f"--resume: '{state_file}' is not a readable motiongen checkpoint ({e}); start a new "
                             f"run in another folder") from e
        legacy = {"parameterization": "x0", "x0_lowpass_hz": 0.0}    # runs saved before the fields existed
        for key in ("model", "model_config", "seed", "batch_size", "text_encoder", "parameterization",
                    "x0_lowpass_hz"):
            if saved.get(key, legacy.get(key)) != json.loads(json.dumps(getattr(cfg, key))):
                raise TrainError(f"--resume: the run was started with {key}={saved.get(key, legacy.get(key))!r}, now "
                                 f"{getattr(cfg, key)!r}; resume with the same settings")
        model.load_state_dict(state["model"])
        if "mean" in state:         # the statistics the run trains in (the init_from model's, when it had its own)
            dataset.mean, dataset.std = state["mean"].numpy(), state["std"].numpy()
        lineage = state.get("lineage", lineage)
        ema = {k: v.to(device=device, dtype=torch.float32) for k, v in state["ema"].items()}
        optimizer.load_state_dict(state["optimizer"])
        start_step = int(state["step"])
    own = model.state_dict()
    ema_keys = [k for k, v in own.items() if v.is_floating_point()]
    ema_float = [ema[k] for k in ema_keys]
    ema_other = [(ema[k], v) for k, v in own.items() if not v.is_floating_point()]
    live_float = [own[k] if own[k].dtype == torch.float32 else None for k in ema_keys]
    net = model
    if distributed:
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda"
                                                        else None)
    if cfg.compile:
        net = torch.compile(net)
    diffusion = GaussianDiffusion(parameterization=cfg.parameterization, x0_lowpass_hz=cfg.x0_lowpass_hz)
    mean_t = torch.as_tensor(dataset.mean, device=device)
    std_t = torch.as_tensor(dataset.std, device=device)
    batches = _Batches(dataset, cfg.batch_size, cfg.seed, world, rank, balance=cfg.balance_actions)
    weights = cfg.loss_weights()
    if is_main:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "train_config.json",
                     lambda p: p.write_text(json.dumps(dataclasses.asdict(cfg), indent=2) + "\n"))
    log_path = out / "log.csv"
    if is_main and resume and log_path.exists():      # rows logged after the checkpoint we resume from go
        lines = log_path.read_text().splitlines()
        keep = lines[:1] + [r for r in lines[1:] if r.split(",")[0].isdigit() and int(r.split(",")[0]) <= start_step]
        if len(keep) != len(lines):
            atomic_write(log_path, lambda p: p.write_text("\n".join(keep) + "\n"))
    if is_main and not log_path.exists():
        log_path.write_text(",".join(LOG_COLUMNS) + "\n")
    from tqdm.auto import tqdm
    bar = tqdm(total=cfg.steps, initial=start_step, disable=not (progress and is_main), desc="training")
    model.train()
    t_last, steps_since = time.perf_counter(), 0
    t_start = t_last
    lineage = {**lineage, "run_hours_before": float(state.get("run_hours", 0.0)) if resume else 0.0}
    end = cfg.steps if stop_after is None else min(cfg.steps, stop_after)
    workers = cfg.loader_workers if cfg.loader_workers >= 0 else (4 if device.type == "cuda" else 0)
    pin = cfg.pin_memory and device.type == "cuda"
    finite = torch.ones((), dtype=torch.bool, device=device)       # all losses since the last check finite
    stream = _batch_stream(batches, start_step, end, workers, pin)
    for step, batch in zip(range(start_step, end), stream):
        torch.manual_seed(cfg.seed * 1_000_003 + step * world + rank)        # dropout masks
        gen = torch.Generator(device=device).manual_seed(cfg.seed * 7_919 + step * world + rank + 1)
        x0 = batch["motion"].to(device, non_blocking=True)
        mask = batch["mask"].to(device, non_blocking=True)
        B = x0.shape[0]
        t = torch.randint(0, diffusion.num_timesteps, (B,), generator=gen, device=device)
        noise = torch.randn(x0.shape, generator=gen, device=device)
        drop = torch.rand(B, generator=gen, device=device) < cfg.cond_drop
        cond = _training_condition(texts, batch, cfg.part_texts > 0).to(device).dropped(drop)
        lr = cfg.lr * lr_factor(cfg, step)
        for g in optimizer.param_groups:
            g["lr"] = lr
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cfg.amp and device.type == "cuda"):
            losses = diffusion.training_losses(net, x0, mask, cond, weights=weights, timesteps=t, noise=noise,
                                               mean=mean_t, std=std_t)
        optimizer.zero_grad(set_to_none=True)
        losses["loss"].backward()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
        optimizer.step()
        with torch.no_grad():
            decay = ema_decay_at(cfg.ema_decay, step)
            values = [v if v is not None else own[k].detach().float() for k, v in zip(ema_keys, live_float)]
            ema_update(ema_float, values, decay)
            for e, v in ema_other:
                e.copy_(v)
            finite &= torch.isfinite(losses["loss"].detach())
        steps_since += 1
        bar.update(1)
        done = step + 1
        log_now = done % cfg.log_every == 0 or done == end
        checkpoint_now = done % cfg.checkpoint_every == 0 or done == end
        if log_now or checkpoint_now:                 # the one host sync: every log_every steps
            if not bool(finite):
                raise TrainError(f"step {step}: the loss is not finite (checked every log_every={cfg.log_every} "
                                 f"steps); lower the learning rate (lr={cfg.lr})")
        if is_main and log_now:
            loss_val = float(losses["loss"].detach())
            now = time.perf_counter()
            sps = steps_since / max(now - t_last, 1e-9)
            t_last, steps_since = now, 0
            bar.set_postfix(loss=f"{loss_val:.4f}", steps_s=f"{sps:.2f}")
            aux = float(losses.get("aux", torch.tensor(0.0)).detach())
            with open(log_path, "a") as f:
                f.write(f"{done},{loss_val:.6f},{float(losses['simple'].detach()):.6f},{aux:.6f},{lr:.3e},{sps:.3f}\n")
        out_of_time = bool(cfg.max_minutes) and time.perf_counter() - t_start > 60 * cfg.max_minutes
        if distributed and cfg.max_minutes and (log_now or checkpoint_now):   # every rank stops at the same step
            flag = torch.tensor([float(out_of_time)], device=device)
            torch.distributed.all_reduce(flag, op=torch.distributed.ReduceOp.MAX)
            out_of_time = bool(flag.item())
        elif distributed:
            out_of_time = False
        if out_of_time:
            end = done
            checkpoint_now = True
        if checkpoint_now:
            if is_main:
                run_hours = lineage["run_hours_before"] + (time.perf_counter() - t_start) / 3600
                _save(out, model, ema, optimizer, done, cfg, dataset, encoder, lineage, run_hours, device.type)
            if distributed:
                torch.distributed.barrier()
        if out_of_time:
            break
    bar.close()
    if distributed and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
    return (out, model) if return_model else out


def _load_initial_weights(model, cfg: TrainConfig, dataset, device_type: str) -> dict:
    """``init_from``: copy a model folder's weights into ``model`` (read and checked by ``load_model_dir``). The
    model type and the architecture must be the same. The weights work in the normalised feature space of their
    own Mean/Std, so when the dataset's statistics differ (a new or a larger corpus) the run keeps the initial
    model's statistics (``dataset.mean``/``dataset.std`` are replaced and the run folder writes them), and every
    run adds to the last. Returns the training before this run: ``{"steps", "hours", "device"}`` (the folder's
    ``training.total_steps`` and ``training.total_hours``, or its ``steps`` for folders without them)."""
    from ..models.pretrained import ModelFileError, load_model_dir
    try:
        init, info, init_mean, init_std = load_model_dir(cfg.init_from)
    except ModelFileError as e:
        raise TrainError(f"init_from: {e}") from e
    own = model.state_dict()
    theirs = init.state_dict()
    if info.get("model_type") != cfg.model or set(theirs) != set(own) or \
            any(theirs[k].shape != own[k].shape for k in own):
        raise TrainError(f"init_from: '{cfg.init_from}' holds a {info.get('model_type')} model that does not fit "
                         f"model={cfg.model!r} with this model_config (different architecture)")
    if init_mean.shape != dataset.mean.shape:
        raise TrainError(f"init_from: '{cfg.init_from}' has {init_mean.shape[-1]}-dim features, the dataset "
                         f"{dataset.mean.shape[-1]}")
    if not (np.allclose(init_mean, dataset.mean, atol=1e-4) and np.allclose(init_std, dataset.std, atol=1e-4)):
        print(f"init_from: the dataset's Mean/Std differ from '{cfg.init_from}'s; training in the initial model's "
              f"normalisation (its mean.npy/std.npy are kept)", file=sys.stderr)
        dataset.mean, dataset.std = init_mean.astype(np.float32), init_std.astype(np.float32)
    model.load_state_dict(theirs)
    before = info.get("training", {}) if isinstance(info.get("training"), dict) else {}
    steps = before.get("total_steps", before.get("steps", 0))
    hours = before.get("total_hours", 0.0)
    return {"steps": int(steps) if isinstance(steps, (int, float)) else 0,
            "hours": float(hours) if isinstance(hours, (int, float)) else 0.0,
            "device": str(before.get("total_device", device_type))}


def _save(out: Path, model, ema: dict, optimizer, step: int, cfg: TrainConfig, dataset, encoder, lineage: dict,
          run_hours: float, device_type: str) -> None:
    state = {"model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "ema": {k: v.cpu() for k, v in ema.items()}, "optimizer": optimizer.state_dict(), "step": step,
             "config": json.loads(json.dumps(dataclasses.asdict(cfg))),
             "mean": torch.as_tensor(dataset.mean), "std": torch.as_tensor(dataset.std),
             "lineage": {k: lineage[k] for k in ("steps", "hours", "device")}, "run_hours": run_hours}
    atomic_write(_state_path(out), lambda p: torch.save(state, p), suffix=".pt")
    sampler, steps = model.default_sampler
    info = {"skeleton": dataset.spec.name, "text_encoder": encoder.spec(), "fps": 20.0,
            "diffusion": GaussianDiffusion(parameterization=cfg.parameterization,
                                           x0_lowpass_hz=cfg.x0_lowpass_hz).config(),
            "sampling": {"sampler": cfg.sampler or sampler, "steps": cfg.sampler_steps or steps,
                         "guidance_scale": cfg.guidance_scale, "guidance_schedule": cfg.guidance_schedule},
            "training": {"data": str(cfg.data), "steps": step, "batch_size": cfg.batch_size, "seed": cfg.seed,
                         "weights": "EMA" if cfg.ema_decay > 0 else "raw", "max_frames": cfg.max_frames,
                         # every run adds to the last (init_from): the steps and wall-clock hours of them all
                         "total_steps": lineage["steps"] + step,
                         "total_hours": round(lineage["hours"] + run_hours, 3),
                         "total_device": lineage["device"] if lineage["device"] == device_type
                         else f"{lineage['device']}+{device_type}",
                         "init_from": str(cfg.init_from),
                         # sampling gives one-clause arm gestures still legs (motiongen.compound) when > 0
                         "part_texts": cfg.part_texts}}
    own = model.state_dict()
    weights = {k: v.to(own[k].dtype) for k, v in ema.items()} if cfg.ema_decay > 0 else None
    update_model_files(out, model, dataset.mean, dataset.std, info, state_dict=weights)
