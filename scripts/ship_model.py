"""Turn a finished training run into the checkpoint that ships inside the package (fp16 safetensors + licence).

    python scripts/ship_model.py RUN_DIR [--out src/motiongen/checkpoints/default] [--note "..."] [--data CORPUS]

Keeps the run's config.json (model, text encoder, diffusion, sampling) and adds what the README states: the
training steps, the config file, the machine and the licence. The folder is replaced atomically.
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
                    "(default: the run's own known_actions.json, else the one already in --out)")
    args = ap.parse_args(argv)
    from motiongen import __version__
    from motiongen.pipeline import MotionPipeline
    run = Path(args.run)
    pipe = MotionPipeline.from_pretrained(run)
    state = torch.load(run / "train_state.pt", map_location="cpu", weights_only=True)
    cfg = json.loads((run / "config.json").read_text())
    training = dict(cfg.get("training", {}))
    training.update({"data": "motiongen corpus (motiongen data build --source ../shared/data/bvh)",
                     "steps": int(state["step"]), "config": args.config,
                     "machine": f"2-core CPU ({platform.machine()}), torch {torch.__version__.split('+')[0]}",
                     "weights": "EMA"})
    if args.note:
        training["note"] = args.note
    licence = Path(args.out) / "LICENSE.txt"
    text = licence.read_text() if licence.is_file() else (ROOT / "src/motiongen/checkpoints/default/LICENSE.txt").read_text()
    tmp_licence = run / "LICENSE.txt"
    tmp_licence.write_text(text)
    extra = {"training": training, "motiongen_version": __version__,
             "license": "CC BY-NC 4.0 (trained on Bandai Namco Research Motion Dataset); see LICENSE.txt"}
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


if __name__ == "__main__":
    sys.exit(main())
