"""Evaluates generated images against real ones: fast classifier metrics and Inception FID.

The fast metrics (FCD, KID, precision/recall, class coverage, classifier score)
use the shipped Fashion-MNIST classifier and take seconds on a CPU; the
trainer logs them every epoch. Inception FID follows the standard protocol
(Lucic et al. 2018: 10,000 generated vs the 10,000 test images) and caches
the statistics of the real set, keyed by the weights and the images.
"""

import hashlib
from pathlib import Path

import numpy as np

from jaxgan import files, inception, metrics
from jaxgan.classifier import FeatureClassifier
from jaxgan.errors import UserError

# Published Inception FIDs on Fashion-MNIST, for reports.
PUBLISHED_FID = {
    "WGAN (Lucic et al. 2018)": 21.5,
    "NS-GAN (Lucic et al. 2018)": 26.5,
    "WGAN-GP (Lucic et al. 2018)": 24.5,
    "LSGAN (Lucic et al. 2018)": 30.7,
    "PA-GAN (Zhang et al. 2019)": 15.8,
}


def check_images(images: np.ndarray, source: str) -> np.ndarray:
    """uint8 ``[N, H, W, C]`` (C = 1 or 3) or ``[N, H, W]``; UserError otherwise."""
    if images.dtype != np.uint8:
        raise UserError(f"{source}: images must be uint8, got {images.dtype}")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3) or len(images) < 2:
        raise UserError(f"{source}: images must be [N, H, W, 1 or 3] with N >= 2, got shape {images.shape}")
    return images


class FastMetrics:
    """Classifier-feature metrics of generated images against a fixed real set.

    ``real_labels`` (the real set's classes) enable the per-class FCD of
    class-conditional samples.
    """

    def __init__(self, real_images: np.ndarray, kid_subsets: int = 100, real_labels: np.ndarray | None = None):
        self.classifier = FeatureClassifier()
        _, self.real_features = self.classifier(real_images)
        self.real_stats = metrics.gaussian_stats(self.real_features)
        self.real_labels = real_labels
        self.kid = metrics.KID(self.real_features, kid_subsets)

    def __call__(self, fake_images: np.ndarray, labels: np.ndarray | None = None) -> dict:
        """The metrics of ``fake_images``; with the classes they were drawn for (``labels [N]``), also
        the classifier's accuracy on them (overall and per class) and, given real labels, per-class FCD."""
        probs, features = self.classifier(fake_images)
        n = min(len(features), len(self.real_features))
        kid, kid_std = self.kid(features)
        precision, recall = metrics.precision_recall(self.real_features[:n], features[:n], k=3)
        coverage = metrics.class_coverage(probs)
        return {
            "fcd": metrics.frechet_distance(*self.real_stats, *metrics.gaussian_stats(features)),
            "kid": kid,
            "kid_std": kid_std,
            "precision": precision,
            "recall": recall,
            "class_entropy": coverage["entropy"],
            "classes_under_2pct": coverage["classes_under_2pct"],
            "classifier_score": metrics.classifier_score(probs),
            "class_histogram": coverage["histogram"],
            **({} if labels is None else self.conditional(probs, features, np.asarray(labels))),
        }

    def conditional(self, probs: np.ndarray, features: np.ndarray, labels: np.ndarray) -> dict:
        classes = range(probs.shape[-1])
        hits = probs.argmax(-1) == labels
        per_class = [float(hits[labels == c].mean()) if (labels == c).any() else float("nan") for c in classes]
        results = {"class_accuracy": float(hits.mean()), "class_accuracy_per_class": per_class}
        if self.real_labels is not None:
            results["fcd_per_class"] = [
                metrics.frechet_distance(
                    *metrics.gaussian_stats(self.real_features[self.real_labels == c]),
                    *metrics.gaussian_stats(features[labels == c]),
                )
                if (labels == c).sum() > 1
                else float("nan")
                for c in classes
            ]
        return results


def inception_stats(extractor: inception.FeatureExtractor, images: np.ndarray, weights: Path, cache: bool):
    """Mean and covariance of pool3 features; cached on disk when ``cache``."""
    digest = hashlib.sha256()
    digest.update(hashlib.sha256(weights.read_bytes()).digest())
    digest.update(str(images.shape).encode())
    digest.update(images.tobytes())
    path = files.cache_dir() / f"fid_stats_{digest.hexdigest()[:16]}.npz"
    if cache and path.is_file():
        with np.load(path) as f:
            return f["mu"], f["sigma"]
    mu, sigma = metrics.gaussian_stats(extractor(images))
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        files.write_from(path, lambda f: np.savez(f, mu=mu, sigma=sigma))
    return mu, sigma


def inception_fid(fake_images: np.ndarray, real_images: np.ndarray, weights: str | None = None) -> float:
    """FID by the standard protocol; the real set's statistics are cached."""
    path = inception.weights_path(weights)
    extractor = inception.FeatureExtractor(str(path))
    real = inception_stats(extractor, real_images, path, cache=True)
    fake = inception_stats(extractor, fake_images, path, cache=False)
    return metrics.frechet_distance(*real, *fake)
