"""Trains the Radford et al. DCGAN on CelebA faces at 64x64 (the PyTorch DCGAN faces tutorial's recipe).

    python -m experiments.celeba_dcgan --manual-dir ~/celeba

Faces from tfds ``celeb_a`` (162,770 training images, 218x178), resized so the
shorter side is 64 and centre-cropped to 64x64 once while loading (≈ 2 GB of
uint8 in memory); Adam 2e-4, beta1 0.5, batch 128, 5 epochs.

CelebA's own download (Google Drive) often fails on its quota. Then download
``img_align_celeba.zip``, ``list_eval_partition.txt``, ``list_attr_celeba.txt``,
``list_landmarks_align_celeba.txt`` and ``identity_CelebA.txt`` from the CelebA
page's Drive folder (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html), put the
five files, unrenamed and unzipped, in one folder, and pass it as ``--manual-dir``
(or set ``JAXGAN_CELEBA_DIR``); tfds checks them against its checksums.

The per-epoch metrics measure Fashion-MNIST, so none are logged here. All
flags of ``experiments.fashion_dcgan`` apply.
"""

import dataclasses
import os
import sys
from typing import ClassVar

from experiments import cli, fashion_dcgan


@dataclasses.dataclass(frozen=True)
class Config(fashion_dcgan.Config):
    EXPERIMENT: ClassVar[str] = "celeba_dcgan"

    epochs: int = cli.flag(5, "passes over the training set")
    batch_size: int = cli.flag(128, "images per step")
    learning_rate: float = cli.flag(2e-4, "Adam learning rate of G, and of D unless --disc-learning-rate")
    beta1: float = cli.flag(0.5, "Adam beta1")
    checkpoint_every: int = cli.flag(1000, "steps between checkpoints (one is also written at each epoch end)")
    eval_samples: int = cli.flag(0, "unused here: the metrics' classifier knows Fashion-MNIST only")
    dataset: str = cli.flag("celeb_a", "tensorflow-datasets image set")
    manual_dir: str = cli.flag(
        os.environ.get("JAXGAN_CELEBA_DIR", ""), "folder with CelebA's five files, see above (env JAXGAN_CELEBA_DIR)"
    )
    arch: str = cli.flag("dcgan64", "networks: dcgan64 (Radford et al.) or dcgan128")


def main(argv: list[str] | None = None) -> int:
    return cli.run(lambda: fashion_dcgan.train(cli.parse(Config, argv, __doc__)))


if __name__ == "__main__":
    sys.exit(main())
