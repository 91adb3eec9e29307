import math
import warnings

import numpy as np
import pytest

from jaxgan import metrics


@pytest.fixture(scope="module")
def gaussian_sets():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 16))
    b = rng.normal(size=(2000, 16))
    return a, b


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    mu1, mu2 = np.zeros(3), np.array([1.0, 2.0, 0.0])
    var1, var2 = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    expected = 5.0 + ((np.sqrt(var1) - np.sqrt(var2)) ** 2).sum()  # 5 + 1 + 1
    got = metrics.frechet_distance(mu1, np.diag(var1), mu2, np.diag(var2))
    assert got == pytest.approx(expected, abs=1e-9)


def test_frechet_distance_is_symmetric_and_zero_on_itself(gaussian_sets):
    a, b = gaussian_sets
    sa, sb = metrics.gaussian_stats(a), metrics.gaussian_stats(b + 0.5)
    assert metrics.frechet_distance(*sa, *sa) == pytest.approx(0, abs=1e-6)
    assert metrics.frechet_distance(*sa, *sb) == pytest.approx(metrics.frechet_distance(*sb, *sa), rel=1e-6)
    assert metrics.frechet_distance(*sa, *sb) == pytest.approx(16 * 0.25, rel=0.1)


def test_frechet_distance_of_singular_covariances_is_exact_and_quiet():
    # Fewer samples than dimensions and two dead (always zero) features, as a
    # ReLU network's can be: both covariances are singular, exactly. tr((S1 S2)^(1/2))
    # is the sum of the square roots of the eigenvalues of S1^(1/2) S2 S1^(1/2)
    # (similar to S1 S2, symmetric PSD).
    rng = np.random.default_rng(0)
    features = [np.pad(rng.normal(size=(5, 6)), ((0, 0), (0, 2))) for _ in range(2)]  # [5, 8]
    (mu1, s1), (mu2, s2) = (metrics.gaussian_stats(f) for f in features)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    eig = np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)
    expected = ((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(eig).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = metrics.frechet_distance(mu1, s1, mu2, s2)
    assert got == pytest.approx(expected, rel=1e-6)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_two(gaussian_sets):
    a, b = gaussian_sets
    same, same_std = metrics.kid(a, b, num_subsets=20, subset_size=500)
    assert abs(same) < 3 * same_std + 1e-3
    shifted, _ = metrics.kid(a, b + 1.0, num_subsets=20, subset_size=500)
    assert shifted > 20 * max(abs(same), same_std)


def kid_by_definition(f1, f2, num_subsets, subset_size, seed=0):
    """KID as Bińkowski et al. write it, one subset pair at a time, the subsets drawn as metrics.KID draws them."""
    rng = np.random.default_rng(seed)
    m = min(subset_size, len(f1), len(f2))
    estimates = []
    for _ in range(num_subsets):
        x, y = f1[rng.choice(len(f1), m, replace=False)], f2[rng.choice(len(f2), m, replace=False)]
        kxx, kyy, kxy = ((a @ b.T / a.shape[1] + 1) ** 3 for a, b in ((x, x), (y, y), (x, y)))
        off_diag = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
        estimates.append(off_diag - 2 * kxy.mean())
    return np.mean(estimates), np.std(estimates)


@pytest.mark.parametrize(
    "sizes, num_subsets, subset_size",
    [
        ((3000, 600), 10, 500),  # one set's subsets cover it: its whole kernel matrix is cheaper, and the cross one
        ((300, 400), 4, 100),  # every block is cheaper one subset at a time
        ((800, 3000), 50, 1000),  # subsets larger than a set: m = 800
    ],
)
def test_kid_equals_its_definition(sizes, num_subsets, subset_size):
    rng = np.random.default_rng(1)
    reference = rng.normal(size=(sizes[0], 8))
    kid = metrics.KID(reference, num_subsets, subset_size, seed=3)
    for shift in (0.0, 0.3):  # the second call reuses the reference's sums of the first
        features = rng.normal(size=(sizes[1], 8)) + shift
        expected = kid_by_definition(reference, features, num_subsets, subset_size, seed=3)
        np.testing.assert_allclose(kid(features), expected, rtol=1e-9)
    np.testing.assert_allclose(metrics.kid(reference, features, num_subsets, subset_size, seed=3), expected, rtol=1e-9)


def test_kid_kernel_sums_in_pieces_equal_the_blocks():
    # The whole-matrix path (40 x 30 entries, fewer than 6 blocks of 20 x 20), one row at a time (budget 50).
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(40, 5)), rng.normal(size=(30, 5))
    rows = np.stack([rng.choice(40, 20, replace=False) for _ in range(6)])
    cols = np.stack([rng.choice(30, 20, replace=False) for _ in range(6)])
    blocks = [((a[r] @ b[c].T / 5 + 1) ** 3).sum() for r, c in zip(rows, cols, strict=True)]
    np.testing.assert_allclose(metrics._block_sums(a, b, rows, cols, chunk=50), blocks, rtol=1e-12)


def test_precision_recall_of_a_collapsed_set(gaussian_sets):
    real, _ = gaussian_sets
    collapsed = real[:1] + 0.01 * np.random.default_rng(1).normal(size=(500, 16))  # one mode only
    precision, recall = metrics.precision_recall(real, collapsed)
    assert precision > 0.9 and recall < 0.05
    p_same, r_same = metrics.precision_recall(real[:1000], real[1000:])
    assert p_same > 0.6 and r_same > 0.6


def test_class_coverage_and_score():
    uniform = np.eye(10)[np.arange(1000) % 10]
    cov = metrics.class_coverage(uniform)
    assert cov["entropy"] == pytest.approx(math.log(10)) and cov["classes_under_2pct"] == 0
    assert metrics.classifier_score(uniform) == pytest.approx(10, rel=1e-6)
    one_class = np.eye(10)[np.full(1000, 7)]
    cov = metrics.class_coverage(one_class)
    assert cov["entropy"] == 0 and cov["classes_under_2pct"] == 9 and cov["histogram"][7] == 1
    assert metrics.classifier_score(one_class) == pytest.approx(1, rel=1e-6)
