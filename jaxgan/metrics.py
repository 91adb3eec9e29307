"""Sample-quality metrics on feature vectors: Fréchet distance, KID, precision/recall, mode coverage.

They take features (Inception pool3 for FID, our classifier's for FCD/KID/PR)
and return plain floats. Statistics are computed in float64 on the host, as in
the reference implementations.
"""

import warnings

import numpy as np
import scipy.linalg


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[D]`` and covariance ``[D, D]`` (float64, unbiased) of ``[N, D]`` features."""
    f = np.asarray(features, np.float64)
    return f.mean(axis=0), np.cov(f, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """``|mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2))`` (Heusel et al. 2017), in float64.

    A near-singular product gets a small diagonal offset before the square
    root, and the imaginary round-off of ``sqrtm`` is dropped, as pytorch-fid
    and TF-GAN do. scipy's "Matrix is singular" warning is silenced: covariances
    of fewer samples than dimensions (the per-epoch FCDs, a small FID) are
    singular by construction, the square root is still right (tested), and the
    case where it is not comes back non-finite and takes the offset.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(len(mu1)) * 1e-6
            covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    covmean = covmean.real
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def kid(
    features1: np.ndarray, features2: np.ndarray, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): unbiased MMD^2, cubic polynomial kernel.

    Averaged over ``num_subsets`` random subsets of ``subset_size`` from each
    set. Returns ``(mean, std)``: the std over subsets is the spread that
    Bińkowski et al. report next to KID.
    """
    f1, f2 = np.asarray(features1, np.float64), np.asarray(features2, np.float64)
    m = min(subset_size, len(f1), len(f2))
    dim = f1.shape[1]
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(num_subsets):
        x = f1[rng.choice(len(f1), m, replace=False)]
        y = f2[rng.choice(len(f2), m, replace=False)]
        kxx, kyy, kxy = ((a @ b.T / dim + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off_diag = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        estimates.append(off_diag - 2 * kxy.mean())
    return float(np.mean(estimates)), float(np.std(estimates))


def _pairwise_sq_dists(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.maximum((a * a).sum(1)[:, None] - 2 * a @ b.T + (b * b).sum(1)[None, :], 0)


def _kth_neighbour_radii(f: np.ndarray, k: int, chunk: int = 2048) -> np.ndarray:
    """Squared distance from each point to its k-th nearest other point."""
    radii = np.empty(len(f))
    for i in range(0, len(f), chunk):
        d = _pairwise_sq_dists(f[i : i + chunk], f)
        radii[i : i + chunk] = np.partition(d, k, axis=1)[:, k]  # index 0 is the point itself
    return radii


def _coverage(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, chunk: int = 2048) -> float:
    """Fraction of points inside at least one ball (centre, radius)."""
    inside = [
        (_pairwise_sq_dists(points[i : i + chunk], centres) <= radii[None, :]).any(axis=1)
        for i in range(0, len(points), chunk)
    ]
    return float(np.concatenate(inside).mean())


def precision_recall(real: np.ndarray, fake: np.ndarray, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN balls.

    Precision: share of fake samples inside the real manifold (quality);
    recall: share of real samples inside the fake manifold (diversity).
    """
    real, fake = np.asarray(real, np.float64), np.asarray(fake, np.float64)
    precision = _coverage(fake, real, _kth_neighbour_radii(real, k))
    recall = _coverage(real, fake, _kth_neighbour_radii(fake, k))
    return precision, recall


def class_coverage(probs: np.ndarray, threshold: float = 0.02) -> dict:
    """Mode coverage from predicted classes of generated samples.

    Returns the histogram (fractions), its entropy in nats (log 10 = 2.303
    for a uniform spread over Fashion-MNIST's classes) and the number of
    classes holding under ``threshold`` of the samples.
    """
    num_classes = probs.shape[1]
    hist = np.bincount(probs.argmax(axis=1), minlength=num_classes) / len(probs)
    nonzero = hist[hist > 0]
    return {
        "histogram": hist.tolist(),
        "entropy": float(-(nonzero * np.log(nonzero)).sum()),
        "classes_under_2pct": int((hist < threshold).sum()),
    }


def classifier_score(probs: np.ndarray, eps: float = 1e-12) -> float:
    """Inception-Score-style ``exp(E_x KL(p(y|x) || p(y)))`` with our classifier."""
    p = np.asarray(probs, np.float64)
    marginal = p.mean(axis=0, keepdims=True)
    kl = (p * (np.log(p + eps) - np.log(marginal + eps))).sum(axis=1)
    return float(np.exp(kl.mean()))
