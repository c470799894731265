"""Atomic file writes: a crash or a bad input never leaves a half-written file in place of a good one."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:          # alive, someone else's
        return True
    return True


def _temp_prefix(path: Path) -> str:
    """Temporary siblings are named '.NAME.tmp-PID-...': the PID tells whether their writer is still running."""
    return f".{path.name}.tmp-{os.getpid()}-"


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporary siblings of ``path`` left by writers that were killed (their process is gone)."""
    import re
    import shutil

    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    pat = re.compile(r"^\." + re.escape(path.name) + r"\.(?:old\.)?tmp-(\d+)-")
    for sib in path.parent.iterdir():
        m = pat.match(sib.name)
        if m and int(m.group(1)) != os.getpid() and not _pid_alive(int(m.group(1))):
            if sib.is_dir() and not sib.is_symlink():
                shutil.rmtree(sib, ignore_errors=True)
            else:
                sib.unlink(missing_ok=True)
            removed.append(sib)
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the user's umask (temporary files are 0600)."""
    return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], None], suffix: str | None = None) -> Path:
    """Call ``writer(tmp_path)`` then rename it over ``path``; the temporary file is removed on failure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=suffix or path.suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        writer(tmp_path)
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    return atomic_write(path, lambda p: np.save(p, array), suffix=".npy")


def atomic_directory(path: str | os.PathLike, fill: Callable[[Path], None]) -> Path:
    """Build a directory with ``fill(tmp_dir)`` beside ``path``, then move it into place, replacing an existing
    ``path`` only once the new one is complete. On failure the temporary directory is removed and ``path`` is
    left as it was."""
    import shutil

    path = Path(path).resolve() if Path(path).name in ("", ".", "..") else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
    try:
        fill(tmp)
        dir_mode, mode = 0o777 & ~_umask(), file_mode()
        os.chmod(tmp, dir_mode)
        for f in tmp.rglob("*"):
            os.chmod(f, dir_mode if f.is_dir() else mode)
        if path.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old.tmp-{os.getpid()}-", dir=path.parent))
            os.replace(path, old / "previous")
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
