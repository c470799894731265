"""``motiongen blender-addon``: write the Blender add-on (this folder's ``motiongen_blender.py``) as an
installable zip (a ``motiongen_blender/`` package holding it as ``__init__.py``)."""
from __future__ import annotations

import io
import os
import zipfile
from importlib import resources
from pathlib import Path

__all__ = ["addon_source", "write_addon_zip"]


def addon_source() -> str:
    return resources.files(__package__).joinpath("motiongen_blender.py").read_text(encoding="utf-8")


def write_addon_zip(out: str | os.PathLike, overwrite: bool = False) -> Path:
    from ..io_utils import atomic_write_bytes, check_output_file
    out = Path(out)
    if out.suffix.lower() != ".zip":
        raise ValueError(f"--out {out}: expected a .zip file (Blender installs add-ons from zips)")
    check_output_file(out, overwrite)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("motiongen_blender/__init__.py", addon_source())
    return atomic_write_bytes(out, buf.getvalue())
