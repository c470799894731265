"""Atomic file writes: a crash or a bad input never leaves a half-written file in place of a good one."""
from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np


TEMP_MARKER = ".motiongen-temporary"          # inside every temporary folder motiongen makes: {"pid", "target"}
MANIFEST = ".motiongen-manifest.json"          # inside every output folder: the files motiongen wrote there


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):   # alive, someone else's (or not a pid: leave it)
        return True
    return True


def _temp_prefix(path: Path) -> str:
    """Temporary siblings are named '.NAME.tmp-PID-...': the PID tells whether their writer is still running."""
    return f".{path.name}.tmp-{os.getpid()}-"


def _make_temp_folder(path: Path) -> Path:
    """A temporary folder beside ``path`` holding the marker that lets a later sweep recognise it as ours."""
    tmp = Path(tempfile.mkdtemp(prefix=_temp_prefix(path), dir=path.parent))
    mark_temporary(tmp, path.name)
    return tmp


def _is_our_temporary(folder: Path, target: str, pid: int | None = None) -> bool:
    """``folder`` is a real folder holding the marker of a motiongen temporary for ``target`` (made by ``pid``)."""
    import json
    marker = folder / TEMP_MARKER
    try:
        if folder.is_symlink() or marker.is_symlink() or not marker.is_file() or marker.stat().st_size > 4096:
            return False
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (isinstance(info, dict) and isinstance(info.get("pid"), int) and info.get("target") == target
            and (pid is None or info.get("pid") == pid))


def mark_temporary(folder: str | os.PathLike, target: str) -> Path:
    """Mark ``folder`` (just made) as this process's temporary for ``target``."""
    import json
    marker = Path(folder) / TEMP_MARKER
    marker.write_text(json.dumps({"pid": os.getpid(), "target": target}))
    return marker


def is_stale_temporary(folder: str | os.PathLike, target: str) -> bool:
    """True when ``folder`` is motiongen's marked temporary for ``target`` and the process that made it is gone."""
    import json
    folder = Path(folder)
    if not _is_our_temporary(folder, target):
        return False
    pid = json.loads((folder / TEMP_MARKER).read_text(encoding="utf-8"))["pid"]
    return pid != os.getpid() and not _pid_alive(pid)


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Remove temporary siblings of ``path`` left by writers that were killed (their process is gone).

    Only folders motiongen made are removed: named '.NAME.tmp-PID-...', a real folder (not a link), holding the
    marker file that names the same PID and target. A file or folder that merely looks like one is left alone."""
    import shutil

    path = Path(path)
    removed = []
    if not path.parent.is_dir():
        return removed
    pat = re.compile(r"^\." + re.escape(path.name) + r"\.tmp-(\d{1,10})-")
    for sib in path.parent.iterdir():
        m = pat.match(sib.name)
        if not m or sib.is_symlink() or not sib.is_dir():
            continue
        pid = int(m.group(1))
        if pid != os.getpid() and not _pid_alive(pid) and _is_our_temporary(sib, path.name, pid):
            shutil.rmtree(sib, ignore_errors=True)
            removed.append(sib)
    return removed


def _file_digest(path: Path) -> str:
    import hashlib
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def write_manifest(folder: str | os.PathLike, kind: str) -> Path:
    """Record every file under ``folder`` (relative path, size, SHA-256) in its manifest: the marker by which a
    later ``--overwrite`` knows what motiongen wrote there. Call it last, once the folder is complete."""
    import json
    folder = Path(folder)
    files = {}
    for f in sorted(folder.rglob("*")):
        if f.is_file() and not f.is_symlink() and f.name != MANIFEST:
            files[f.relative_to(folder).as_posix()] = {"bytes": f.stat().st_size, "sha256": _file_digest(f)}
    (folder / MANIFEST).write_text(json.dumps({"written_by": "motiongen", "kind": kind, "files": files},
                                              indent=1) + "\n")
    return folder / MANIFEST


def read_manifest(folder: str | os.PathLike) -> dict | None:
    """The manifest of ``folder`` ({relative path: {bytes, sha256}}), or None when it has none (or a broken one)."""
    import json
    f = Path(folder) / MANIFEST
    try:
        if f.is_symlink() or not f.is_file() or f.stat().st_size > 16 << 20:
            return None
        info = json.loads(f.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(info, dict) or info.get("written_by") != "motiongen" or not isinstance(info.get("files"), dict):
        return None
    return info


def foreign_entries(folder: str | os.PathLike) -> list[str]:
    """What in ``folder`` motiongen did not write: anything not listed in its manifest, or changed since (size or
    SHA-256), and every link. A folder without a manifest is all foreign. Folders are descended into."""
    folder = Path(folder)
    info = read_manifest(folder)
    listed = info["files"] if info else {}
    out: list[str] = []

    def walk(d: Path) -> None:
        for e in sorted(d.iterdir()):
            rel = e.relative_to(folder).as_posix()
            if e.is_symlink():
                out.append(rel)
            elif e.is_dir():
                before = len(out)
                walk(e)
                if len(out) == before and not any(k.startswith(rel + "/") for k in listed):
                    out.append(rel + "/")          # an empty folder motiongen did not make
            elif rel == MANIFEST and info is not None:
                continue
            else:
                entry = listed.get(rel)
                if not (isinstance(entry, dict) and entry.get("bytes") == e.stat().st_size
                        and entry.get("sha256") == _file_digest(e)):
                    out.append(rel)
    walk(folder)
    return out


def describe_entries(entries: list[str], n: int = 5) -> str:
    return ", ".join(entries[:n]) + (f" and {len(entries) - n} more" if len(entries) > n else "")


def check_output_file(out: str | os.PathLike, overwrite: bool = False, inputs=(), flag: str = "--out") -> Path:
    """Refuse (before any work) to replace an existing file unless ``overwrite``, and even then when it is a folder
    or one of the command's ``inputs`` (paths, or ``archive.zip::member``); the folder it goes in must exist."""
    out = Path(out)
    if out.is_dir():
        raise FileExistsError(f"{flag} {out}: is a directory; give the output file's name")
    if out.exists() or out.is_symlink():
        if not overwrite:
            raise FileExistsError(f"{flag} {out}: exists; choose another name or pass --overwrite to replace it")
        for given in inputs:
            if given and out.exists() and out.resolve() == Path(str(given).split("::", 1)[0]).resolve():
                raise FileExistsError(f"{flag} {out}: is an input of this command ({given}); write the output to "
                                      f"another file")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"{flag} {out}: the folder '{out.parent}' does not exist")
    return out


def check_output_dir(out: str | os.PathLike, overwrite: bool = False, inputs=(), flag: str = "--out") -> Path:
    """Refuse (before any work) to write over a non-empty directory unless ``overwrite``; even then, refuse when
    the directory holds anything motiongen did not write (judged by the manifest motiongen leaves in every output,
    not by file names), so that nothing of the user's is ever deleted. ``inputs``: (flag, path) of the files the
    command reads; none may lie inside an ``out`` that would be replaced."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"{flag} '{out}' exists and is a file, not a directory")
    if out.is_symlink():
        raise FileExistsError(f"{flag} '{out}' is a symbolic link; give the folder itself")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise FileExistsError(f"{flag} '{out}' exists and is not empty; choose another directory or pass "
                                  f"--overwrite to replace an earlier motiongen output")
        foreign = foreign_entries(out)
        if foreign:
            why = "" if read_manifest(out) else f"; it has no {MANIFEST}, the list motiongen writes of its files"
            raise FileExistsError(f"{flag} '{out}' holds files motiongen did not write ({describe_entries(foreign)})"
                                  f"{why}; --overwrite only replaces an earlier motiongen output, so choose "
                                  f"another directory")
        root = out.resolve()
        for in_flag, path in inputs:
            if path and (root == Path(path).resolve() or root in Path(path).resolve().parents):
                raise FileExistsError(f"{in_flag} '{path}' lies inside {flag} '{out}', which --overwrite would "
                                      f"replace; write the output to another directory")
    return out


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file under the user's umask (temporary files are 0600)."""
    return 0o666 & ~_umask()


def atomic_write(path: str | os.PathLike, writer: Callable[[Path], None], suffix: str | None = None) -> Path:
    """Call ``writer(tmp_path)`` then rename it over ``path``; the temporary is removed on failure. The
    temporary file lies in a marked temporary folder beside ``path``, so a sweep after a crash knows it is ours."""
    import shutil

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    tmp_dir = _make_temp_folder(path)
    tmp_path = tmp_dir / ("payload" + (suffix or path.suffix))
    try:
        tmp_path.touch(mode=0o600)
        writer(tmp_path)
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
    return path


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    return atomic_write(path, lambda p: p.write_bytes(data))


def atomic_save_npy(path: str | os.PathLike, array: np.ndarray) -> Path:
    return atomic_write(path, lambda p: np.save(p, array), suffix=".npy")


def atomic_directory(path: str | os.PathLike, fill: Callable[[Path], None], manifest: str | None = None) -> Path:
    """Build a directory with ``fill(tmp_dir)`` beside ``path``, then move it into place, replacing an existing
    ``path`` only once the new one is complete. On failure the temporary directory is removed and ``path`` is
    left as it was. ``manifest``: write the manifest (:func:`write_manifest`) of this kind after ``fill``.

    Callers check that an existing ``path`` holds only what motiongen wrote (:func:`foreign_entries`) before
    calling this with ``overwrite`` semantics."""
    import shutil

    path = Path(path).resolve() if Path(path).name in ("", ".", "..") else Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    work = _make_temp_folder(path)
    tmp, previous, moved = work / "payload", work / "previous", False
    try:
        tmp.mkdir()
        fill(tmp)
        if manifest:
            write_manifest(tmp, manifest)
        dir_mode, mode = 0o777 & ~_umask(), file_mode()
        os.chmod(tmp, dir_mode)
        for f in tmp.rglob("*"):
            os.chmod(f, dir_mode if f.is_dir() else mode)
        if path.exists() or path.is_symlink():
            os.replace(path, previous)
            moved = True
        os.replace(tmp, path)
    except BaseException:
        if moved and not (path.exists() or path.is_symlink()):
            os.replace(previous, path)                  # the old one back in place
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(work, ignore_errors=True)
    return path
