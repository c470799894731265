"""The generation pipeline: text (or a fine-grained plan) -> encoder -> denoiser stepped by a scheduler ->
features -> joints. The one entry point used by the CLI, the Python API and editing.

    >>> import motiongen
    >>> pipe = motiongen.MotionPipeline.from_pretrained()          # the shipped default model
    >>> [m] = pipe.generate("a person waves with the left hand", seconds=4, seed=0)
    >>> m.joints.shape                                              # (80, 22, 3), metres, Y up, 20 fps
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import __version__
from .diffusion.gaussian import GaussianDiffusion
from .diffusion.sampling import (
    DEFAULT_STEPS,
    SAMPLERS,
    Guidance,
    Inpainting,
    make_scheduler,
    sample,
)
from .models.base import Denoiser
from .models.condition import MotionCondition
from .models.pretrained import ModelFileError, load_model_dir, save_model_dir
from .motion.features import denormalize, normalize, recover_joints_from_features
from .skeleton import get_skeleton
from .text.encoders import (
    TextEncoder,
    TextFeatures,
    check_encoder_spec,
    load_text_encoder,
)

__all__ = [
    "FPS",
    "MIN_SECONDS",
    "GeneratedMotion",
    "GenerationError",
    "MotionPipeline",
    "Prompt",
    "default_model_dir",
    "frames_for_seconds",
    "generate",
]

FPS = 20.0
MIN_SECONDS = 0.5
PACKAGED_MODELS = Path(__file__).resolve().parent / "checkpoints"


class GenerationError(ValueError):
    """Bad input to generation (empty text, bad duration, unknown sampler ...)."""


@dataclass
class Prompt:
    """One thing to generate: a sentence and a duration in seconds, or a plan (see :mod:`motiongen.plan`)."""

    text: str = ""
    seconds: float | None = None
    plan: object | None = None
    frames: int = 0
    read_as_plan: bool = False    # a compound sentence read as a plan (motiongen.compound)


@dataclass
class GeneratedMotion:
    text: str
    features: np.ndarray          # (T, D) de-normalised HumanML3D-style features
    joints: np.ndarray            # (T, J, 3) metres, Y up, 20 fps
    seed: int
    fps: float = FPS
    plan: dict | None = None
    meta: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.features.shape[0])


def frames_for_seconds(seconds, max_frames: int, fps: float = FPS, where: str = "seconds") -> int:
    """Validate a duration and convert it to frames."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not math.isfinite(seconds):
        raise GenerationError(f"{where} must be a finite number of seconds, got {seconds!r}")
    if seconds < MIN_SECONDS:
        raise GenerationError(f"{where} must be at least {MIN_SECONDS} s, got {seconds}")
    if seconds * fps > max_frames + 0.5:          # compared as floats: 1e308 s must not overflow into an int
        raise GenerationError(f"{where}={seconds:g} asks for more frames than this model generates: at most "
                              f"{max_frames} frames ({max_frames / fps:g} s)")
    return int(round(seconds * fps))


def default_model_dir() -> Path:
    """The model used when none is given: $MOTIONGEN_MODEL, else the checkpoint shipped in the package."""
    env = os.environ.get("MOTIONGEN_MODEL")
    if env:
        return Path(env)
    path = PACKAGED_MODELS / "default"
    if not (path / "config.json").is_file():
        raise ModelFileError("no default model is shipped with this install; pass --model DIR (a model directory "
                             "from `motiongen train`, or `motiongen models init baseline --out DIR` for a random one)")
    return path


class MotionPipeline:
    """A denoiser + text encoder + normalisation statistics + diffusion schedule."""

    def __init__(self, denoiser: Denoiser, text_encoder: TextEncoder, mean: np.ndarray, std: np.ndarray,
                 info: dict | None = None, model_dir: str | None = None, device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.denoiser = denoiser.to(self.device).eval()
        self.text_encoder = text_encoder
        self.mean = np.asarray(mean, np.float32)
        self.std = np.asarray(std, np.float32)
        self.info = dict(info or {})
        self.model_dir = model_dir
        self.skeleton = get_skeleton(self.info.get("skeleton", denoiser.config.feature_dim))
        d = self.info.get("diffusion", {})
        try:
            self.diffusion = GaussianDiffusion.from_config(d if isinstance(d, dict) else {})
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{model_dir or 'model'}: config.json 'diffusion': {e}") from e
        check_encoder_spec(self.info.get("text_encoder", text_encoder.spec()), text_encoder)
        if text_encoder.dim != denoiser.config.text_dim:
            raise ModelFileError(f"text encoder '{text_encoder.name}' gives {text_encoder.dim}-d features but the "
                                 f"denoiser expects text_dim={denoiser.config.text_dim}")

    # ---- files -----------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                        clip_path: str | None = None, text_encoder: TextEncoder | None = None) -> MotionPipeline:
        path = Path(path) if path is not None else default_model_dir()
        device = _check_device(device)
        denoiser, cfg, mean, std = load_model_dir(path, device)
        if text_encoder is None:
            spec = cfg["text_encoder"]
            text_encoder = load_text_encoder(spec.get("name", "minilm"), clip_path, device="cpu")
        return cls(denoiser, text_encoder, mean, std, cfg, str(path), device)

    def save_pretrained(self, path: str | os.PathLike, dtype: torch.dtype | None = None, extra_info=None,
                        extra_files=()) -> Path:
        return save_model_dir(path, self.denoiser, self.mean, self.std, self.describe(extra_info), dtype,
                              extra_files)

    def describe(self, extra: dict | None = None) -> dict:
        keep = {k: v for k, v in self.info.items()
                if k not in ("format", "format_version", "model_type", "model")}
        info = {**keep, "text_encoder": self.text_encoder.spec(), "skeleton": self.skeleton.name, "fps": FPS,
                "diffusion": self.diffusion.config(), "motiongen_version": __version__}
        if "sampling" not in info:
            sampler, steps = self.denoiser.default_sampler
            info["sampling"] = {"sampler": sampler, "steps": steps, "guidance_scale": 2.5,
                                "guidance_schedule": "constant"}
        info.update(extra or {})
        return info

    # ---- conditions ------------------------------------------------------------------------------------------
    def encode_texts(self, texts: list[str]) -> TextFeatures:
        return self.text_encoder.encode(texts)

    def condition_for(self, prompts: list[Prompt], frames: list[int]) -> MotionCondition:
        """Encode prompts into one batched condition (plans -> stages x parts when the model reads them)."""
        if any(p.plan is not None for p in prompts):
            from .plan import plan_condition
            return plan_condition(self, prompts, frames)
        return MotionCondition(self.encode_texts([p.text for p in prompts]).to(self.device))

    # ---- generation ------------------------------------------------------------------------------------------
    def generate(self, prompts, seconds: float | None = None, *, num_samples: int = 1, seed: int = 0,
                 sampler: str | None = None, steps: int | None = None, guidance_scale: float | None = None,
                 guidance_schedule: str | None = None, batch_size: int = 16, half: bool = False,
                 progress: bool = False, inpaint: list | None = None, literal: bool = False,
                 cleanup: bool = True) -> list[GeneratedMotion]:
        """Generate motions. ``prompts``: a sentence, a :class:`Prompt`, a plan, or a list of them.

        For models that read plans (FineMoGen), a compound sentence ("walks forward and waves with the left hand",
        "..., then ...") is read as the plan it describes (:mod:`motiongen.compound`; the motion's ``meta`` records
        it as ``read_as_plan``); ``literal=True`` generates every sentence as it is.
        ``cleanup``: the export cleanup of ``joints`` (:mod:`motiongen.motion.cleanup`: a light temporal filter,
        feet locked where the motion's contact channels say they touch, legs re-solved by IK); ``features`` stay
        the model's raw output.

        Each prompt gives ``num_samples`` motions, the k-th of prompt i seeded with ``seed + i*num_samples + k``
        (a motion depends only on its own seed, not on the batch it was drawn in).
        ``inpaint``: optional per-prompt ``(reference_features (T, D) de-normalised, weight (T, D) or (T, 1))``
        to hold parts of the result to an earlier motion (used by editing).
        Returns motions in prompt order, samples of a prompt consecutive.
        """
        prompts = self._normalise_prompts(prompts, seconds, literal)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise GenerationError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(num_samples, int) or num_samples < 1:
            raise GenerationError(f"num_samples must be a positive integer, got {num_samples!r}")
        s_cfg = self.info.get("sampling", {})
        sampler = sampler or s_cfg.get("sampler") or self.denoiser.default_sampler[0]
        if sampler not in SAMPLERS:
            raise GenerationError(f"unknown sampler '{sampler}'; expected one of {', '.join(SAMPLERS)}")
        if steps is None:
            steps = s_cfg.get("steps") if sampler == s_cfg.get("sampler") else None
            steps = steps or DEFAULT_STEPS[sampler]
        if guidance_scale is None:
            guidance_scale = float(s_cfg.get("guidance_scale", 2.5))
        guidance = Guidance(float(guidance_scale), guidance_schedule or s_cfg.get("guidance_schedule", "constant"))
        if half and self.device.type != "cuda":
            raise GenerationError("half precision is for GPUs: use --device cuda with --half")
        frames = [p.frames for p in prompts]
        jobs = [(i, k) for i in range(len(prompts)) for k in range(num_samples)]
        if inpaint is not None and len(inpaint) != len(prompts):
            raise GenerationError(f"inpaint needs one entry per prompt ({len(prompts)}), got {len(inpaint)}")
        results: list[GeneratedMotion] = []
        for b0 in range(0, len(jobs), batch_size):
            chunk = jobs[b0:b0 + batch_size]
            results += self._generate_batch(prompts, frames, chunk, seed, num_samples, sampler, steps, guidance,
                                            half, progress, inpaint, cleanup)
        return results

    def _normalise_prompts(self, prompts, seconds, literal: bool = False) -> list[Prompt]:
        from .compound import plan_from_sentence
        from .plan import Plan
        if isinstance(prompts, (str, Prompt, Plan)):
            prompts = [prompts]
        if not isinstance(prompts, (list, tuple)) or not prompts:
            raise GenerationError("give at least one prompt (a sentence or a plan)")
        out = []
        max_frames = self.denoiser.config.max_frames
        for i, p in enumerate(prompts):
            where = f"prompt {i + 1}"
            if isinstance(p, str):
                p = Prompt(p, seconds)
            elif isinstance(p, Plan):
                p = Prompt(p.describe(), None, p)
            elif isinstance(p, Prompt):
                p = Prompt(p.text, p.seconds, p.plan)  # never mutate the caller's object
            else:
                raise GenerationError(f"{where}: expected a sentence, a Prompt or a Plan, got {type(p).__name__}")
            if p.plan is not None:
                p.frames = p.plan.total_frames(FPS)
                if p.frames > max_frames:
                    raise GenerationError(f"{where}: the plan lasts {p.frames / FPS:g} s; this model generates "
                                          f"at most {max_frames / FPS:g} s")
            else:
                if not isinstance(p.text, str) or not p.text.strip():
                    raise GenerationError(f"{where}: the text is empty")
                p.text = " ".join(p.text.split())
                secs = p.seconds if p.seconds is not None else seconds
                if secs is None:
                    secs = 4.0
                p.seconds = secs
                p.frames = frames_for_seconds(secs, max_frames, FPS, where=f"{where}: seconds")
                if not literal and self.denoiser.supports_plans:
                    plan = plan_from_sentence(p.text, p.frames / FPS)
                    if plan is not None:
                        p = Prompt(p.text, None, plan)
                        p.frames = plan.total_frames(FPS)
                        p.read_as_plan = True
            out.append(p)
        return out

    def _generate_batch(self, prompts, frames, chunk, seed, num_samples, sampler, steps, guidance, half,
                        progress, inpaint, cleanup=True) -> list[GeneratedMotion]:
        t_start = time.perf_counter()
        items = [prompts[i] for i, _ in chunk]
        lengths = [frames[i] for i, _ in chunk]
        T = max(lengths)
        mask = torch.zeros(len(chunk), T, dtype=torch.bool, device=self.device)
        for r, n in enumerate(lengths):
            mask[r, :n] = True
        t0 = time.perf_counter()
        cond = self.condition_for(items, lengths)
        uncond = cond.null() if guidance.needs_uncond else None
        t_encode = time.perf_counter() - t0
        seeds = [seed + i * num_samples + k for i, k in chunk]
        gen_device = self.device if self.device.type == "cpu" else torch.device("cpu")
        generators = [torch.Generator(gen_device).manual_seed(s) for s in seeds]
        scheduler = make_scheduler(sampler, self.diffusion, steps)
        paint = None
        if inpaint is not None and any(inpaint[i] is not None for i, _ in chunk):
            D = self.denoiser.config.feature_dim
            ref = torch.zeros(len(chunk), T, D)
            w = torch.zeros(len(chunk), T, D)
            for r, (i, _) in enumerate(chunk):
                if inpaint[i] is None:
                    continue
                feats, weight = inpaint[i]
                n = min(len(feats), lengths[r])
                ref[r, :n] = torch.as_tensor(normalize(np.asarray(feats[:n], np.float32), self.mean, self.std))
                w[r, :n] = torch.as_tensor(np.broadcast_to(np.asarray(weight, np.float32)[:n], (n, D)).copy())
            paint = Inpainting(ref.to(self.device), w.to(self.device))
        timings: dict = {}
        x = sample(self.denoiser, cond, mask, feature_dim=self.denoiser.config.feature_dim, uncond=uncond,
                   scheduler=scheduler, guidance=guidance, inpaint=paint, generators=generators,
                   diffusion=self.diffusion, progress=progress,
                   autocast_dtype=torch.float16 if half else None, timings=timings)
        t0 = time.perf_counter()
        feats = denormalize(x.float().cpu().numpy(), self.mean, self.std)
        if not np.isfinite(feats).all():
            raise GenerationError(f"the model {self.model_dir or ''} produced NaN or infinite values; its weights "
                                  f"or statistics are broken (or --half overflowed)")
        out = []
        for r in range(len(chunk)):
            f = feats[r, :lengths[r]]
            joints = recover_joints_from_features(f, self.skeleton.num_joints)
            if cleanup and len(f) >= 2:
                from .motion.cleanup import clean_foot_contacts, contacts_from_features
                joints = clean_foot_contacts(joints, contacts_from_features(f, self.skeleton), self.skeleton)
            out.append(GeneratedMotion(items[r].text, f, np.asarray(joints, np.float32), seeds[r], FPS,
                                       items[r].plan.to_dict() if items[r].plan is not None else None))
        t_decode = time.perf_counter() - t0
        total = time.perf_counter() - t_start
        for m, item in zip(out, items):
            m.meta = {
                "text": m.text, "seconds": m.num_frames / FPS, "frames": m.num_frames, "fps": FPS, "seed": m.seed,
                "model": {"dir": self.model_dir, "type": self.denoiser.model_type,
                          "text_encoder": self.text_encoder.name},
                "sampler": sampler, "steps": int(timings.get("steps", steps)),
                "guidance": {"scale": guidance.scale, "schedule": guidance.schedule},
                "device": str(self.device), "half": bool(half), "batch_size": len(chunk),
                "timings_s": {"encode_text": round(t_encode, 4), "denoise": round(timings["denoise_s"], 4),
                              "decode_joints": round(t_decode, 4), "batch_total": round(total, 4)},
                "motiongen_version": __version__, "foot_cleanup": bool(cleanup),
            }
            if m.plan is not None:
                m.meta["plan"] = m.plan
            if item.read_as_plan:
                m.meta["read_as_plan"] = True
        return out


def _check_device(device) -> torch.device:
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise GenerationError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}") from e
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GenerationError("--device cuda was asked for but no CUDA GPU is available to torch")
    if dev.type not in ("cpu", "cuda"):
        raise GenerationError(f"device must be 'cpu' or 'cuda[:N]', got {device!r}")
    return dev


_PIPELINE_CACHE: dict[tuple, MotionPipeline] = {}


def generate(text=None, seconds: float | None = 4.0, *, plan=None, model: str | os.PathLike | None = None,
             device: str = "cpu", out: str | os.PathLike | None = None, preview: str = "mp4",
             overwrite: bool = False, **kwargs):
    """Generate from a sentence (or list of sentences) or a plan, with the default or a given model.

    Returns a :class:`GeneratedMotion` (``.features`` (T, 263), ``.joints`` (T, 22, 3), ``.meta``) for one
    prompt and one sample, else a list. With ``out`` the files are written as ``motiongen generate`` does.
    Other keyword arguments go to :meth:`MotionPipeline.generate` (num_samples, seed, sampler, steps,
    guidance_scale, guidance_schedule, half, progress). The loaded model is cached per (model, device).
    """
    from .plan import Plan, load_plan
    key = (str(model) if model is not None else str(default_model_dir()), str(device))
    pipe = _PIPELINE_CACHE.get(key)
    if pipe is None:
        pipe = _PIPELINE_CACHE[key] = MotionPipeline.from_pretrained(model, device=device)
    if plan is not None:
        if text is not None:
            raise GenerationError("give either text or a plan, not both")
        plan = plan if isinstance(plan, Plan) else (load_plan(plan) if isinstance(plan, (str, os.PathLike))
                                                     else Plan.from_dict(plan))
        prompts = plan
    else:
        if text is None:
            raise GenerationError("give a text (or a plan)")
        prompts = text
    motions = pipe.generate(prompts, seconds, **kwargs)
    if out is not None:
        from .export import write_outputs
        write_outputs(out, motions, preview=preview, overwrite=overwrite)
    single = (isinstance(prompts, (str, Prompt, Plan)) or len(prompts) == 1) and len(motions) == 1
    return motions[0] if single else motions
