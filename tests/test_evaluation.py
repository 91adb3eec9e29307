"""Sanity of the metrics on real Fashion-MNIST images, with the shipped classifier and (slow) Inception."""

import numpy as np
import pytest

from jaxgan import classifier, data, evaluation
from jaxgan.errors import UserError
from tests.conftest import SHARED


@pytest.fixture(scope="module")
def splits(data_dir):
    return {s: data.load_split("fashion_mnist", s, data_dir=data_dir) for s in ("train", "test")}


@pytest.fixture(scope="module")
def fast(splits):
    return evaluation.FastMetrics(splits["test"]["image"][:2000], kid_subsets=20)


def test_shipped_classifier_is_accurate(splits):
    probs, features = classifier.FeatureClassifier()(splits["test"]["image"])
    assert features.shape == (10000, classifier.FEATURE_DIM)
    assert (probs.argmax(1) == splits["test"]["label"]).mean() >= 0.93


def test_real_images_score_well_and_noise_badly(fast, splits):
    train = fast(splits["train"]["image"][:2000])
    rng = np.random.default_rng(0)
    noise = fast(rng.integers(0, 256, (2000, 28, 28, 1), dtype=np.uint8))
    assert train["fcd"] < 0.05 * noise["fcd"]
    assert abs(train["kid"]) < 0.05 * noise["kid"]
    assert train["precision"] > 0.6 and train["recall"] > 0.6
    assert train["class_entropy"] > 2.2 and train["classes_under_2pct"] == 0
    assert train["classifier_score"] > 8


def test_one_class_only_is_seen_as_collapsed(fast, splits):
    train = splits["train"]
    sneakers = train["image"][train["label"] == data.FASHION_MNIST_CLASSES.index("Sneaker")][:1000]
    result = fast(sneakers)
    assert result["classes_under_2pct"] >= 8 and result["class_entropy"] < 0.5
    assert result["precision"] > 0.5 and result["recall"] < 0.2
    assert result["classifier_score"] < 1.5


def test_frechet_distance_of_test_against_itself_is_zero(fast, splits):
    assert fast(splits["test"]["image"][:2000])["fcd"] == pytest.approx(0, abs=1e-6)


@pytest.mark.parametrize(
    "images,message",
    [
        (np.zeros((4, 28, 28, 1), np.float32), "must be uint8"),
        (np.zeros((4, 28, 28, 2), np.uint8), "must be \\[N, H, W, 1 or 3\\]"),
        (np.zeros((28, 28), np.uint8), "must be \\[N, H, W, 1 or 3\\]"),
    ],
)
def test_bad_sample_arrays_are_refused(images, message):
    with pytest.raises(UserError, match=message):
        evaluation.check_images(images, "x.npz")


@pytest.mark.slow
def test_inception_fid_sanity(splits, tmp_path, monkeypatch):
    weights = SHARED / "models" / "fid_inception_2015_12_05_pool3.npz"
    if not weights.is_file():
        pytest.skip("no FID weights in ../shared")
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path))
    n = 250  # 750 Inception passes: a few minutes on 2 cores; the FIDs carry a small-sample bias
    test, train = splits["test"]["image"][:n], splits["train"]["image"][:n]
    noise = np.random.default_rng(0).integers(0, 256, (n, 28, 28, 1), dtype=np.uint8)
    same = evaluation.inception_fid(test, test, str(weights))
    assert same == pytest.approx(0, abs=1e-3)
    assert len(list(tmp_path.glob("fid_stats_*.npz"))) == 1  # the real set's statistics are cached
    near = evaluation.inception_fid(train, test, str(weights))
    far = evaluation.inception_fid(noise, test, str(weights))
    assert near < 0.2 * far  # measured 2026-11-26: 55.5 (train vs test) against 422.9 (noise vs test)


def test_class_conditional_metrics_of_labelled_real_images(splits):
    test, train = splits["test"], splits["train"]
    fast = evaluation.FastMetrics(test["image"][:5000], kid_subsets=5, real_labels=test["label"][:5000])
    real = fast(train["image"][:3000], train["label"][:3000])
    assert real["class_accuracy"] > 0.93 and min(real["class_accuracy_per_class"]) > 0.6
    shuffled = fast(train["image"][:3000], np.roll(train["label"][:3000], 1))  # each image claims another class
    assert shuffled["class_accuracy"] < 0.2
    # Per-class FCD: real images of a class against the real images of that class vs of a shifted class.
    assert max(real["fcd_per_class"]) < 0.2 * min(shuffled["fcd_per_class"])
