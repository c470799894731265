"""Write generated motions to an output directory: ``motion.npy`` (features), ``joints.npy`` (T, 22, 3),
``motion.bvh``, ``motion.glb`` (on request), ``preview.mp4`` or ``.gif``, ``plan.json`` and ``meta.json``.

One motion fills the directory itself; several go to ``sample_000/``, ``sample_001/`` ... with an index in the
top-level ``meta.json``. The whole directory is assembled beside the target and renamed into place, so an
interrupted run leaves nothing half-written and an existing directory is replaced only when asked to.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from .io_utils import atomic_directory, check_output_dir
from .motion.bvh import write_bvh
from .motion.render import render_motion

__all__ = ["FORMATS", "PREVIEW_FORMATS", "check_output_dir", "parse_formats", "write_motion_files", "write_outputs"]

FORMATS = ("npy", "bvh", "glb", "mp4", "gif")


def parse_formats(text: str) -> dict:
    """'bvh,glb,npy,mp4' -> the keyword arguments of :func:`write_outputs` (npy files are always written)."""
    items = [t.strip().lower().lstrip(".") for t in str(text).split(",") if t.strip()]
    bad = [t for t in items if t not in FORMATS]
    if bad or not items:
        raise ValueError(f"--formats: unknown format(s) {', '.join(bad) or '(none)'}; expected a comma-separated "
                         f"list of {', '.join(FORMATS)}")
    if "mp4" in items and "gif" in items:
        raise ValueError("--formats: choose one preview, mp4 or gif")
    preview = "mp4" if "mp4" in items else ("gif" if "gif" in items else "none")
    return {"preview": preview, "bvh": "bvh" in items, "glb": "glb" in items}

PREVIEW_FORMATS = ("mp4", "gif", "none")


def write_motion_files(folder: Path, motion, preview: str = "mp4", bvh: bool = True, glb: bool = False,
                       character=None) -> dict:
    """Write one motion's files into ``folder`` (which must exist). Returns {kind: filename}. With a
    ``character`` (:class:`~motiongen.motion.character.Character`), the motion on it too: character.bvh and/or
    character.glb, as the formats ask (a glTF character always gets character.glb)."""
    files = {}
    np.save(folder / "motion.npy", np.asarray(motion.features, np.float32))
    files["features"] = "motion.npy"
    np.save(folder / "joints.npy", np.asarray(motion.joints, np.float32))
    files["joints"] = "joints.npy"
    if bvh:
        write_bvh(folder / "motion.bvh", motion.joints, fps=motion.fps)
        files["bvh"] = "motion.bvh"
    if glb:
        from .motion.gltf import write_glb
        write_glb(folder / "motion.glb", motion.joints, fps=motion.fps, name=motion.text[:40] or "motiongen")
        files["glb"] = "motion.glb"
    meta_extra = {}
    if character is not None:
        from .convert import character_notes
        from .motion.character import retarget_to_character, write_character_bvh, write_character_glb
        res = retarget_to_character(motion.joints, motion.fps, character)
        if bvh and character.kind == "bvh":
            write_character_bvh(folder / "character.bvh", res)
            files["character_bvh"] = "character.bvh"
        if glb or character.kind == "gltf" or not bvh:
            write_character_glb(folder / "character.glb", res, name=motion.text[:40] or "motiongen")
            files["character_glb"] = "character.glb"
        meta_extra["character"] = {"source": str(character.source), "notes": character_notes(res)}
    if preview != "none":
        render_motion(motion.joints, folder / f"preview.{preview}", fps=motion.fps, title=motion.text[:60])
        files["preview"] = f"preview.{preview}"
    plan = motion.plan or {"stages": [{"text": motion.text, "frames": [0, motion.num_frames]}]}
    (folder / "plan.json").write_text(json.dumps(plan, indent=2) + "\n")
    files["plan"] = "plan.json"
    meta = dict(motion.meta)
    meta.update(meta_extra)
    meta["files"] = files
    (folder / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
    return files


def write_outputs(out: str | os.PathLike, motions: list, preview: str = "mp4", bvh: bool = True,
                  overwrite: bool = False, extra_meta: dict | None = None, glb: bool = False, inputs=(),
                  character=None) -> list[Path]:
    """Write motions to ``out`` atomically, with the manifest of what was written; returns each motion's folder.
    ``inputs``: (flag, path) pairs that must not lie inside ``out`` when it is replaced."""
    if preview not in PREVIEW_FORMATS:
        raise ValueError(f"preview must be one of {', '.join(PREVIEW_FORMATS)}, got '{preview}'")
    out = check_output_dir(out, overwrite, inputs)
    rel: list[Path] = []

    def fill(tmp: Path) -> None:
        if len(motions) == 1:
            if extra_meta:
                motions[0].meta.update(extra_meta)
            write_motion_files(tmp, motions[0], preview, bvh, glb, character)
            rel.append(Path("."))
            return
        index = []
        for n, m in enumerate(motions):
            sub = Path(f"sample_{n:03d}")
            (tmp / sub).mkdir()
            if extra_meta:
                m.meta.update(extra_meta)
            write_motion_files(tmp / sub, m, preview, bvh, glb, character)
            rel.append(sub)
            index.append({"dir": str(sub), "text": m.text, "seed": m.seed, "frames": m.num_frames})
        (tmp / "meta.json").write_text(json.dumps({"samples": index, **(extra_meta or {})}, indent=2) + "\n")

    atomic_directory(out, fill, manifest="motion output")
    return [out / r for r in rel]
