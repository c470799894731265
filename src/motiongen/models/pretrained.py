"""Model directories: ``config.json`` + ``model.safetensors`` + ``mean.npy`` / ``std.npy``.

``config.json`` records the model type and its config, the text encoder it was trained with, the skeleton,
the diffusion schedule and default sampling settings. Weights are safetensors and statistics are plain .npy
read with ``allow_pickle=False``, so loading a model never executes code from the files. Every problem —
a missing, corrupt, truncated or mismatched file — raises :class:`ModelFileError` naming the file.
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from ..io_utils import atomic_directory
from .base import Denoiser, check_config, config_from_dict
from .registry import UnknownModelError, get_denoiser_class

__all__ = ["FORMAT", "FORMAT_VERSION", "ModelFileError", "load_model_dir", "read_model_config", "save_model_dir"]

FORMAT = "motiongen-model"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class ModelFileError(ValueError):
    pass


def save_model_dir(path: str | os.PathLike, denoiser: Denoiser, mean: np.ndarray, std: np.ndarray,
                   info: dict, dtype: torch.dtype | None = None, extra_files=()) -> Path:
    """Write a model directory atomically (a temporary sibling, then a rename; an old one is replaced only
    once the new one is complete). ``info`` holds text_encoder, skeleton, diffusion, sampling, etc.;
    ``dtype=torch.float16`` stores half-precision weights (loading casts back to the model's dtype)."""
    from safetensors.torch import save_file

    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_type": denoiser.model_type,
           "model": dataclasses.asdict(denoiser.config), **info}

    def fill(tmp: Path) -> None:
        state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
                 for k, v in denoiser.state_dict().items()}
        save_file(state, str(tmp / WEIGHTS_NAME), metadata={"format": FORMAT, "model_type": denoiser.model_type})
        np.save(tmp / "mean.npy", np.asarray(mean, dtype=np.float32))
        np.save(tmp / "std.npy", np.asarray(std, dtype=np.float32))
        (tmp / CONFIG_NAME).write_text(json.dumps(cfg, indent=2, default=_json_default) + "\n")
        for extra in extra_files:  # e.g. a LICENSE note
            shutil.copy2(extra, tmp / Path(extra).name)

    return atomic_directory(path, fill, manifest="model")


def update_model_files(path: str | os.PathLike, denoiser: Denoiser, mean: np.ndarray, std: np.ndarray,
                       info: dict, state_dict: dict | None = None, dtype: torch.dtype | None = None) -> Path:
    """Write the model files into an existing folder (e.g. a training run), each file atomically and
    config.json last, leaving other files (checkpoints, logs) alone. ``state_dict`` overrides the weights
    (e.g. the EMA copy)."""
    from safetensors.torch import save_file

    from ..io_utils import atomic_write, atomic_write_bytes
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    state = state_dict if state_dict is not None else denoiser.state_dict()
    state = {k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).detach().cpu().contiguous()
             for k, v in state.items()}
    atomic_write(path / WEIGHTS_NAME, lambda p: save_file(state, str(p), metadata={"format": FORMAT,
                                                                                 "model_type": denoiser.model_type}))
    atomic_write(path / "mean.npy", lambda p: np.save(p, np.asarray(mean, dtype=np.float32)))
    atomic_write(path / "std.npy", lambda p: np.save(p, np.asarray(std, dtype=np.float32)))
    cfg = {"format": FORMAT, "format_version": FORMAT_VERSION, "model_type": denoiser.model_type,
           "model": dataclasses.asdict(denoiser.config), **info}
    atomic_write_bytes(path / CONFIG_NAME, (json.dumps(cfg, indent=2, default=_json_default) + "\n").encode())
    return path


def _json_default(o):
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, (tuple, set)):
        return list(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def _no_constant(name: str):
    raise ValueError(f"{name} is not a number a config may hold (JSON has no NaN or Infinity)")


def read_stats_file(f: Path, dim: int) -> np.ndarray:
    """Read mean.npy / std.npy: checks the .npy header (a real .npy, not .npz or pickle; shape (dim,); a numeric
    dtype) and the file's size before reading anything, so a header declaring 10^10 values allocates nothing."""
    try:
        with open(f, "rb") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(fh)
            else:
                raise ValueError(f".npy format version {version} is not supported")
            offset = fh.tell()
        size = f.stat().st_size
    except (ValueError, OSError, EOFError, SyntaxError) as e:
        raise ModelFileError(f"'{f}' is not a .npy array (saved with numpy.save): {str(e)[:160]}") from None
    if dtype.hasobject or dtype.kind not in "fiu" or dtype.itemsize > 8:
        raise ModelFileError(f"'{f}' holds {dtype} values; expected numbers (float32)")
    if tuple(shape) != (dim,):
        raise ModelFileError(f"'{f}' has shape {tuple(shape)}, expected ({dim},)")
    if size < offset + dim * dtype.itemsize:
        raise ModelFileError(f"'{f}' is truncated: {size} bytes, its header needs {offset + dim * dtype.itemsize}")
    try:
        return np.load(f, allow_pickle=False).astype(np.float32)
    except (ValueError, OSError, EOFError) as e:
        raise ModelFileError(f"'{f}' is not a readable .npy array: {e}") from e


def read_model_config(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not path.exists():
        raise ModelFileError(f"model directory '{path}' does not exist")
    if not path.is_dir():
        raise ModelFileError(f"'{path}' is not a model directory (expected a folder with {CONFIG_NAME}, "
                             f"{WEIGHTS_NAME}, mean.npy, std.npy)")
    cfg_file = path / CONFIG_NAME
    if not cfg_file.is_file():
        raise ModelFileError(f"'{cfg_file}' is missing: '{path}' is not a motiongen model directory")
    try:
        cfg = json.loads(cfg_file.read_text(encoding="utf-8"), parse_constant=_no_constant)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ModelFileError(f"'{cfg_file}' is not valid JSON: {e}") from e
    except (ValueError, RecursionError) as e:        # NaN/Infinity, a >4300-digit integer, deep nesting
        raise ModelFileError(f"'{cfg_file}' is not usable JSON: {str(e)[:160] or type(e).__name__}") from None
    if not isinstance(cfg, dict) or cfg.get("format") != FORMAT:
        raise ModelFileError(f"'{cfg_file}': not a motiongen model config (expected \"format\": \"{FORMAT}\")")
    kinds = {"format_version": (int,), "model_type": (str,), "model": (dict,), "text_encoder": (dict,),
             "skeleton": (str, int), "diffusion": (dict,), "sampling": (dict,), "training": (dict,),
             "fps": (int, float)}
    for key, types in kinds.items():
        if key in cfg and (not isinstance(cfg[key], types) or isinstance(cfg[key], bool)):
            names = " or ".join({"dict": "an object", "str": "a string", "int": "an integer",
                                 "float": "a number"}[t.__name__] for t in types)
            raise ModelFileError(f"'{cfg_file}': '{key}' must be {names}, got {type(cfg[key]).__name__}")
    for key in ("text_encoder", "sampling", "diffusion"):
        for k, v in (cfg.get(key) or {}).items():
            if not isinstance(v, (str, int, float, bool, type(None))):
                raise ModelFileError(f"'{cfg_file}': '{key}.{k}' must be a plain value, got {type(v).__name__}")
    if cfg.get("format_version", 0) > FORMAT_VERSION:
        raise ModelFileError(f"'{cfg_file}': format version {cfg.get('format_version')} is newer than this "
                             f"motiongen understands ({FORMAT_VERSION}); upgrade motiongen")
    for key in ("model_type", "model", "text_encoder"):
        if key not in cfg:
            raise ModelFileError(f"'{cfg_file}': missing field '{key}'")
    return cfg


def load_model_dir(path: str | os.PathLike, device: str | torch.device = "cpu"
                   ) -> tuple[Denoiser, dict, np.ndarray, np.ndarray]:
    """Load (denoiser in eval mode, config dict, mean, std) from a model directory."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    cfg = read_model_config(path)
    try:
        cls = get_denoiser_class(cfg["model_type"])
    except UnknownModelError as e:
        raise ModelFileError(f"'{path / CONFIG_NAME}': {e}") from e
    try:
        mcfg = config_from_dict(cls.config_class, cfg["model"], where=f"{path / CONFIG_NAME}: model", legacy=True)
        check_config(cls, mcfg, f"{path / CONFIG_NAME}: model")
    except (TypeError, ValueError) as e:
        raise ModelFileError(str(e)) from e
    denoiser = cls(mcfg)
    wfile = path / WEIGHTS_NAME
    if not wfile.is_file():
        raise ModelFileError(f"'{wfile}' is missing")
    try:
        state = load_file(str(wfile), device="cpu")
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelFileError(f"'{wfile}' is corrupt or truncated: {e}") from e
    own = denoiser.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    if missing or unexpected:
        raise ModelFileError(f"'{wfile}' does not match config.json's {cfg['model_type']} model: "
                             f"missing {_few(missing)}; unexpected {_few(unexpected)}")
    for k, v in state.items():
        if v.shape != own[k].shape:
            raise ModelFileError(f"'{wfile}': tensor '{k}' has shape {tuple(v.shape)}, the config implies "
                                 f"{tuple(own[k].shape)}")
        if v.is_floating_point() and not torch.isfinite(v).all():
            raise ModelFileError(f"'{wfile}': tensor '{k}' contains NaN or infinite values")
    denoiser.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()})
    stats = []
    for name in ("mean.npy", "std.npy"):
        f = path / name
        if not f.is_file():
            raise ModelFileError(f"'{f}' is missing")
        stats.append(read_stats_file(f, mcfg.feature_dim))
    for name, arr in zip(("mean.npy", "std.npy"), stats):
        if not np.isfinite(arr).all():
            raise ModelFileError(f"'{path / name}' contains NaN or infinite values")
    if (stats[1] <= 0).any():
        raise ModelFileError(f"'{path / 'std.npy'}' has non-positive entries")
    return denoiser.to(device).eval(), cfg, stats[0], stats[1]


def _few(keys: list[str], n: int = 4) -> str:
    if not keys:
        return "none"
    return ", ".join(keys[:n]) + (f" and {len(keys) - n} more" if len(keys) > n else "")
