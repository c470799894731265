"""Stick-figure previews (mp4 or gif) with a floor grid and the root's trajectory.

Left limbs are drawn red, right limbs blue, so a swapped side is visible at a glance. Frames are piped to the
static ffmpeg that ships with ``imageio-ffmpeg`` (no system ffmpeg needed); the figure's artists are created once
and updated per frame.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..io_utils import atomic_write
from ..skeleton import SkeletonSpec, get_skeleton

__all__ = ["render_motion"]

_LEFT, _RIGHT, _CENTRE = "#d62728", "#1f77b4", "#222222"


def _chain_colour(chain: tuple[int, ...], spec: SkeletonSpec) -> str:
    names = [spec.joint_names[j] for j in chain[1:]]
    if all(n.startswith("left") for n in names):
        return _LEFT
    if all(n.startswith("right") for n in names):
        return _RIGHT
    return _CENTRE


def render_motion(joints: np.ndarray, path: str | os.PathLike, fps: float = 20.0, title: str = "",
                  spec: SkeletonSpec | None = None, size: tuple[int, int] = (480, 480)) -> Path:
    """Render joints (T, J, 3) (metres, Y up) to ``path`` (.mp4 or .gif), written atomically."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import imageio_ffmpeg

    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f"joints: expected shape (T, J, 3), got {joints.shape}")
    spec = spec or get_skeleton(joints.shape[1])
    path = Path(path)
    ext = path.suffix.lower()
    if ext not in (".mp4", ".gif"):
        raise ValueError(f"{path}: preview must end in .mp4 or .gif")
    # (x, y, z) Y-up -> plot (x, -z, y): a proper rotation, so left stays left on screen
    p = np.stack([joints[..., 0], -joints[..., 2], joints[..., 1]], axis=-1)
    root = p[:, 0]
    lo = np.minimum(p.reshape(-1, 3).min(0), 0)
    hi = p.reshape(-1, 3).max(0)
    centre = (lo + hi) / 2
    half = max(float((hi - lo)[:2].max()) / 2 + 0.3, float(hi[2]) / 2 + 0.2, 1.0)

    dpi = 100
    fig = plt.figure(figsize=(size[0] / dpi, size[1] / dpi), dpi=dpi)
    ax = fig.add_subplot(111, projection="3d")
    ax.view_init(elev=15, azim=-70)
    ax.set_xlim(centre[0] - half, centre[0] + half)
    ax.set_ylim(centre[1] - half, centre[1] + half)
    ax.set_zlim(0, 2 * half)
    ax.set_box_aspect((1, 1, 1), zoom=1.35)
    ax.set_axis_off()
    grid = np.linspace(-half, half, 9)
    for g in grid:
        ax.plot([centre[0] - half, centre[0] + half], [centre[1] + g] * 2, [0, 0], color="#cccccc", lw=0.6)
        ax.plot([centre[0] + g] * 2, [centre[1] - half, centre[1] + half], [0, 0], color="#cccccc", lw=0.6)
    ax.plot(root[:, 0], root[:, 1], np.zeros(len(root)), color="#2ca02c", lw=1.2, alpha=0.7)
    lines = [ax.plot([], [], [], color=_chain_colour(c, spec), lw=2.5, marker="o", ms=2.5)[0]
             for c in spec.kinematic_chain]
    fig.text(0.02, 0.95, title[:80], fontsize=9)
    counter = fig.text(0.85, 0.02, "", fontsize=8)
    fig.subplots_adjust(0, 0, 1, 1)
    fig.canvas.draw()
    w, h = fig.canvas.get_width_height()

    def frames():
        for t in range(len(p)):
            for line, chain in zip(lines, spec.kinematic_chain):
                c = p[t, list(chain)]
                line.set_data(c[:, 0], c[:, 1])
                line.set_3d_properties(c[:, 2])
            counter.set_text(f"{t / fps:5.2f} s")
            fig.canvas.draw()
            yield np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()

    def write(tmp: Path) -> None:
        kw = dict(fps=fps, macro_block_size=1, ffmpeg_log_level="error")
        if ext == ".gif":
            kw.update(codec="gif", pix_fmt_out="rgb8", quality=None,
                      output_params=["-f", "gif"])
        else:
            kw.update(codec="libx264", pix_fmt_out="yuv420p", output_params=["-f", "mp4"])
        writer = imageio_ffmpeg.write_frames(str(tmp), (w, h), **kw)
        writer.send(None)
        for frame in frames():
            writer.send(np.ascontiguousarray(frame))
        writer.close()

    try:
        atomic_write(path, write)
    finally:
        plt.close(fig)
    return path
