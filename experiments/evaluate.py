"""Measures sample quality against the Fashion-MNIST test set.

    python -m experiments.evaluate --workdir runs/fashion_dcgan/seed0 [--num 10000] [--inception]
        [--step S] [--average N]   (which checkpoint, or a mean of several: as experiments.generate)
    python -m experiments.evaluate --samples samples.npz [--inception]

Prints a table and writes ``eval.json`` (into the workdir, or beside the
samples file); ``--json`` also prints the results as one JSON object on the
last line. ``--inception`` adds the Inception FID of the standard protocol
(10,000 vs the 10,000 test images; slow on a CPU).
"""

import dataclasses
import json
import os
import sys
import time

import numpy as np
from etils import epath

from experiments import cli
from experiments import generate as gen
from jaxgan import data, evaluation, files
from jaxgan.errors import UserError


@dataclasses.dataclass(frozen=True)
class Config:
    workdir: str = cli.flag("", "a training run: samples are drawn from its latest checkpoint")
    samples: str = cli.flag("", "or an npz holding uint8 'images' [N, H, W, C]")
    num: int = cli.flag(10000, "samples to draw from --workdir")
    seed: int = cli.flag(0, "sampling seed for --workdir")
    step: int = cli.flag(0, "the checkpoint of --workdir to sample, by its step (0: the latest)")
    average: int = cli.flag(
        0, "sample the mean of the generators of the run's last N epoch-end checkpoints, up to --step (0: off)"
    )
    inception: bool = cli.flag(False, "also compute the Inception FID")
    inception_weights: str = cli.flag(
        os.environ.get("JAXGAN_INCEPTION_WEIGHTS", ""), "FID Inception weights npz (env JAXGAN_INCEPTION_WEIGHTS)"
    )
    json: bool = cli.flag(False, "print the results as one JSON object on the last line")
    data_dir: str = cli.flag("", "tensorflow-datasets data dir")
    manual_dir: str = cli.flag(os.environ.get("JAXGAN_MANUAL_DIR", ""), "folder with the official files")


def load_samples(cfg: Config) -> tuple[np.ndarray, np.ndarray | None, epath.Path, dict]:
    """The images to judge, the classes they were drawn for (conditional samples), where eval.json goes,
    and what they came from."""
    if bool(cfg.workdir) == bool(cfg.samples):
        raise UserError("pass exactly one of --workdir and --samples")
    if cfg.samples:
        path = epath.Path(cfg.samples)
        if not path.is_file():
            raise UserError(f"{path} not found")
        try:
            with path.open("rb") as file, np.load(file) as f:
                images, labels = f["images"], (f["labels"] if "labels" in f else None)
        except (OSError, ValueError, KeyError) as e:
            raise UserError(f"{path} is not an npz with an 'images' array ({type(e).__name__})") from None
        images = evaluation.check_images(images, str(path))
        if labels is not None and labels.shape != images.shape[:1]:
            raise UserError(f"{path}: 'labels' must hold one class per image, got shape {labels.shape}")
        return images, labels, path.with_suffix(".eval.json"), {"samples": str(path)}
    if cfg.num < 2:
        raise UserError(f"--num must be at least 2, got {cfg.num}")
    workdir = epath.Path(cfg.workdir)
    run = gen.load_run(workdir, cfg.step, cfg.average)
    if run.cfg.dataset != "fashion_mnist":
        raise UserError(f"{workdir} trained on {run.cfg.dataset}: evaluate measures Fashion-MNIST runs only")
    labels = gen.draw_labels(run, cfg.num, "")
    images = gen.draw(run, cfg.num, cfg.seed, labels)
    source = {"workdir": str(workdir), "step": int(run.state.step), "average": cfg.average, "seed": cfg.seed,
              "standing_stats": run.cfg.standing_stats if run.batch_stats is not None else 0}  # fmt: skip
    return images, labels, workdir / "eval.json", source


def evaluate(cfg: Config) -> int:
    if cfg.inception:
        evaluation.inception.weights_path(cfg.inception_weights or None)  # fail before any work
    images, labels, out, source = load_samples(cfg)
    test_set = data.load_split("fashion_mnist", "test", cfg.data_dir or None, cfg.manual_dir or None)
    test = test_set["image"]
    t0 = time.perf_counter()
    fast = evaluation.FastMetrics(test, real_labels=test_set["label"])
    results = {**source, "num": len(images), **fast(images, labels)}
    results["fast_seconds"] = time.perf_counter() - t0
    if cfg.inception:
        t0 = time.perf_counter()
        results["fid"] = evaluation.inception_fid(images, test, cfg.inception_weights or None)
        results["fid_seconds"] = time.perf_counter() - t0
    files.write_atomic(out, json.dumps(results, indent=2) + "\n")
    print(f"{len(images)} samples vs the {len(test)} Fashion-MNIST test images")
    for name, value in results.items():
        if isinstance(value, float):
            print(f"  {name:20s} {value:10.4f}")
    if labels is not None:
        print(f"  {'class':12s} {'accuracy':>9s} {'FCD':>9s}")
        for name, acc, fcd in zip(data.FASHION_MNIST_CLASSES, results["class_accuracy_per_class"],
                                  results["fcd_per_class"], strict=True):  # fmt: skip
            print(f"  {name:12s} {acc:9.3f} {fcd:9.2f}")
    if cfg.inception:
        for name, fid in evaluation.PUBLISHED_FID.items():
            print(f"  {'FID ' + name:38s} {fid:6.1f}  (published)")
    print(f"wrote {out}")
    if cfg.json:
        print(json.dumps(results))
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(lambda: evaluate(cli.parse(Config, argv, __doc__)))


if __name__ == "__main__":
    sys.exit(main())
