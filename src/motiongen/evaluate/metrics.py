"""The field's text-to-motion metrics, computed exactly as Guo et al. (2022) and the papers that follow do.

All take embeddings from an evaluator (motion and text encoders into a shared space):

* FID: Frechet distance between Gaussians fitted to real and generated motion embeddings;
* R-precision top-1/2/3: in batches of 32 (text, motion) pairs, how often a text's own motion ranks within the k
  motions nearest to that text (Euclidean). As in Guo et al.'s ``final_evaluations.py``, the distance matrix is
  text x motion and each *text* ranks the 32 motions of its batch; ranking texts per motion instead gives other
  numbers whenever the two embeddings differ in spread or have hubs. The leftover incomplete batch is dropped, as
  in the reference code;
* MM-Dist: mean Euclidean distance between each motion and its own text;
* Diversity: mean distance between 300 random pairs of generated motions (fewer when the set is small: the
  result then says how many pairs it used);
* MultiModality: for each text, mean distance between 10 random pairs of its (30) generations;
* replications are summarised as mean and 95% confidence interval, 1.96 * std / sqrt(n).
"""
from __future__ import annotations

import numpy as np
from scipy import linalg

__all__ = ["activation_statistics", "frechet_distance", "fid", "euclidean_distance_matrix", "r_precision",
           "matching_score", "diversity", "multimodality", "mean_and_confidence"]


def activation_statistics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(x, dtype=np.float64)
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) (the reference implementation, with its eps fallback)."""
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError("the two sets of statistics have different shapes")
    diff = mu1 - mu2
    covmean = linalg.sqrtm(sigma1.dot(sigma2))
    if not np.isfinite(covmean).all():
        offset = np.eye(sigma1.shape[0]) * eps
        covmean = linalg.sqrtm((sigma1 + offset).dot(sigma2 + offset))
    if np.iscomplexobj(covmean):
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(real: np.ndarray, generated: np.ndarray) -> float:
    return frechet_distance(*activation_statistics(real), *activation_statistics(generated))


def euclidean_distance_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    d = -2 * a @ b.T + (a ** 2).sum(1, keepdims=True) + (b ** 2).sum(1)[None]
    return np.sqrt(np.maximum(d, 0))


def r_precision(text_emb: np.ndarray, motion_emb: np.ndarray, top_k: int = 3, batch_size: int = 32
                ) -> tuple[np.ndarray, float]:
    """(top-1..top-k accuracy (k,), MM-Dist) over consecutive batches of ``batch_size`` aligned pairs.

    Row i of the text x motion distance matrix ranks the motions for text i; a hit at k means motion i is among
    text i's k nearest motions (Guo et al.)."""
    n = (len(text_emb) // batch_size) * batch_size
    if n == 0:
        raise ValueError(f"R-precision needs at least {batch_size} pairs, got {len(text_emb)}")
    hits = np.zeros(top_k)
    dist_sum = 0.0
    for s in range(0, n, batch_size):
        d = euclidean_distance_matrix(text_emb[s:s + batch_size], motion_emb[s:s + batch_size])   # text x motion
        dist_sum += np.trace(d)
        rank = np.argsort(d, axis=1)
        correct = rank == np.arange(batch_size)[:, None]
        hits += np.cumsum(correct[:, :top_k], axis=1).sum(0)
    return hits / n, dist_sum / n


def matching_score(text_emb: np.ndarray, motion_emb: np.ndarray) -> float:
    return float(np.linalg.norm(np.asarray(text_emb) - np.asarray(motion_emb), axis=1).mean())


def diversity(emb: np.ndarray, times: int = 300, rng: np.random.Generator | None = None) -> float:
    emb = np.asarray(emb)
    if len(emb) <= times:
        raise ValueError(f"diversity needs more than {times} motions, got {len(emb)}")
    rng = rng or np.random.default_rng(0)
    a = rng.choice(len(emb), times, replace=False)
    b = rng.choice(len(emb), times, replace=False)
    return float(np.linalg.norm(emb[a] - emb[b], axis=1).mean())


def multimodality(emb: np.ndarray, times: int = 10, rng: np.random.Generator | None = None) -> float:
    """emb: (num_texts, num_samples, dim) — several generations per text."""
    emb = np.asarray(emb)
    if emb.ndim != 3 or emb.shape[1] <= times:
        raise ValueError(f"multimodality needs (texts, samples > {times}, dim) embeddings, got {emb.shape}")
    rng = rng or np.random.default_rng(0)
    a = rng.choice(emb.shape[1], times, replace=False)
    b = rng.choice(emb.shape[1], times, replace=False)
    return float(np.linalg.norm(emb[:, a] - emb[:, b], axis=2).mean())


def mean_and_confidence(values) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(1.96 * v.std() / np.sqrt(len(v)))
