"""Denoisers by name. Built-in models register themselves when :func:`ensure_builtin_models` imports them."""
from __future__ import annotations

import importlib

from .base import Denoiser

__all__ = ["UnknownModelError", "build_denoiser", "get_denoiser_class", "list_denoisers", "register_denoiser"]

_DENOISERS: dict[str, type[Denoiser]] = {}
_BUILTIN_MODULES = ("motiongen.models.baseline", "motiongen.models.finemogen.model", "motiongen.models.histf.model")


class UnknownModelError(ValueError):
    pass


def register_denoiser(name: str):
    def deco(cls: type[Denoiser]) -> type[Denoiser]:
        if name in _DENOISERS and _DENOISERS[name] is not cls:
            raise ValueError(f"denoiser name '{name}' is already registered")
        cls.model_type = name
        _DENOISERS[name] = cls
        return cls
    return deco


def ensure_builtin_models() -> None:
    for mod in _BUILTIN_MODULES:
        try:
            importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name is None or not mod.startswith(e.name):  # a real import error inside an existing module
                raise


def list_denoisers() -> dict[str, type[Denoiser]]:
    ensure_builtin_models()
    return dict(sorted(_DENOISERS.items()))


def get_denoiser_class(name: str) -> type[Denoiser]:
    ensure_builtin_models()
    if name not in _DENOISERS:
        raise UnknownModelError(f"unknown model type '{name}'; registered: {', '.join(sorted(_DENOISERS))}")
    return _DENOISERS[name]


def build_denoiser(name: str, **overrides) -> Denoiser:
    """A randomly initialised denoiser with its default config, fields overridden by keyword."""
    cls = get_denoiser_class(name)
    import dataclasses

    from .base import check_config, config_from_dict
    cfg = config_from_dict(cls.config_class, {**dataclasses.asdict(cls.config_class()), **overrides},
                           where=f"{name} config")
    check_config(cls, cfg, f"{name} config")
    return cls(cfg)
