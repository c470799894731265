"""Quaternion helpers (w, x, y, z), in NumPy (float64 for data processing) and PyTorch (for models).

Same conventions as the HumanML3D code's ``common/quaternion.py`` so that our features match theirs.
"""
from __future__ import annotations

import numpy as np
import torch


def qnormalize_np(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q, axis=-1, keepdims=True)


def qmul_np(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
    return np.stack([
        w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
        w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
        w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
        w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
    ], axis=-1)


def qinv_np(q: np.ndarray) -> np.ndarray:
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def qrot_np(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors ``v`` (..., 3) by unit quaternions ``q`` (..., 4) (broadcasting)."""
    q = np.broadcast_to(q, v.shape[:-1] + (4,))
    qvec = q[..., 1:]
    uv = np.cross(qvec, v)
    uuv = np.cross(qvec, uv)
    return v + 2.0 * (q[..., :1] * uv + uuv)


def qbetween_np(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Quaternion rotating direction ``v0`` onto ``v1`` (not normalised inputs allowed)."""
    v = np.cross(v0, v1)
    w = np.sqrt((v0 ** 2).sum(-1, keepdims=True) * (v1 ** 2).sum(-1, keepdims=True)) + (v0 * v1).sum(-1, keepdims=True)
    return qnormalize_np(np.concatenate([w, v], axis=-1))


def qfix_np(q: np.ndarray) -> np.ndarray:
    """Flip signs along time (axis 0) so consecutive quaternions are in the same hemisphere."""
    out = q.copy()
    dot = np.sum(q[1:] * q[:-1], axis=-1)
    mask = np.cumsum(dot < 0, axis=0) % 2 == 1
    out[1:][mask] *= -1
    return out


def quaternion_to_matrix_np(q: np.ndarray) -> np.ndarray:
    r, i, j, k = np.moveaxis(q, -1, 0)
    two_s = 2.0 / (q * q).sum(-1)
    o = np.stack([
        1 - two_s * (j * j + k * k), two_s * (i * j - k * r), two_s * (i * k + j * r),
        two_s * (i * j + k * r), 1 - two_s * (i * i + k * k), two_s * (j * k - i * r),
        two_s * (i * k - j * r), two_s * (j * k + i * r), 1 - two_s * (i * i + j * j),
    ], axis=-1)
    return o.reshape(q.shape[:-1] + (3, 3))


def matrix_to_quaternion_np(m: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4) with w >= 0."""
    from scipy.spatial.transform import Rotation

    flat = m.reshape(-1, 3, 3)
    xyzw = Rotation.from_matrix(flat).as_quat()
    q = np.concatenate([xyzw[:, 3:], xyzw[:, :3]], axis=-1)
    return q.reshape(m.shape[:-2] + (4,))


def quaternion_to_cont6d_np(q: np.ndarray) -> np.ndarray:
    """The continuous 6D rotation of Zhou et al.: the first two columns of the matrix."""
    m = quaternion_to_matrix_np(q)
    return np.concatenate([m[..., 0], m[..., 1]], axis=-1)


def cont6d_to_matrix_np(c: np.ndarray) -> np.ndarray:
    x_raw, y_raw = c[..., :3], c[..., 3:]
    x = x_raw / np.linalg.norm(x_raw, axis=-1, keepdims=True)
    z = np.cross(x, y_raw)
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    y = np.cross(z, x)
    return np.stack([x, y, z], axis=-1)


# ---- torch (differentiable; used by features -> joints and by geometric losses) ---------------------
def qinv(q: torch.Tensor) -> torch.Tensor:
    return q * q.new_tensor([1.0, -1.0, -1.0, -1.0])


def qrot(q: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    q = q.expand(v.shape[:-1] + (4,))
    qvec = q[..., 1:]
    uv = torch.cross(qvec, v, dim=-1)
    uuv = torch.cross(qvec, uv, dim=-1)
    return v + 2 * (q[..., :1] * uv + uuv)
