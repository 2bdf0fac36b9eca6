"""2-D maps of works by their visual characteristics: PCA, then a small exact t-SNE (numpy)."""

from __future__ import annotations

import numpy as np


def pca(X: np.ndarray, dims: int) -> np.ndarray:
    """Project standardised rows onto their top ``dims`` principal components."""
    X = np.asarray(X, dtype=np.float64)
    std = X.std(0)
    Xc = (X - X.mean(0)) / np.where(std < 1e-8, 1.0, std)
    dims = max(1, min(dims, *Xc.shape))
    _, s, vt = np.linalg.svd(Xc, full_matrices=False)
    return Xc @ vt[:dims].T


def _conditional_p(d2: np.ndarray, perplexity: float, tol: float = 1e-5, steps: int = 60) -> np.ndarray:
    """Row-wise Gaussian affinities whose entropy matches log(perplexity) (binary search on the precision)."""
    n = len(d2)
    P = np.zeros((n, n))
    target = np.log(perplexity)
    for i in range(n):
        d = np.delete(d2[i], i)
        lo, hi, beta = 0.0, np.inf, 1.0
        for _ in range(steps):
            p = np.exp(-(d - d.min()) * beta)
            total = p.sum()
            H = np.log(total) + beta * (d - d.min()).dot(p) / total
            if abs(H - target) < tol:
                break
            if H > target:
                lo, beta = beta, beta * 2 if hi == np.inf else (beta + hi) / 2
            else:
                hi, beta = beta, (beta + lo) / 2
        P[i, np.arange(n) != i] = p / total
    return P


def tsne(X: np.ndarray, perplexity: float = 15.0, iterations: int = 500, seed: int = 0,
         learning_rate: float | None = None) -> np.ndarray:
    """t-SNE (van der Maaten & Hinton 2008), exact gradients: fine for the few hundred works of a gallery."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    perplexity = min(perplexity, max(2.0, (n - 1) / 3))
    sq = (X * X).sum(1)
    d2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0)
    P = _conditional_p(d2, perplexity)
    P = np.maximum((P + P.T) / (2 * n), 1e-12)
    rng = np.random.default_rng(seed)
    Y = rng.normal(0, 1e-4, (n, 2))
    # The "auto" rate of Belkina et al. (2019): n / exaggeration, floored; 200 overshoots on small sets.
    lr = learning_rate or max(n / 12.0, 10.0)
    velocity = np.zeros_like(Y)
    gains = np.ones_like(Y)
    for it in range(iterations):
        exaggeration = 12.0 if it < 100 else 1.0
        momentum = 0.5 if it < 100 else 0.8
        sy = (Y * Y).sum(1)
        num = 1.0 / (1.0 + np.maximum(sy[:, None] + sy[None, :] - 2 * Y @ Y.T, 0))
        np.fill_diagonal(num, 0)
        Q = np.maximum(num / num.sum(), 1e-12)
        PQ = (exaggeration * P - Q) * num
        grad = 4 * ((np.diag(PQ.sum(1)) - PQ) @ Y)
        gains = np.where(np.sign(grad) != np.sign(velocity), gains + 0.2, gains * 0.8).clip(0.01)
        velocity = momentum * velocity - lr * gains * grad
        Y = Y + velocity
        Y -= Y.mean(0)
    return Y


def layout_2d(X: np.ndarray, seed: int = 0) -> np.ndarray:
    """Positions in [0, 1]² for rows of ``X``: t-SNE on 30 PCA dimensions, PCA alone for a handful of works."""
    X = np.asarray(X, dtype=np.float64)
    n = len(X)
    if n == 0:
        return np.zeros((0, 2))
    if n == 1:
        return np.full((1, 2), 0.5)
    reduced = pca(X, 30)
    Y = tsne(reduced, seed=seed) if n >= 8 else reduced[:, :2]
    if Y.shape[1] == 1:
        Y = np.concatenate([Y, np.zeros_like(Y)], axis=1)
    lo, hi = Y.min(0), Y.max(0)
    return (Y - lo) / np.where(hi - lo < 1e-12, 1.0, hi - lo)
