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


def _poly_kernel(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """KID's kernel ``(a . b / dim + 1)^3``, ``[len(a), len(b)]`` (in place: allocating arrays of this size
    takes as long as the product)."""
    k = a @ b.T
    k /= a.shape[1]
    k += 1
    cube = np.square(k)
    cube *= k
    return cube


def _block_sums(a: np.ndarray, b: np.ndarray, rows: np.ndarray, cols: np.ndarray, chunk: int = 1 << 22) -> np.ndarray:
    """``sum_{i in rows[s], j in cols[s]} k(a_i, b_j)`` for each subset ``s`` (``rows``, ``cols`` ``[S, m]``
    indices without repeats): ``[S]``.

    Either each subset's ``m x m`` block, or, where it costs fewer multiplies, the
    whole ``k(a, b)`` once, in pieces of about ``chunk`` entries, between the
    subsets' indicator vectors; the sums are the same up to rounding.
    """
    num, m = rows.shape
    if len(a) * len(b) >= num * m * m:
        return np.array([_poly_kernel(a[r], b[c]).sum() for r, c in zip(rows, cols, strict=True)])
    in_a, in_b = np.zeros((len(a), num)), np.zeros((len(b), num))  # [n, S] indicators
    in_a[rows, np.arange(num)[:, None]] = 1
    in_b[cols, np.arange(num)[:, None]] = 1
    sums, step = np.zeros(num), max(1, chunk // len(b))  # rows of k(a, b) at a time
    for i in range(0, len(a), step):
        sums += np.einsum("is,is->s", in_a[i : i + step], _poly_kernel(a[i : i + step], b) @ in_b)
    return sums


def _within_sums(x: np.ndarray, subsets: np.ndarray) -> np.ndarray:
    """``sum_{i != j in subsets[s]} k(x_i, x_j)`` for each subset: ``[S]``."""
    diagonal = ((x * x).sum(1) / x.shape[1] + 1) ** 3
    return _block_sums(x, x, subsets, subsets) - diagonal[subsets].sum(1)


class KID:
    """Kernel Inception Distance (Bińkowski et al. 2018) of feature sets against one reference set.

    The unbiased MMD^2 with the cubic polynomial kernel, averaged over
    ``num_subsets`` random subsets of ``subset_size`` from each set; a call
    returns ``(mean, std)``, the std over subsets being the spread that
    Bińkowski et al. report next to KID. The subsets are drawn from ``seed``
    alone, so for a given number of samples they are the same at every call,
    and so are the reference set's own kernel sums: those are computed once (a
    third of the work when the trainer measures each epoch's samples).
    """

    def __init__(self, reference: np.ndarray, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0):
        self.reference = np.asarray(reference, np.float64)
        self.num_subsets, self.subset_size, self.seed = num_subsets, subset_size, seed
        self._subsets = {}  # len(features) -> (reference rows [S, m], feature rows [S, m], reference sums [S])

    def _draw(self, n: int):
        if n not in self._subsets:
            n_ref = len(self.reference)
            m = min(self.subset_size, n_ref, n)
            rng = np.random.default_rng(self.seed)
            # Drawn in turns, one subset of each set at a time (as KID has always drawn them here).
            draws = [
                (rng.choice(n_ref, m, replace=False), rng.choice(n, m, replace=False)) for _ in range(self.num_subsets)
            ]
            rows, cols = (np.stack(d) for d in zip(*draws, strict=True))
            self._subsets[n] = rows, cols, _within_sums(self.reference, rows)
        return self._subsets[n]

    def __call__(self, features: np.ndarray) -> tuple[float, float]:
        features = np.asarray(features, np.float64)
        rows, cols, reference_sums = self._draw(len(features))
        m = rows.shape[1]
        within = (reference_sums + _within_sums(features, cols)) / (m * (m - 1))
        estimates = within - 2 * _block_sums(self.reference, features, rows, cols) / (m * m)
        return float(np.mean(estimates)), float(np.std(estimates))


def kid(
    features1: np.ndarray, features2: np.ndarray, num_subsets: int = 100, subset_size: int = 1000, seed: int = 0
) -> tuple[float, float]:
    """KID ``(mean, std)`` between two feature sets (see :class:`KID`)."""
    return KID(features1, num_subsets, subset_size, seed)(features2)


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
