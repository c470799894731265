"""The ``motiongen`` command line. Subcommands read like a sentence: ``motiongen generate "a person waves"
--out DIR``, ``motiongen convert IN OUT``, ``motiongen data build --source ... --out ...``, ``motiongen models``."""
from __future__ import annotations

import argparse
import sys

from . import __version__


def _cmd_convert(args) -> None:
    from .convert import convert
    for note in convert(args.input, args.output, rig=args.rig, fps=args.fps, to=args.to, units=args.units,
                        up=args.up, overwrite=args.overwrite):
        print(note)


def _cmd_retarget(args) -> None:
    from .convert import retarget_to_character_file
    for note in retarget_to_character_file(args.motion, args.to, args.out, bone_map=args.map, rest=args.rest,
                                           units=args.units, up=args.up, plant_feet=not args.no_plant,
                                           overwrite=args.overwrite):
        print(note)


def _cmd_blender_addon(args) -> None:
    from .blender_addon.package import write_addon_zip
    print(f"wrote {write_addon_zip(args.out, args.overwrite)} (Blender: Edit > Preferences > Add-ons > Install...)")


def _cmd_data_build(args) -> None:
    from .data.build import build_corpus
    summary = build_corpus(args.source, args.out, sets=args.sets, limit=args.limit, workers=args.workers)
    print(summary.describe())


def _cmd_data_stats(args) -> None:
    from .data.dataset import corpus_stats, dataset_stats
    if args.json:
        import json
        print(json.dumps(corpus_stats(args.dir, args.split), indent=1))
    else:
        print(dataset_stats(args.dir))


def _cmd_data_show(args) -> None:
    from .data.dataset import show_item
    print(f"wrote {show_item(args.dir, args.id, args.out)}")


def read_prompts_file(path: str, default_seconds: float) -> list:
    """One prompt a line: ``text#seconds`` (``#seconds`` optional). Blank lines are skipped."""
    from pathlib import Path

    from .pipeline import Prompt
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"--prompts file '{p}' does not exist")
    prompts = []
    try:
        lines = p.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as e:
        raise ValueError(f"--prompts file '{p}' is not UTF-8 text (byte {e.start})") from None
    for n, line in enumerate(lines, 1):
        line = line.strip()
        if not line:
            continue
        text, secs = line, default_seconds
        if "#" in line:
            text, tail = line.rsplit("#", 1)
            try:
                secs = float(tail)
            except ValueError:
                raise ValueError(f"{p}:{n}: expected 'text#seconds', but '{tail}' is not a number") from None
        if not text.strip():
            raise ValueError(f"{p}:{n}: the text is empty")
        prompts.append(Prompt(text.strip(), secs))
    if not prompts:
        raise ValueError(f"--prompts file '{p}' has no prompts")
    return prompts


def _output_formats(args) -> dict:
    from .export import parse_formats
    if getattr(args, "formats", None):
        return parse_formats(args.formats)
    return {"preview": args.preview, "bvh": not getattr(args, "no_bvh", False), "glb": False}


def _configure_speed(pipe, args) -> None:
    """--scan-chunk and --compile: HiSTF's chunked-scan length; torch.compile of the denoiser on CUDA, of HiSTF's
    scan on the CPU (anything else is said, not silently ignored)."""
    is_histf = pipe.denoiser.model_type == "histf"
    if getattr(args, "scan_chunk", None) is not None:
        if not is_histf:
            raise ValueError(f"--scan-chunk is a HiSTF setting; this model is {pipe.denoiser.model_type}")
        from .models.histf.ssm import configure_scans
        configure_scans(pipe.denoiser, chunk=args.scan_chunk)
    if not args.compile:
        return
    if pipe.device.type == "cuda":
        import torch
        print("--compile: torch.compile of the denoiser (the first batch compiles, then runs faster)", file=sys.stderr)
        pipe.denoiser = torch.compile(pipe.denoiser, dynamic=True)
    elif is_histf:
        from .models.histf.ssm import compile_inference_scan
        compile_inference_scan(True)
    else:
        print(f"--compile: on the CPU only HiSTF's scan is compiled; this model is {pipe.denoiser.model_type}, "
              f"so nothing is compiled", file=sys.stderr)


def _cmd_generate(args) -> None:
    try:
        _generate(args)
    except RuntimeError as e:          # an op without a float16 kernel on this device: one line, not a traceback
        if not args.half or "Half" not in str(e) and "float16" not in str(e):
            raise
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"--half: this model cannot run in float16 on {args.device} ({first}); run without "
                         f"--half") from e


def _generate(args) -> None:
    from .export import check_output_dir, write_outputs
    from .pipeline import MotionPipeline
    from .plan import load_plan

    sources = [x for x in (args.text is not None, args.prompts is not None, args.plan is not None) if x]
    if len(sources) != 1:
        raise ValueError("give exactly one of: a TEXT, --prompts FILE, or --plan FILE")
    inputs = [("--plan", args.plan), ("--prompts", args.prompts), ("--prefix", args.prefix),
              ("--keyframes", args.keyframes), ("--trajectory", args.trajectory), ("--character", args.character)]
    check_output_dir(args.out, args.overwrite, inputs)
    character = None
    if args.character:                    # a bad character fails before any generating
        from .motion.character import bone_map, read_character
        character = read_character(args.character)
        bone_map(character)
    if args.text is not None:
        from .plan import check_text
        prompts = [check_text(args.text, "TEXT")]
    elif args.prompts is not None:
        prompts = read_prompts_file(args.prompts, args.seconds)
    else:
        prompts = [load_plan(args.plan)]
    pipe = MotionPipeline.from_pretrained(args.model, device=args.device, clip_path=args.clip_path)
    _configure_speed(pipe, args)
    common = dict(sampler=args.sampler, steps=args.steps, guidance_scale=args.guidance,
                  guidance_schedule=args.guidance_schedule, half=args.half, progress=not args.quiet)
    controlled = args.keyframes is not None or args.trajectory is not None
    if controlled and (args.prefix is not None or args.concat):
        raise ValueError("--keyframes and --trajectory work on one motion; they cannot be combined with --prefix "
                         "or --concat yet")
    if args.prefix_seconds is not None and args.prefix is None:
        raise ValueError("--prefix-seconds needs --prefix FILE")
    if args.concat and args.prompts is None:
        raise ValueError("--concat joins the sentences of --prompts FILE into one motion; give --prompts")
    long_plan = args.plan is not None and prompts[0].total_frames() > pipe.window_frames()
    if args.prefix is not None or args.concat or long_plan:
        from .control import load_prefix
        prefix = load_prefix(args.prefix, pipe.skeleton) if args.prefix is not None else None
        if args.concat:
            stages = [(p.text, p.seconds) for p in prompts]
        elif args.plan is not None:
            stages = prompts[0]
        else:
            stages = [(prompts[0] if isinstance(prompts[0], str) else prompts[0].text, args.seconds)]
        motions = pipe.generate_long(stages, prefix=prefix, prefix_seconds=args.prefix_seconds,
                                     overlap_seconds=args.overlap, num_samples=args.num_samples, seed=args.seed,
                                     cleanup=not args.no_cleanup, **common)
    else:
        control = None
        if controlled:
            from .control import MotionControl, load_keyframes, load_trajectory
            from .pipeline import FPS as fps
            if len(prompts) != 1:
                raise ValueError("--keyframes and --trajectory take one TEXT or --plan, not a --prompts file")
            seconds = prompts[0].total_frames() / fps if args.plan is not None else args.seconds
            control = MotionControl(
                keyposes=load_keyframes(args.keyframes, seconds, fps, pipe.skeleton) if args.keyframes else [],
                trajectory=load_trajectory(args.trajectory, seconds, fps) if args.trajectory else None)
        motions = pipe.generate(prompts, args.seconds, num_samples=args.num_samples, seed=args.seed,
                                batch_size=args.batch_size, literal=args.literal or controlled,
                                cleanup=not args.no_cleanup, control=control, **common)
    warned = set()
    for m in motions:                 # one line per request the model has not learned (generated all the same)
        u = m.meta.get("unknown_action")
        if u and m.text not in warned:
            warned.add(m.text)
            print(f"motiongen generate: warning: {u['message']}", file=sys.stderr)
    shown = set()
    for m in motions:
        if m.meta.get("read_as_plan") and m.text not in shown:
            shown.add(m.text)
            print(f"read '{m.text}' as a plan (--literal to generate the sentence as it is):")
            for k, st in enumerate(m.plan["stages"], 1):
                a, b = st["frames"]
                print(f"  stage {k} [{a / 20:g} s, {b / 20:g} s): {st['text']!r}")
                for part, text in st.get("parts", {}).items():
                    print(f"    {part}: {text!r}")
    dirs = write_outputs(args.out, motions, overwrite=args.overwrite, inputs=inputs, character=character,
                         **_output_formats(args))
    if character is not None:
        import json
        meta = json.loads((dirs[0] / "meta.json").read_text())
        for note in meta.get("character", {}).get("notes", []):
            print(note)
    for m, d in zip(motions, dirs):
        if "long_motion" in m.meta:
            lm = m.meta["long_motion"]
            print(f"{d}: '{_shorten(m.text)}' {m.num_frames / m.fps:g} s, seed {m.seed}, {len(lm['windows'])} "
                  f"window(s) overlapping by {lm['overlap_frames']} frames"
                  + (f", continuing {lm['prefix_frames']} prefix frames" if lm["prefix_frames"] else ""))
            continue
        t = m.meta["timings_s"]
        print(f"{d}: '{_shorten(m.text)}' {m.num_frames / m.fps:g} s, seed {m.seed}, {m.meta['sampler']} "
              f"{m.meta['steps']} steps, denoising {t['denoise']:.2f} s (batch of {m.meta['batch_size']})")
        c = m.meta.get("control", {})
        for kf in c.get("keyframes", []):
            print(f"  key pose at frame {kf['frame']}: mean joint error {100 * kf['mean_joint_error_m']:.2f} cm")
        if "trajectory" in c:
            print(f"  path: mean horizontal error {100 * c['trajectory']['mean_error_m']:.2f} cm, max "
                  f"{100 * c['trajectory']['max_error_m']:.2f} cm"
                  + ("" if c["trajectory"]["follow_facing"] else " (facing as the text says)"))


def _cmd_serve(args) -> None:
    from .studio.server import serve
    if not 0 < args.port < 65536:
        raise ValueError(f"--port must be 1 to 65535, got {args.port}")
    serve(args.host, args.port, args.model or None, args.store, args.device, llm_url=args.llm_url,
          llm_model=args.llm_model, llm_key=args.llm_key, allow_hosts=args.allow_host)


def _cmd_models_list(args) -> None:
    from .models.registry import list_denoisers
    print(f"{'model':<12} {'parameters':>12}  default sampler  description")
    for name, cls in list_denoisers().items():
        model = cls(cls.config_class())
        doc = (cls.__doc__ or cls.__module__).strip().splitlines()[0]
        sampler, steps = cls.default_sampler
        print(f"{name:<12} {model.num_parameters() / 1e6:>11.2f}M  {sampler + ' ' + str(steps):<15}  {doc}")
    import json

    from .pipeline import packaged_models
    shipped = packaged_models()
    print("\npackaged checkpoints (generate --model NAME):")
    if not shipped:
        print("  none in this install")
    for name, path in shipped.items():
        try:
            cfg = json.loads((path / "config.json").read_text())
        except (OSError, ValueError):
            print(f"  {name:<10} unreadable config.json")
            continue
        size = (path / "model.safetensors").stat().st_size / 2 ** 20 if (path / "model.safetensors").is_file() else 0
        training = cfg.get("training", {})
        label = "finemogen (default)" if name == "default" else name
        sampling = cfg.get("sampling", {}) if isinstance(cfg.get("sampling"), dict) else {}
        diffusion = cfg.get("diffusion", {}) if isinstance(cfg.get("diffusion"), dict) else {}
        sampler = f"{sampling.get('sampler', '?')} {sampling.get('steps', '?')}"
        if isinstance(diffusion.get("x0_lowpass_hz"), (int, float)) and diffusion["x0_lowpass_hz"] > 0:
            sampler += f", {diffusion['x0_lowpass_hz']:g} Hz band limit"
        if isinstance(diffusion.get("transition_lowpass_hz"), (int, float)) and diffusion["transition_lowpass_hz"] > 0:
            sampler += f" ({diffusion['transition_lowpass_hz']:g} Hz at stage boundaries and window joins)"
        print(f"  {label:<20} {cfg.get('model_type', '?'):<10} {size:5.1f} MiB  {training.get('steps', '?')} steps, "
              f"samples with {sampler}; {cfg.get('license', 'see LICENSE.txt')}")


def _shorten(text: str, width: int = 70) -> str:
    """The text for a one-line summary: cut at ``width`` characters with an ellipsis, so a cut shows."""
    return text if len(text) <= width else text[:width - 1].rstrip() + "…"


def _parse_overrides(items: list[str]) -> dict:
    import json
    out = {}
    for it in items or []:
        if "=" not in it:
            raise ValueError(f"--set expects key=value, got '{it}'")
        k, v = it.split("=", 1)
        try:
            out[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            out[k.strip()] = v
    return out


def _cmd_models_init(args) -> None:
    from pathlib import Path

    import numpy as np
    import torch

    from .models.registry import build_denoiser
    from .pipeline import MotionPipeline
    from .skeleton import get_skeleton
    from .text.encoders import load_text_encoder
    from .io_utils import check_output_dir
    torch.manual_seed(args.seed)
    # --overwrite replaces only a model folder motiongen wrote (its manifest lists every file), never user files
    check_output_dir(args.out, args.overwrite, [("--stats", args.stats), ("--clip-path", args.clip_path)])
    enc = load_text_encoder(args.text_encoder, args.clip_path)
    overrides = {"text_dim": enc.dim, **_parse_overrides(args.set)}
    denoiser = build_denoiser(args.model_type, **overrides)
    D = denoiser.config.feature_dim
    if args.stats:
        mean = np.load(Path(args.stats) / "Mean.npy", allow_pickle=False)
        std = np.load(Path(args.stats) / "Std.npy", allow_pickle=False)
    else:
        mean, std = np.zeros(D, np.float32), np.ones(D, np.float32)
    pipe = MotionPipeline(denoiser, enc, mean, std, {"skeleton": get_skeleton(D).name})
    pipe.save_pretrained(args.out, extra_info={"note": "randomly initialised (motiongen models init)"})
    print(f"wrote a random {args.model_type} model ({denoiser.num_parameters() / 1e6:.2f}M parameters) "
          f"to {args.out}")


def _cmd_train(args) -> None:
    from .train.trainer import load_train_config, train
    overrides = {"model": args.model, "data": args.data, "out": args.out, "steps": args.steps,
                 "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "device": args.device,
                 "checkpoint_every": args.checkpoint_every, "max_minutes": args.max_minutes,
                 "parameterization": args.parameterization, "mirror": args.mirror,
                 "reword": True if args.reword else None}
    mc = _parse_overrides(args.set)
    config = args.config
    if args.resume and config is None and args.out:
        from pathlib import Path
        saved = Path(args.out) / "train_config.json"      # the run remembers its settings: --out is enough
        if saved.is_file():
            config = saved
    cfg = load_train_config(config, overrides)
    if mc:
        cfg.model_config = {**cfg.model_config, **mc}
    if not args.quiet:
        print(f"training {cfg.model}: {cfg.parameterization} parameterisation, geometric losses pos {cfg.loss_pos:g} "
              f"vel {cfg.loss_vel:g} foot {cfg.loss_foot:g}, mirror {cfg.mirror:g}, reword {cfg.reword}")
    run = train(cfg, resume=args.resume, progress=not args.quiet)
    import json
    from pathlib import Path
    done = json.loads((Path(run) / "config.json").read_text()).get("training", {}).get("steps", cfg.steps)
    stopped = "" if done == cfg.steps else f" (max_minutes ended it; --resume continues to {cfg.steps})"
    print(f"trained {cfg.model} to step {done} of {cfg.steps}{stopped}; model directory: {run}")


def _cmd_train_evaluator(args) -> None:
    from .evaluate.evaluator import train_evaluator
    out = train_evaluator(args.data, args.out, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                          seed=args.seed, progress=not args.quiet, glove_dir=args.glove, device=args.device,
                          size=args.size)
    import json
    hist = json.loads((out / "config.json").read_text())["history"]
    last = hist[-1]
    print(f"trained an evaluator for {len(hist)} epochs -> {out}; validation R-precision top-1 "
          f"{last['val_top1']:.3f}, top-3 {last['val_top3']:.3f}, MM-Dist {last['val_mm_dist']:.3f}")


def _cmd_evaluate(args) -> None:
    from .evaluate.runner import evaluate_models, format_table, write_results
    res = evaluate_models(args.models, args.data, args.evaluator, split=args.split,
                          replications=args.replications, mm_texts=args.mm_texts, mm_samples=args.mm_samples,
                          seed=args.seed, sampler=args.sampler, steps=args.steps, batch_size=args.batch_size,
                          device=args.device, max_items=args.max_items, progress=not args.quiet,
                          guidance_scale=args.guidance, sampling_filters=args.sampling_filters,
                          rigid_bones=args.rigid_bones)
    print(format_table(res))
    for note in res.get("notes", []):
        print(f"note: {note}")
    if args.json:
        write_results(args.json, res)
        print(f"wrote {args.json}")


def _cmd_edit(args) -> None:
    from .edit.editor import edit, make_backend
    from .export import check_output_dir, write_outputs
    inputs = [("--from", args.from_dir)]
    check_output_dir(args.out, args.overwrite, inputs)
    from .plan import check_text
    check_text(args.instruction, "the instruction")
    kw = {}
    if args.backend == "openai":
        kw = {"base_url": args.llm_url, "model": args.llm_model, "api_key": args.llm_key, "timeout": args.llm_timeout}
    res = edit(args.from_dir, args.instruction, backend=make_backend(args.backend, **kw), model=args.model,
               regenerate_all=args.regenerate_all, seed=args.seed, device=args.device, guidance_scale=args.guidance,
               cleanup=not args.no_cleanup, progress=not args.quiet)
    print("plan changes:")
    for line in res.diff:
        print("  " + line)
    if res.kept:
        print("kept from the earlier motion: " + "; ".join(res.kept))
    [d] = write_outputs(args.out, res.motions, overwrite=args.overwrite, inputs=inputs, **_output_formats(args))
    print(f"wrote {d}")


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (``motiongen generate: error: argument --sampler: invalid
    choice ...``) instead of the usage block first; ``-h`` still prints the full help. Subparsers inherit it."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message}\n")


def _add_threads(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=int, help="CPU threads for torch (default: the cores not busy, from the "
                                                    "load average)")


def _seed_arg(text: str) -> int:
    """argparse type: a seed is an integer 0 .. 2**32 - 1."""
    from . import MAX_SEED
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"expected an integer from 0 to {MAX_SEED}, got '{text[:40]}'")
    return value


def _positive_seconds(text: str) -> float:
    """argparse type: a positive, finite number of seconds."""
    import math
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got '{text[:40]}'")
    return value


def build_parser() -> argparse.ArgumentParser:
    from .motion.retarget import PRESETS, UNITS
    p = _Parser(prog="motiongen", description=" ".join(__doc__.split()).replace("``", "'"))
    p.add_argument("--version", action="version", version=f"motiongen {__version__}")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = sub.add_parser("generate", help="turn a sentence (or prompts file, or plan) into motion files",
                       description="Generate motions and write motion.npy (features), joints.npy (T, 22, 3), "
                                   "motion.bvh, preview.mp4|gif, plan.json and meta.json to --out.")
    g.add_argument("text", nargs="?", help="what the person does, e.g. 'a person waves with the left hand'")
    g.add_argument("--out", required=True, help="output directory (several motions go to sample_NNN/ inside)")
    g.add_argument("--seconds", type=float, default=4.0, help="duration of each motion (default 4)")
    g.add_argument("--prompts", metavar="FILE", help="one prompt a line: 'text#seconds' (batched)")
    g.add_argument("--plan", metavar="FILE", help="a fine-grained plan (JSON: stages x body parts)")
    g.add_argument("--model", metavar="DIR", help="model directory (default: the shipped model, or $MOTIONGEN_MODEL)")
    g.add_argument("--sampler", choices=["ddpm", "ddim", "dpm"], help="default: the model's own (see meta.json)")
    g.add_argument("--steps", type=int, help="denoising steps (default: ddpm 1000, ddim 50, dpm 10 or the model's)")
    g.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model's)")
    g.add_argument("--guidance-schedule", choices=["constant", "linear"],
                   help="constant w, or FineMoGen's w_t = 1 + s*t/T (default: the model's)")
    g.add_argument("--seed", type=_seed_arg, default=0, help="random seed of the first motion (default 0)")
    g.add_argument("--num-samples", type=int, default=1, help="motions per prompt (default 1)")
    g.add_argument("--batch-size", type=int, default=16, help="motions denoised together (default 16)")
    g.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    g.add_argument("--half", action="store_true", help="half precision (GPU only)")
    g.add_argument("--preview", choices=["mp4", "gif", "none"], default="mp4", help="preview format (default mp4)")
    g.add_argument("--no-bvh", action="store_true", help="do not write motion.bvh")
    g.add_argument("--formats", metavar="LIST", help="what to write, e.g. bvh,glb,npy,mp4 (npy always; default "
                                                     "npy,bvh,mp4; overrides --preview and --no-bvh)")
    g.add_argument("--overwrite", action="store_true", help="replace a non-empty --out directory")
    g.add_argument("--clip-path", metavar="DIR", help="local CLIP weights, for models trained with CLIP")
    g.add_argument("--no-cleanup", action="store_true",
                   help="export the raw joints: no foot locking / leg IK (motion.npy is always the raw output)")
    g.add_argument("--literal", action="store_true",
                   help="generate a compound sentence as it is, instead of the plan it describes")
    g.add_argument("--prefix", metavar="FILE", help="continue this motion: a BVH (any supported rig), joints .npy, "
                   "features .npy or an earlier output folder; the output holds it and the continuation")
    g.add_argument("--prefix-seconds", type=float, metavar="S",
                   help="how much of the prefix's end the continuation sees (default up to 3 s)")
    g.add_argument("--keyframes", metavar="FILE.json", help="key poses at given times (see README: Control)")
    g.add_argument("--trajectory", metavar="FILE", help="a path for the root: JSON or CSV of x, z [, t] in metres")
    g.add_argument("--concat", action="store_true",
                   help="join the sentences of --prompts FILE ('text#seconds' lines) into one long motion")
    g.add_argument("--overlap", type=float, default=1.0, metavar="S",
                   help="overlap of the sampling windows of long motions, in seconds (default 1)")
    g.add_argument("--compile", action="store_true",
                   help="torch.compile: the whole denoiser on CUDA; the HiSTF scan on the CPU (faster steps after "
                        "~30 s of compiling)")
    g.add_argument("--scan-chunk", type=int, metavar="N",
                   help="HiSTF: frames per chunk of the chunked scan (GPU; default 16; auto shrinks it to fit memory)")
    g.add_argument("--character", metavar="RIG", help="also write the motion on your own character: a BVH or "
                   "glTF/GLB rig (character.bvh / character.glb in each output folder; see `motiongen retarget`)")
    g.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads(g)
    g.set_defaults(func=_cmd_generate)

    e = sub.add_parser("edit", help="edit an earlier output with an instruction (LLM or offline), keeping the rest",
                       description="Revise the plan of an earlier `generate`/`edit` output with an instruction, print "
                                   "the plan's diff, and generate again. Unchanged stages and body parts are held to "
                                   "the earlier motion unless --regenerate-all (FineMoGen's behaviour).")
    e.add_argument("instruction", help="e.g. 'make the first stage slower and raise the right arm'")
    e.add_argument("--from", dest="from_dir", required=True, metavar="OUT_DIR", help="an earlier output folder")
    e.add_argument("--out", required=True, metavar="NEW_DIR")
    e.add_argument("--backend", choices=["offline", "openai"], default="offline",
                   help="offline: a deterministic interpreter; openai: any OpenAI-compatible chat server")
    e.add_argument("--llm-url", help="base URL, e.g. http://127.0.0.1:8080/v1 (or $MOTIONGEN_LLM_BASE_URL)")
    e.add_argument("--llm-model", help="model name sent to the server (or $MOTIONGEN_LLM_MODEL)")
    e.add_argument("--llm-key", help="API key (or $OPENAI_API_KEY)")
    e.add_argument("--llm-timeout", type=_positive_seconds, default=60.0, help="seconds (default 60)")
    e.add_argument("--regenerate-all", action="store_true", help="regenerate everything (the paper's behaviour)")
    e.add_argument("--no-cleanup", action="store_true", help="export the raw joints: no foot locking / leg IK")
    e.add_argument("--model", metavar="DIR", help="default: the model that made the earlier output")
    e.add_argument("--seed", type=_seed_arg, help="default: the earlier output's seed")
    e.add_argument("--guidance", type=float)
    e.add_argument("--device", default="cpu")
    e.add_argument("--preview", choices=["mp4", "gif", "none"], default="mp4")
    e.add_argument("--formats", metavar="LIST", help="what to write, e.g. bvh,glb,npy,mp4 (as for generate)")
    e.add_argument("--overwrite", action="store_true")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_threads(e)
    e.set_defaults(func=_cmd_edit)

    m = sub.add_parser("models", help="list the denoisers, or create a randomly initialised model directory",
                       description="Without an action: list each registered denoiser with its default parameter "
                                   "count.")
    m.set_defaults(func=_cmd_models_list)
    msub = m.add_subparsers(dest="models_command", metavar="ACTION")
    mi = msub.add_parser("init", help="write a randomly initialised model directory (for tests and trials)")
    mi.add_argument("model_type", help="a registered denoiser (see `motiongen models`)")
    mi.add_argument("--out", required=True, help="model directory to write")
    mi.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    mi.add_argument("--stats", metavar="DIR", help="take Mean.npy / Std.npy from this dataset folder")
    mi.add_argument("--text-encoder", default="minilm", choices=["minilm", "clip"])
    mi.add_argument("--clip-path", metavar="DIR")
    mi.add_argument("--seed", type=_seed_arg, default=0)
    mi.add_argument("--overwrite", action="store_true")
    mi.set_defaults(func=_cmd_models_init)

    t = sub.add_parser("train", help="train a denoiser on a dataset folder; the run folder becomes a model directory",
                       description="Train FineMoGen, HiSTF Mamba or the baseline. Settings come from the paper "
                                   "defaults, then --config (TOML/YAML/JSON, keys = TrainConfig fields), then flags. "
                                   "Runs on one CPU/GPU, or on several under torchrun.")
    t.add_argument("--model", choices=["finemogen", "histf", "baseline"], help="denoiser (default finemogen)")
    t.add_argument("--data", help="dataset folder in the HumanML3D layout (e.g. from `motiongen data build`)")
    t.add_argument("--out", help="run folder (checkpoints, log.csv, and the model files)")
    t.add_argument("--config", metavar="FILE", help="TOML, YAML or JSON with TrainConfig fields")
    t.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a model config field (repeatable)")
    t.add_argument("--steps", type=int)
    t.add_argument("--batch-size", type=int)
    t.add_argument("--lr", type=float)
    t.add_argument("--seed", type=_seed_arg)
    t.add_argument("--device", choices=["auto", "cpu", "cuda"])
    t.add_argument("--checkpoint-every", type=int)
    t.add_argument("--max-minutes", type=float, help="wall-clock budget: stop (with a checkpoint) after this long")
    t.add_argument("--parameterization", choices=["x0", "skip"],
                   help="x0 estimate: x0 (the papers', default) or skip (ours; docs/finemogen.md)")
    t.add_argument("--mirror", type=float, metavar="P", help="ours: mirror this share of clips (default 0)")
    t.add_argument("--reword", action="store_true", help="ours: reword captions in training (default off)")
    t.add_argument("--resume", action="store_true",
                   help="continue the run in --out exactly where it stopped (its settings are read from the run "
                        "folder; flags given again override them)")
    t.add_argument("--quiet", action="store_true")
    _add_threads(t)
    t.set_defaults(func=_cmd_train)

    te = sub.add_parser("train-evaluator", help="train a Guo-style text-motion matching evaluator on a dataset",
                        description="Train the evaluator architecture of Guo et al. (movement conv + BiGRU motion "
                                    "encoder, BiGRU text encoder over word vectors + POS) with its contrastive loss, "
                                    "so FID / R-precision / MM-Dist can be computed on any dataset.")
    te.add_argument("--data", required=True)
    te.add_argument("--out", required=True)
    te.add_argument("--epochs", type=int, default=30)
    te.add_argument("--batch-size", type=int, default=32)
    te.add_argument("--lr", type=float, default=1e-4)
    te.add_argument("--seed", type=_seed_arg, default=0)
    te.add_argument("--size", choices=["full", "small"], default="full",
                    help="full: Guo et al.'s widths; small: width 256 (about 16x cheaper, for CPUs)")
    te.add_argument("--glove", metavar="DIR", help="use GloVe our_vab_* files instead of learned word vectors")
    te.add_argument("--device", default="cpu")
    te.add_argument("--quiet", action="store_true")
    _add_threads(te)
    te.set_defaults(func=_cmd_train_evaluator)

    ev = sub.add_parser("evaluate", help="evaluate models side by side (FID, R-precision, MM-Dist, Diversity, "
                                         "MultiModality, foot skating)",
                        description="EVAL_DIR: a folder from `motiongen train-evaluator`, or Guo et al.'s files "
                                    "(finest.tar, mean.npy, std.npy, and GloVe our_vab_data.npy, our_vab_words.pkl, "
                                    "our_vab_idx.pkl in it or in its glove/ subfolder).")
    ev.add_argument("--models", nargs="+", required=True, metavar="MODEL_DIR")
    ev.add_argument("--data", required=True)
    ev.add_argument("--evaluator", required=True, metavar="EVAL_DIR")
    ev.add_argument("--split", default="test")
    ev.add_argument("--replications", type=int, default=20)
    ev.add_argument("--mm-texts", type=int, default=100, help="texts for MultiModality (0 to skip)")
    ev.add_argument("--mm-samples", type=int, default=30, help="samples per MultiModality text")
    ev.add_argument("--max-items", type=int, help="use only this many items of the split (quick runs)")
    ev.add_argument("--sampler", choices=["ddpm", "ddim", "dpm"])
    ev.add_argument("--steps", type=int)
    ev.add_argument("--guidance", type=float, help="classifier-free guidance scale (default: the model folder's)")
    ev.add_argument("--sampling-filters", action="store_true",
                    help="sample with the model folder's x0 band limit and transition easing (default: off, the "
                         "denoiser's raw output is measured)")
    ev.add_argument("--rigid-bones", action="store_true",
                    help="physical metrics on fixed bone lengths (default: the joints as the features decode them)")
    ev.add_argument("--batch-size", type=int, default=32)
    ev.add_argument("--seed", type=_seed_arg, default=0)
    ev.add_argument("--device", default="cpu")
    ev.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    ev.add_argument("--quiet", action="store_true")
    _add_threads(ev)
    ev.set_defaults(func=_cmd_evaluate)

    c = sub.add_parser("convert", help="convert mocap (BVH, ASF/AMC, DeepMimic, ASE) and joints/features .npy to "
                                       "BVH, GLB, .npy or a preview (.mp4/.gif)",
                       description="Convert a motion file. Inputs: .bvh; .amc (its .asf beside it); DeepMimic .txt "
                                   "(JSON); ASE .npz; each also as archive.zip::member; joints .npy (T, 22|21, 3) or "
                                   "features .npy (T, 263|251). Outputs: .bvh, .glb, .npy (joints or features, see "
                                   "--to), .mp4 or .gif previews. Formats are chosen by extension and array shape; "
                                   "mocap input is retargeted to the 22-joint HumanML3D layout.")
    c.add_argument("input", help="a .bvh, .amc (with its .asf), DeepMimic .txt, ASE .npz (or archive.zip::member of "
                                 "any of them), or a joints/features .npy file")
    c.add_argument("output", help="a .bvh, .glb, .npy, .mp4 or .gif file")
    c.add_argument("--rig", choices=sorted(PRESETS), help="joint-name preset of mocap input (default: detected)")
    c.add_argument("--fps", type=float, default=20.0, help="frame rate to resample mocap input to (default 20)")
    c.add_argument("--units", choices=sorted(UNITS), help="units of mocap input (default: inferred from its size)")
    c.add_argument("--up", choices=["y", "z"], default="y", help="up axis of mocap input (default y)")
    c.add_argument("--to", choices=["joints", "features"],
                   help="what a .npy output holds (default: features for joints input, else joints)")
    c.add_argument("--overwrite", action="store_true", help="replace an existing OUTPUT file")
    c.set_defaults(func=_cmd_convert)

    r = sub.add_parser("retarget", help="put a motion on your own character (a BVH or glTF/GLB rig)",
                       description="Animate CHARACTER's own skeleton (names, hierarchy, offsets, rest pose) with "
                                   "MOTION. Bones are mapped by name (Mixamo, Unreal, Rokoko, CMU, Bandai, SMPL, "
                                   "iClone, SNU ...; detected) or by --map; the root path is scaled by leg length "
                                   "and the feet are planted where the motion plants them. Bones that cannot be "
                                   "mapped stay at rest and are listed.")
    r.add_argument("motion", help="an output folder of generate, a .bvh (any supported rig), joints or features .npy")
    r.add_argument("--to", required=True, metavar="CHARACTER", help="the character: .bvh (or archive.zip::m.bvh), "
                                                                    ".glb or .gltf")
    r.add_argument("--out", required=True, help="OUT.bvh or OUT.glb (a glTF character keeps its meshes)")
    r.add_argument("--overwrite", action="store_true", help="replace an existing OUT (never an input)")
    r.add_argument("--map", metavar="FILE.json", help="bone map: {our joint (left_hip or LeftUpLeg): your bone}")
    r.add_argument("--rest", choices=["rest", "first-frame"], default="rest",
                   help="the character's rest pose: its zero pose / node transforms (default) or its first frame")
    r.add_argument("--units", choices=sorted(UNITS), help="units of a BVH character (default: from its size)")
    r.add_argument("--up", choices=["y", "z"], default="y", help="up axis of a BVH character (default y)")
    r.add_argument("--no-plant", action="store_true", help="do not hold the feet during contacts (no leg IK)")
    r.set_defaults(func=_cmd_retarget)

    ba = sub.add_parser("blender-addon", help="write the Blender add-on (a zip to install in Blender 3.x / 4.x)")
    ba.add_argument("--out", default="motiongen_blender.zip", help="zip to write (default motiongen_blender.zip)")
    ba.add_argument("--overwrite", action="store_true", help="replace an existing zip")
    ba.set_defaults(func=_cmd_blender_addon)

    d = sub.add_parser("data", help="build, summarise and look at motion datasets")
    dsub = d.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    b = dsub.add_parser("build", help="build the corpus from the mocap sets into the HumanML3D layout")
    b.add_argument("--source", default="../shared/data",
                   help="folder with the sets: ../shared/data (default; its bvh/ and extra-mocap/) or one of them")
    b.add_argument("--out", required=True, help="output folder (the standard HumanML3D layout)")
    b.add_argument("--sets", nargs="+", help="only these sets (default: all of bandai-namco cmu xia-style cmu-iclone "
                   "aalto-gait hdm05 deepmimic ase-sword-shield snu-basketball snu-martial-arts "
                   "snu-cmu69-tennis-indian m21-style)")
    b.add_argument("--limit", type=int, help="at most this many clips per set (for quick tries)")
    b.add_argument("--workers", type=int, default=0, help="worker processes (default: all cores)")
    _add_threads(b)
    b.set_defaults(func=_cmd_data_build)
    s = dsub.add_parser("stats", help="summarise a dataset folder")
    s.add_argument("dir")
    s.add_argument("--json", action="store_true", help="print clips, minutes, actions and sources as JSON "
                   "(needs the clips.csv that `motiongen data build` writes)")
    s.add_argument("--split", choices=("train", "val", "test"), help="with --json: count this split only")
    s.set_defaults(func=_cmd_data_stats)
    sh = dsub.add_parser("show", help="render one item of a dataset as a stick figure (.mp4 or .gif)")
    sh.add_argument("dir")
    sh.add_argument("id")
    sh.add_argument("--out", required=True, help="x.mp4 or x.gif")
    sh.set_defaults(func=_cmd_data_show)

    sv = sub.add_parser("serve", help="start motiongen studio: a local web page and JSON API (see /docs)",
                        description="Serve the studio page and its JSON API (OpenAPI at /docs). Binds 127.0.0.1 by "
                                    "default; any other host is reachable by others and prints a warning.")
    sv.add_argument("--host", default="127.0.0.1")
    sv.add_argument("--port", type=int, default=7860)
    sv.add_argument("--model", action="append", metavar="DIR|NAME",
                    help="a model directory or packaged name (repeatable; default: the shipped model)")
    sv.add_argument("--store", default="studio_results", help="folder for results (default ./studio_results)")
    sv.add_argument("--device", default="cpu")
    sv.add_argument("--allow-host", action="append", metavar="NAME",
                    help="another name clients may use in the Host header (repeatable; the loopback names and "
                         "--host are always allowed)")
    sv.add_argument("--llm-url", help="the LLM server for edits with the openai backend (or "
                                      "$MOTIONGEN_LLM_BASE_URL); requests cannot choose another")
    sv.add_argument("--llm-model", help="default model name for that server (or $MOTIONGEN_LLM_MODEL)")
    sv.add_argument("--llm-key", help="its API key (or $OPENAI_API_KEY); sent only to --llm-url")
    _add_threads(sv)
    sv.set_defaults(func=_cmd_serve)
    return p


def default_threads() -> int:
    """Threads for torch: the cores not already busy (1-minute load average), at least 1. On a busy 2-core
    machine torch's default of one thread per core makes denoising several times slower (threads contend)."""
    import os
    cores = os.cpu_count() or 1
    try:
        busy = os.getloadavg()[0]
    except OSError:              # not available on this platform
        busy = 0.0
    return max(1, min(cores, int(round(cores - busy))))


def _set_threads(args) -> None:
    if not hasattr(args, "threads"):        # a subcommand that runs no model
        return
    n = args.threads
    if n is not None and n < 1:
        raise ValueError(f"--threads must be at least 1, got {n}")
    import torch
    torch.set_num_threads(n or default_threads())


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):      # bare `motiongen`: the help, not an error
        parser.print_help()
        return 0
    args = parser.parse_args(argv)
    action = getattr(args, "data_command", None) or getattr(args, "models_command", None)
    command = f"{args.command} {action}" if action else args.command       # "data show", as argparse names it
    try:
        _set_threads(args)
        args.func(args)
    except (ValueError, FileNotFoundError, FileExistsError, KeyError) as e:
        msg = e.args[0] if isinstance(e, KeyError) and e.args else str(e)
        print(f"motiongen {command}: error: {msg}", file=sys.stderr)
        return 2
    except (NotADirectoryError, IsADirectoryError, PermissionError) as e:
        print(f"motiongen {command}: error: '{e.filename}': {e.strerror}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
