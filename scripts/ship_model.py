"""Turn a finished training run into the checkpoint that ships inside the package (fp16 safetensors + licence).

    python scripts/ship_model.py RUN_DIR [--out src/motiongen/checkpoints/default] [--note "..."] [--data CORPUS]
                                 [--sampling-from src/motiongen/checkpoints/default]

Keeps the run's config.json (model, text encoder, diffusion, sampling) and adds what the README states: the
training steps, the config file, the machine and the licence. With ``--data`` (the corpus the run trained on) the
licence and the data description are written from the corpus's own record (meta.json, LICENSES.txt: every source
with its clips and terms). ``--sampling-from DIR`` keeps that model's sampling-time settings (the x0 band limit and
the transition easing of its ``diffusion`` entry, its ``sampling``), which training runs do not set. The folder is
replaced atomically.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run")
    ap.add_argument("--out", default=str(ROOT / "src" / "motiongen" / "checkpoints" / "default"))
    ap.add_argument("--config", default="configs/finemogen_cpu_small.toml")
    ap.add_argument("--note", default="")
    ap.add_argument("--data", default=None, help="the corpus the run was trained on: writes known_actions.json "
                    "(default: the run's own known_actions.json, else the one already in --out) and the licence")
    ap.add_argument("--sampling-from", default=None, help="a model folder whose sampling-time settings to keep")
    args = ap.parse_args(argv)
    from motiongen import __version__
    from motiongen.pipeline import MotionPipeline
    run = Path(args.run)
    pipe = MotionPipeline.from_pretrained(run)
    state = torch.load(run / "train_state.pt", map_location="cpu", weights_only=True)
    cfg = json.loads((run / "config.json").read_text())
    training = dict(cfg.get("training", {}))
    data_note = "motiongen corpus (motiongen data build --source ../shared/data/bvh)"
    licence_text, licence_line = None, "CC BY-NC 4.0 (trained on Bandai Namco Research Motion Dataset); see LICENSE.txt"
    if args.data:
        data_note, licence_text, licence_line = corpus_licence(Path(args.data))
    training.update({"data": data_note,
                     "steps": int(state["step"]), "config": args.config,
                     "machine": f"2-core CPU ({platform.machine()}), torch {torch.__version__.split('+')[0]}",
                     "weights": "EMA"})
    if args.note:
        training["note"] = args.note
    licence = Path(args.out) / "LICENSE.txt"
    text = licence_text or (licence.read_text() if licence.is_file()
                            else (ROOT / "src/motiongen/checkpoints/default/LICENSE.txt").read_text())
    tmp_licence = run / "LICENSE.txt"
    tmp_licence.write_text(text)
    extra = {"training": training, "motiongen_version": __version__, "license": licence_line}
    if args.sampling_from:
        keep = json.loads((Path(args.sampling_from) / "config.json").read_text())
        diffusion = dict(pipe.info.get("diffusion", {}))
        for k in ("x0_lowpass_hz", "transition_lowpass_hz", "transition_seconds"):
            if k in keep.get("diffusion", {}):
                diffusion[k] = keep["diffusion"][k]
        extra["diffusion"] = diffusion
        if "sampling" in keep:
            extra["sampling"] = keep["sampling"]
        pipe.diffusion.x0_lowpass_hz = float(diffusion.get("x0_lowpass_hz", 0.0))
    files = [tmp_licence]
    from motiongen.known_actions import FILE_NAME, build_known_actions, write_known_actions
    if args.data:                                   # what the model knows, for the unknown-action warning
        write_known_actions(run, build_known_actions(args.data))
    elif not (run / FILE_NAME).is_file() and (Path(args.out) / FILE_NAME).is_file():
        (run / FILE_NAME).write_text((Path(args.out) / FILE_NAME).read_text())
    if (run / FILE_NAME).is_file():
        files.append(run / FILE_NAME)
    pipe.save_pretrained(args.out, dtype=torch.float16, extra_info=extra, extra_files=files)
    size = sum(f.stat().st_size for f in Path(args.out).iterdir())
    print(f"shipped {run} (step {state['step']}, {pipe.denoiser.num_parameters() / 1e6:.2f}M parameters) -> "
          f"{args.out} ({size / 1e6:.1f} MB)")
    return 0


def corpus_licence(corpus: Path) -> tuple[str, str, str]:
    """(data description, LICENSE.txt text, one-line licence) of weights trained on a built corpus."""
    meta = json.loads((corpus / "meta.json").read_text())
    sources = meta.get("sources", {})
    notes = (corpus / "LICENSES.txt").read_text() if (corpus / "LICENSES.txt").is_file() else ""
    total = sum(v.get("minutes", 0) for v in sources.values()) or 1.0
    rows = [f"- {name}: {v.get('clips', 0)} clips, {v.get('minutes', 0):.1f} min ({100 * v.get('minutes', 0) / total:.0f}%)"
            f" -- {v.get('licence', 'see LICENSES.txt')}" for name, v in sources.items()]
    names = ", ".join(sources)
    data = f"motiongen corpus (motiongen data build; sets: {names})"
    text = (
        "motiongen default model (FineMoGen, small CPU configuration)\n\n"
        f"These weights were trained by motiongen on its corpus built with `motiongen data build` from the real\n"
        f"mocap sets below ({meta.get('items', {}).get('train', '?')} training motions):\n\n" + "\n".join(rows) + "\n\n"
        "Several sources are non-commercial (Bandai Namco Research Motion Dataset, CC BY-NC 4.0, (c) Bandai Namco\n"
        "Research Inc.; the DeepMimic sie/ clips, CC BY-NC 4.0, Sony Interactive Entertainment; ASE's Reallusion\n"
        "motions, non-commercial use only), so these weights are distributed under CC BY-NC 4.0:\n"
        "non-commercial use only, with attribution to the sources above and to motiongen.\n"
        "https://creativecommons.org/licenses/by-nc/4.0/\n\n"
        "HDM05 (Mueller et al., tech. report CG-2007-2, CC BY-SA 3.0) is credited here as its licence requires.\n"
        "Whether trained weights are an adaptation of their training motions is not settled; where you need\n"
        "certainty, train on the sets whose terms suit you (`motiongen data build --sets ...`).\n\n"
        "The sources' own notes, as the corpus build recorded them:\n\n" + notes + "\n"
        "The motiongen code itself is MIT licensed (see LICENSE in the repository).\n")
    line = "CC BY-NC 4.0 (trained on non-commercial mocap sets, Bandai Namco Research Motion Dataset among them); see LICENSE.txt"
    return data, text, line


if __name__ == "__main__":
    sys.exit(main())
