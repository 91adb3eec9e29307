"""Trains a class-conditional DCGAN on Fashion-MNIST.

    python -m experiments.fashion_cdcgan --seed 0
    python -m experiments.generate --workdir runs/fashion_cdcgan/seed0 --class sneaker --out sneakers.png

The trainer of ``experiments.fashion_dcgan`` with ``--conditional`` on: G
appends an embedding of the class to its noise, D sees one-hot label planes
appended to the image's channels, and G draws each batch for the classes of
the real batch. Every epoch writes a grid with one
labelled row per class and logs our classifier's accuracy on samples drawn
for each class (``eval/class_accuracy``). All flags of fashion_dcgan apply.
"""

import dataclasses
import sys
from typing import ClassVar

from experiments import cli, fashion_dcgan


@dataclasses.dataclass(frozen=True)
class Config(fashion_dcgan.Config):
    EXPERIMENT: ClassVar[str] = "fashion_cdcgan"

    conditional: bool = cli.flag(True, "condition G and D on the class label (embedded in G, one-hot planes in D)")


def main(argv: list[str] | None = None) -> int:
    return cli.run(lambda: fashion_dcgan.train(cli.parse(Config, argv, __doc__)))


if __name__ == "__main__":
    sys.exit(main())
