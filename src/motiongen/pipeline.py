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

from . import MAX_SEED, __version__
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
from .models.condition import MotionCondition, pad_transitions
from .models.pretrained import ModelFileError, load_model_dir, save_model_dir
from .motion.features import denormalize, normalize, recover_joints_from_features, rigid_bone_lengths
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
    transitions: tuple = ()       # frames where this motion joins frames made before it (windows of long motion)


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


def check_seed(seed, where: str = "seed", error=ValueError) -> int:
    """A seed is an integer 0 .. 2**32 - 1 (not a bool, not negative)."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED:
        shown = (repr(seed)[:40] if not isinstance(seed, int) or abs(seed) < 10 ** 30
                 else f"an integer of {seed.bit_length()} bits")
        raise error(f"{where} must be an integer from 0 to {MAX_SEED}, got {shown}")
    return seed


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


def packaged_models() -> dict[str, Path]:
    """The checkpoints shipped inside the package, by name ("default" is FineMoGen, the default model)."""
    if not PACKAGED_MODELS.is_dir():
        return {}
    return {p.name: p for p in sorted(PACKAGED_MODELS.iterdir()) if (p / "config.json").is_file()}


def resolve_model_dir(path: str | os.PathLike | None) -> Path:
    """A model directory, the name of a packaged checkpoint ("histf", "finemogen"/"default"), or None for the
    default model."""
    if path is None:
        return default_model_dir()
    p = Path(path)
    if p.exists():
        return p
    name = {"finemogen": "default"}.get(str(path), str(path))
    shipped = packaged_models()
    names = ", ".join(["finemogen" if n == "default" else n for n in shipped]) or "none"
    if os.sep in str(path) or "/" in str(path):
        raise ModelFileError(f"model directory '{p}' does not exist")
    if name in shipped:
        return shipped[name]
    raise ModelFileError(f"model '{path}': no such directory, and not a packaged model (packaged: {names})")


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
        #: joints on fixed bone lengths (motion.features.rigid_bone_lengths); False gives the ric positions as decoded
        self.rigid_skeleton = True
        d = self.info.get("diffusion", {})
        try:
            self.diffusion = GaussianDiffusion.from_config(d if isinstance(d, dict) else {})
        except (TypeError, ValueError) as e:
            raise ModelFileError(f"{model_dir or 'model'}: config.json 'diffusion': {e}") from e
        check_encoder_spec(self.info.get("text_encoder", text_encoder.spec()), text_encoder)
        #: what the model learned (known_actions.json), for the unknown-action warning; None = no check
        self.known_actions = _load_known_actions(model_dir)
        if text_encoder.dim != denoiser.config.text_dim:
            raise ModelFileError(f"text encoder '{text_encoder.name}' gives {text_encoder.dim}-d features but the "
                                 f"denoiser expects text_dim={denoiser.config.text_dim}")

    # ---- files -----------------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                        clip_path: str | None = None, text_encoder: TextEncoder | None = None) -> MotionPipeline:
        path = resolve_model_dir(path)
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

    @property
    def reads_still_parts(self) -> bool:
        """Whether the model was trained with part texts for still parts (``part_texts`` > 0 in its training
        record): then a one-clause arm gesture is sampled with still legs and pelvis (:mod:`motiongen.data.parts`)."""
        training = self.info.get("training")
        return bool(self.denoiser.supports_plans and isinstance(training, dict)
                    and float(training.get("part_texts", 0) or 0) > 0)

    # ---- conditions ------------------------------------------------------------------------------------------
    def encode_texts(self, texts: list[str]) -> TextFeatures:
        return self.text_encoder.encode(texts)

    def condition_for(self, prompts: list[Prompt], frames: list[int]) -> MotionCondition:
        """Encode prompts into one batched condition (plans -> stages x parts when the model reads them)."""
        if any(p.plan is not None for p in prompts):
            from .plan import plan_condition
            cond = plan_condition(self, prompts, frames)
        else:
            cond = MotionCondition(self.encode_texts([p.text for p in prompts]).to(self.device))
        if any(p.transitions for p in prompts):             # for the sampler's transition easing
            rows = [torch.tensor(p.transitions, dtype=torch.long).reshape(1, -1) for p in prompts]
            cond.transitions = pad_transitions(rows).to(self.device)
        return cond

    # ---- generation ------------------------------------------------------------------------------------------
    def generate(self, prompts, seconds: float | None = None, *, num_samples: int = 1, seed: int = 0,
                 sampler: str | None = None, steps: int | None = None, guidance_scale: float | None = None,
                 guidance_schedule: str | None = None, batch_size: int = 16, half: bool = False,
                 progress: bool = False, inpaint: list | None = None, literal: bool = False,
                 cleanup: bool = True, control=None, callback=None,
                 check_actions: bool = True) -> list[GeneratedMotion]:
        """Generate motions. ``prompts``: a sentence, a :class:`Prompt`, a plan, or a list of them.

        For models that read plans (FineMoGen), a compound sentence ("walks forward and waves with the left hand",
        "..., then ...") is read as the plan it describes (:mod:`motiongen.compound`; the motion's ``meta`` records
        it as ``read_as_plan``); ``literal=True`` generates every sentence as it is.
        ``cleanup``: the export's foot pass on ``joints`` (:mod:`motiongen.motion.cleanup`: contacts from foot
        height and speed, the contact channels as a hint; locks eased in and out; the root raised or lowered just
        enough for the floor and the legs' reach; legs re-solved by two-bone IK); ``features`` stay the model's
        raw output.

        Each prompt gives ``num_samples`` motions, the k-th of prompt i seeded with ``seed + i*num_samples + k``
        (a motion depends only on its own seed, not on the batch it was drawn in).
        ``inpaint``: optional per-prompt ``(reference_features (T, D) de-normalised, weight (T, D) or (T, 1))``
        to hold parts of the result to an earlier motion (used by editing).
        ``control``: a :class:`motiongen.control.MotionControl` (key poses, a path) applied to every prompt; see
        :meth:`generate_long` for continuation and long motion. ``callback(k, n)``: called at each denoising
        step of each batch (see :func:`~motiongen.diffusion.sampling.sample`).
        ``check_actions``: each prompt's known-actions verdict (:meth:`unknown_action`, once per prompt) goes into
        the meta of its motions as ``unknown_action`` when the model has not learned it.
        Returns motions in prompt order, samples of a prompt consecutive.
        """
        prompts = self._normalise_prompts(prompts, seconds, literal)
        verdicts = [self.unknown_action(p) if check_actions else None for p in prompts]
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise GenerationError(f"batch_size must be a positive integer, got {batch_size!r}")
        if not isinstance(num_samples, int) or num_samples < 1:
            raise GenerationError(f"num_samples must be a positive integer, got {num_samples!r}")
        check_seed(seed, "seed", GenerationError)
        if seed + len(prompts) * num_samples - 1 > MAX_SEED:
            raise GenerationError(f"seed: {seed} + {len(prompts) * num_samples - 1} (one seed per motion) passes "
                                  f"{MAX_SEED}, the largest seed")
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
        controls = None
        if control is not None and control.active:
            from .control import finalize_control
            if inpaint is not None:
                raise GenerationError("control and inpaint cannot be combined")
            controls = []
            for p in prompts:
                c = finalize_control(_copy_control(control), p.text, p.frames, self.skeleton)
                if c.held_frames and c.held_frames >= p.frames:
                    raise GenerationError(f"the prefix ({c.held_frames} frames) leaves nothing to generate in "
                                          f"{p.frames} frames")
                controls.append(c)
        results: list[GeneratedMotion] = []
        for b0 in range(0, len(jobs), batch_size):
            chunk = jobs[b0:b0 + batch_size]
            results += self._generate_batch(prompts, frames, chunk, seed, num_samples, sampler, steps, guidance,
                                            half, progress, inpaint, cleanup, controls, callback, verdicts)
        return results

    def _normalise_prompts(self, prompts, seconds, literal: bool = False) -> list[Prompt]:
        from .compound import plan_from_sentence
        from .plan import Plan, check_text
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
                p = Prompt(p.text, p.seconds, p.plan, transitions=p.transitions)  # never mutate the caller's
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
                check_text(p.text, f"{where}: the text", GenerationError)
                p.text = " ".join(p.text.split())
                secs = p.seconds if p.seconds is not None else seconds
                if secs is None:
                    secs = 4.0
                p.seconds = secs
                p.frames = frames_for_seconds(secs, max_frames, FPS, where=f"{where}: seconds")
                if not literal and self.denoiser.supports_plans:
                    plan = plan_from_sentence(p.text, p.frames / FPS, still_parts=self.reads_still_parts)
                    if plan is not None:
                        p = Prompt(p.text, None, plan, transitions=p.transitions)
                        p.frames = plan.total_frames(FPS)
                        p.read_as_plan = True
            try:
                p.transitions = tuple(int(f) for f in p.transitions)
            except (TypeError, ValueError):
                raise GenerationError(f"{where}: transitions must be frame numbers, got {p.transitions!r}") from None
            if any(not 0 <= f < p.frames for f in p.transitions):
                raise GenerationError(f"{where}: transitions must be frames within the motion (0 to "
                                      f"{p.frames - 1}), got {list(p.transitions)}")
            out.append(p)
        return out

    def _generate_batch(self, prompts, frames, chunk, seed, num_samples, sampler, steps, guidance, half,
                        progress, inpaint, cleanup=True, controls=None, callback=None,
                        verdicts=None) -> list[GeneratedMotion]:
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
        row_controls = [controls[i] for i, _ in chunk] if controls is not None else [None] * len(chunk)
        if controls is not None:
            from .control import ControlProjection
            paint = ControlProjection(row_controls, self.mean, self.std, self.skeleton, lengths)
        timings: dict = {}
        x = sample(self.denoiser, cond, mask, feature_dim=self.denoiser.config.feature_dim, uncond=uncond,
                   scheduler=scheduler, guidance=guidance, inpaint=paint, generators=generators,
                   diffusion=self.diffusion, progress=progress,
                   autocast_dtype=torch.float16 if half else None, timings=timings, callback=callback)
        if controls is not None:           # the constraints hold exactly on the result, whatever the sampler
            x = paint.apply(x) * mask[..., None]
        t0 = time.perf_counter()
        feats = denormalize(x.float().cpu().numpy(), self.mean, self.std)
        if not np.isfinite(feats).all():
            raise GenerationError(f"the model {self.model_dir or ''} produced NaN or infinite values; its weights "
                                  f"or statistics are broken (or --half overflowed)")
        out = []
        control_meta = []
        for r in range(len(chunk)):
            f = feats[r, :lengths[r]]
            joints, cmeta = self.joints_for(f, cleanup, row_controls[r])
            control_meta.append(cmeta)
            out.append(GeneratedMotion(items[r].text, f, np.asarray(joints, np.float32), seeds[r], FPS,
                                       items[r].plan.to_dict() if items[r].plan is not None else None))
        t_decode = time.perf_counter() - t0
        total = time.perf_counter() - t_start
        for m, item, (i, _) in zip(out, items, chunk):
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
            if verdicts is not None and verdicts[i] is not None:
                m.meta["unknown_action"] = verdicts[i]
        for m, cmeta in zip(out, control_meta):
            if cmeta:
                m.meta["control"] = cmeta
        return out

    def unknown_action(self, prompt) -> dict | None:
        """The known-actions verdict (:mod:`motiongen.known_actions`) of a prompt the model has not learned, or
        None. A plan is checked stage by stage and part by part; the least known text is reported."""
        if self.known_actions is None:
            return None
        plan = getattr(prompt, "plan", None)
        texts = [prompt.text] if plan is None else \
            list(dict.fromkeys(t for st in plan.stages for t in [st.text, *st.parts.values()] if t))
        worst = min((self.known_actions.check(t, self.text_encoder) for t in texts), key=lambda v: v.similarity)
        return None if worst.known else worst.to_dict()

    def generate_long(self, stages, seconds: float = 4.0, *, prefix: np.ndarray | None = None,
                      prefix_seconds: float | None = None,
                      overlap_seconds: float = 1.0, num_samples: int = 1, seed: int = 0, cleanup: bool = True,
                      **kwargs) -> list[GeneratedMotion]:
        """A motion of many stages, or the continuation of ``prefix`` (de-normalised features (P, D), e.g. from
        :func:`motiongen.control.load_prefix`).

        ``stages``: a :class:`~motiongen.plan.Plan`, a sentence (lasting ``seconds``), or a list of
        ``(text, seconds)``. Without a
        prefix and within the model's ``max_frames``, models that read plans compose the stages in one pass
        (FineMoGen's own composition); otherwise windows of at most ``max_frames`` overlap by
        ``overlap_seconds``, each holding its first frames to the previous window's last ones (with a prefix:
        its last ``prefix_seconds``, default up to 3 s). A model without plans reads one sentence a window, so
        each stage gets its own windows (:func:`~motiongen.control.stage_windows`): every stage's sentence is
        generated over its own frames (``meta["long_motion"]["window_texts"]`` lists them); a plan with gaps
        between stages is refused for such a model. The windows are joined in feature space. The output holds
        the whole prefix followed by the new frames. Other keyword arguments go to :meth:`generate`.
        """
        from .control import plan_windows, stage_windows
        from .plan import Plan, PlanError
        if isinstance(stages, str):
            stages = [(stages, seconds)]
        if isinstance(stages, Plan):
            plan = stages
        else:
            try:
                plan = Plan.from_dict({"stages": [{"text": t, "seconds": sec} for t, sec in stages]})
            except (TypeError, ValueError) as e:
                raise GenerationError(f"stages: expected a plan or a list of (text, seconds): {e}") from None
        max_frames = self.window_frames()
        total = plan.total_frames(FPS)
        if prefix is None and total <= max_frames and (self.denoiser.supports_plans or len(plan) == 1):
            prompt = plan if self.denoiser.supports_plans else Prompt(plan.stages[0].text, total / FPS)
            return self.generate(prompt, num_samples=num_samples, seed=seed, cleanup=cleanup, **kwargs)
        overlap = int(round(overlap_seconds * FPS))
        if not 1 <= overlap < max_frames // 2:
            raise GenerationError(f"overlap_seconds must give 1 to {max_frames // 2 - 1} frames, got {overlap}")
        held_first = 0
        if prefix is not None:
            prefix = np.asarray(prefix, np.float32)
            ctx = int(round((prefix_seconds if prefix_seconds is not None else 3.0) * FPS))
            if prefix_seconds is not None and (not math.isfinite(prefix_seconds) or prefix_seconds <= 0):
                raise GenerationError(f"prefix_seconds must be a positive number, got {prefix_seconds!r}")
            held_first = max(1, min(len(prefix), ctx, max_frames // 2))
        # windows over the timeline: [the prefix's last frames] + the new frames
        if self.denoiser.supports_plans:             # windows of several stages, each frame under its stage's text
            timeline = ([held_first] if held_first else []) + [st.frames for st in plan.stages]
            windows = plan_windows(timeline, max_frames, overlap)
        else:                                         # one sentence per window: a stage's own windows
            if plan.stages[0].start != 0 or any(a.end != b.start for a, b in zip(plan.stages, plan.stages[1:])):
                raise GenerationError(f"a {self.denoiser.model_type} model generates a plan's stages one after "
                                      "another; this plan has gaps between its stages (give consecutive frames)")
            try:
                windows = stage_windows([st.frames for st in plan.stages], max_frames, overlap, held_first)
            except ValueError as e:
                raise GenerationError(str(e)) from None
        stages_tl = [(st.text, st.start + held_first, st.end + held_first, st.parts) for st in plan.stages]
        window_texts: list[str] = []
        unknown = self.unknown_action(Prompt(plan.describe(), None, plan))      # the whole plan, checked once
        results = []
        for k in range(num_samples):
            acc = prefix[len(prefix) - held_first:].copy() if held_first else \
                np.zeros((0, self.denoiser.config.feature_dim), np.float32)
            for w, (a, b) in enumerate(windows):
                held = len(acc) - a                       # frames of this window made already
                inside = [(t, max(s0, a) - a, min(s1, b) - a, parts) for t, s0, s1, parts in stages_tl
                          if s1 > a and s0 < b]
                if self.denoiser.supports_plans:
                    fill = [{"text": t, "frames": [s0, s1], **({"parts": parts} if parts else {})}
                            for t, s0, s1, parts in inside]
                    fill[0]["frames"][0] = 0              # held frames before the first stage: under its text
                    fill[-1]["frames"][1] = b - a
                    try:
                        prompt = Plan.from_dict({"stages": fill})
                    except PlanError as e:
                        raise GenerationError(f"window {w + 1}: {e}") from None
                else:                                     # the one stage whose new frames this window holds
                    fresh = [t for t, s0, s1, _ in inside if s1 > held]
                    if len(fresh) != 1:                   # stage_windows makes this impossible; never drop one
                        raise GenerationError(f"window {w + 1} would hold {len(fresh)} stages' new frames; a "
                                              f"{self.denoiser.model_type} model generates one sentence a window")
                    prompt = Prompt(fresh[0], (b - a) / FPS)
                if k == 0:
                    window_texts.append(prompt.text if isinstance(prompt, Prompt) else prompt.describe())
                # between windows the hold fades out over its last frames (up to 10), which the new window then
                # rewrites, so the join is a blend; the fade is a quintic smoothstep (continuous first and second
                # derivatives, so the blend adds no jerk spike at its ends); a user's prefix is held in full
                ramp = 0 if w == 0 else min(10, held // 2)
                # the joins are eased like stage boundaries, from both sides: 2 frames before this window's new
                # frames start and, when another window follows, 2 frames before this window's end, which is the
                # same frame of the motion as the next window's first eased one
                joins = [max(0, held - 2)] if held > 0 else []
                if w + 1 < len(windows):
                    joins.append((b - a) - 2)
                if isinstance(prompt, Plan):
                    prompt = Prompt(prompt.describe(), None, prompt)
                prompt.transitions = tuple(joins)
                paint = None
                if held > 0:
                    weight = np.zeros((b - a, 1), np.float32)
                    weight[:held] = 1.0
                    u = np.arange(1, ramp + 1) / (ramp + 1)
                    weight[held - ramp:held, 0] = 1.0 - u ** 3 * (10 - 15 * u + 6 * u ** 2)
                    ref = np.zeros((b - a, acc.shape[1]), np.float32)
                    ref[:held] = acc[a:]
                    paint = [(ref, weight)]
                [m] = self.generate(prompt, num_samples=1, seed=seed + k * 1000 + w, inpaint=paint,
                                    cleanup=False, literal=True, check_actions=False, **kwargs)
                acc = np.concatenate([acc[:len(acc) - ramp], m.features[held - ramp:]], 0)
            feats = acc if not held_first else np.concatenate([prefix[:len(prefix) - held_first], acc], 0)
            from .control import MotionControl
            joints, _ = self.joints_for(feats, cleanup, MotionControl(prefix=prefix) if prefix is not None else None)
            text = plan.describe()
            gm = GeneratedMotion(text, feats, np.asarray(joints, np.float32), seed + k * 1000, FPS, plan.to_dict())
            gm.meta = {"text": text, "seconds": len(feats) / FPS, "frames": len(feats), "fps": FPS,
                       "seed": seed + k * 1000, "model": {"dir": self.model_dir, "type": self.denoiser.model_type,
                                                          "text_encoder": self.text_encoder.name},
                       "plan": plan.to_dict(), "foot_cleanup": bool(cleanup), "motiongen_version": __version__,
                       "long_motion": {"windows": [[int(a), int(b)] for a, b in windows], "overlap_frames": overlap,
                                       "window_texts": window_texts,
                                       "prefix_frames": int(len(prefix)) if prefix is not None else 0,
                                       "prefix_context_frames": int(held_first)}}
            if unknown is not None:
                gm.meta["unknown_action"] = unknown
            results.append(gm)
        return results

    def window_frames(self) -> int:
        """The longest motion sampled in one pass by :meth:`generate_long`: ``max_frames`` for models that compose
        plans (FineMoGen's time anchors carry it beyond its training crops); for the others the training crop
        length (config.json ``training.max_frames``, else 196 frames), which their positions were trained on."""
        limit = int(self.denoiser.config.max_frames)
        if self.denoiser.supports_plans:
            return limit
        crop = self.info.get("training", {}).get("max_frames", 196) if isinstance(self.info.get("training"),
                                                                                   dict) else 196
        return max(16, min(limit, int(crop)))

    def joints_for(self, features: np.ndarray, cleanup: bool = True, control=None) -> tuple[np.ndarray, dict]:
        """Joints of de-normalised features: recovered, placed (a path or a frame-0 key pose moves the model's
        frame), with the export's foot pass (eased foot locks, root height, leg IK; key frames are blended back to
        the exact pose), and a report of how well the controls are met (key-pose and path errors in metres)."""
        from .control import place_joints
        decoded = recover_joints_from_features(features, self.skeleton.num_joints)
        if control is not None:
            decoded = place_joints(decoded, control.placement)
        # the model's raw joints: ric positions on a skeleton of fixed bone lengths (rigid_bone_lengths); a given
        # prefix and exact key poses are restored below from the decoded positions themselves
        raw = rigid_bone_lengths(decoded, self.skeleton) if self.rigid_skeleton else decoded
        joints = raw
        if cleanup and len(features) >= 2:
            from .motion.cleanup import contacts_from_features, plant_feet
            # the foot pass: contacts from the motion (the channels a hint), eased locks, root height, leg IK;
            # it moves only knees, ankles and toes relative to the pelvis and keeps every bone's length
            joints = plant_feet(raw, contacts_from_features(features, self.skeleton), self.skeleton)
        meta: dict = {}
        if control is None or not control.active:
            return joints, meta
        joints = np.array(joints, copy=True)
        if control.prefix is not None:     # the given motion stays as it was; the cleanup blends in after it
            P = min(control.held_frames, len(joints))
            joints[:P] = decoded[:P]
            for d in range(1, 5):
                if P + d - 1 < len(joints):
                    w = 1.0 - d / 5.0
                    joints[P + d - 1] = w * decoded[P + d - 1] + (1 - w) * joints[P + d - 1]
            meta["prefix_frames"] = int(control.held_frames)
        if control.keyposes:
            for kp in control.keyposes:            # exact at the key frame, blended over 3 frames either side
                for d in range(-3, 4):
                    t = kp.frame + d
                    if 0 <= t < len(joints):
                        w = 1.0 - abs(d) / 4.0
                        joints[t] = w * decoded[t] + (1 - w) * joints[t]
            err = [float(np.linalg.norm(joints[kp.frame] - kp.joints, axis=-1).mean()) for kp in control.keyposes]
            meta["keyframes"] = [{"frame": kp.frame, "mean_joint_error_m": round(e, 5)}
                                 for kp, e in zip(control.keyposes, err)]
        if control.trajectory is not None:
            e = np.linalg.norm(joints[:, 0, [0, 2]] - control.trajectory[:len(joints)], axis=-1)
            meta["trajectory"] = {"mean_error_m": round(float(e.mean()), 5), "max_error_m": round(float(e.max()), 5),
                                  "follow_facing": bool(control.follow_facing)}
        return joints, meta


def _load_known_actions(model_dir):
    if not model_dir:
        return None
    from .known_actions import KnownActions
    try:
        return KnownActions.load(model_dir)
    except ValueError as e:
        raise ModelFileError(str(e)) from e


def _copy_control(c):
    from dataclasses import replace
    return replace(c, keyposes=list(c.keyposes))


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
