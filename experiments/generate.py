"""Draws images from the latest checkpoint of a training run.

    python -m experiments.generate --workdir runs/fashion_dcgan/seed0 --num 64 --seed 1 --out samples.png

``--out F.png`` writes a grid, ``--out F.npz`` the uint8 array ``images``
``[N, 28, 28, 1]``; ``--interpolate K --out F.gif`` an animation of N latent
walks, each looping through K random points. The same arguments give the same
bytes.
"""

import dataclasses
import io
import json
import math
import sys
import zipfile
from pathlib import Path

import numpy as np

from experiments import cli
from experiments import fashion_dcgan as trainer
from jaxgan import checkpoint, plots, sampling
from jaxgan.errors import UserError

FRAMES_PER_SEGMENT = 12


@dataclasses.dataclass(frozen=True)
class Config:
    workdir: str = cli.flag("", "folder of a training run (holds config.json and checkpoints/)")
    num: int = cli.flag(64, "number of images")
    seed: int = cli.flag(0, "sampling seed (the noise also depends on the run's own seed)")
    out: str = cli.flag("samples.png", "output file: .png for a grid, .npz for uint8 images [N, H, W, C]")
    interpolate: int = cli.flag(
        0, "write a GIF (--out F.gif) of --num latent walks, each looping through this many random points (0: off)"
    )


def save_npz(path: Path, images: np.ndarray) -> None:
    """Like np.savez, but with fixed zip timestamps so equal arrays give equal bytes."""
    buffer = io.BytesIO()
    np.save(buffer, images)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(zipfile.ZipInfo("images.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue())


def load_run(workdir: Path):
    """The run's config and its latest state; UserError for a folder that holds no run."""
    config_path = workdir / "config.json"
    ckpt_dir = workdir / "checkpoints"
    if not config_path.is_file() or not ckpt_dir.is_dir():
        raise UserError(f"{workdir} holds no training run (no config.json or checkpoints/)")
    fields = {f.name for f in dataclasses.fields(trainer.Config)}
    saved = json.loads(config_path.read_text())
    run_cfg = trainer.Config(**{k: v for k, v in saved.items() if k in fields})
    mngr = checkpoint.manager(ckpt_dir, read_only=True)
    state = checkpoint.restore_latest(mngr, trainer.build_state(run_cfg), warn=trainer.warn, set_aside=False)
    if state is None:
        raise UserError(f"{workdir} has no checkpoint yet")
    return run_cfg, state


def draw(run_cfg: trainer.Config, state, num: int, seed: int) -> np.ndarray:
    """``num`` uint8 images ``[num, H, W, C]`` from the noise of (run seed, ``seed``)."""
    return trainer.draw_images(state, trainer.sample_noise(run_cfg, num, seed))


def interpolation_frames(run_cfg: trainer.Config, state, num: int, points: int, seed: int) -> list[np.ndarray]:
    """Grids of ``num`` images, one per frame of ``num`` closed latent walks through ``points`` points each."""
    anchors = trainer.sample_noise(run_cfg, points * num, seed).reshape(points, num, run_cfg.noise_dim)
    walk = sampling.latent_loop(anchors, FRAMES_PER_SEGMENT)  # [frames, num, noise_dim]
    images = trainer.draw_images(state, walk.reshape(-1, run_cfg.noise_dim))
    images = images.reshape(len(walk), num, *images.shape[1:])  # [frames, num, H, W, C]
    cols = math.ceil(math.sqrt(num))
    return [plots.image_grid(frame, cols=cols, scale=2) for frame in images]


def generate(cfg: Config) -> int:
    out = Path(cfg.out)
    suffixes = (".gif",) if cfg.interpolate else (".png", ".npz")
    if out.suffix not in suffixes:
        raise UserError(f"--out must end in {' or '.join(suffixes)}, got {cfg.out}")
    if cfg.num <= 0:
        raise UserError(f"--num must be positive, got {cfg.num}")
    if cfg.interpolate == 1 or cfg.interpolate < 0:
        raise UserError(f"--interpolate needs at least 2 points to walk through, got {cfg.interpolate}")
    if not cfg.workdir:
        raise UserError("--workdir is required")
    run_cfg, state = load_run(Path(cfg.workdir))
    out.parent.mkdir(parents=True, exist_ok=True)
    if cfg.interpolate:
        frames = interpolation_frames(run_cfg, state, cfg.num, cfg.interpolate, cfg.seed)
        plots.save_animation(frames, out)
        print(f"wrote {len(frames)} frames of {cfg.num} latent walks from step {int(state.step)} to {out}")
        return 0
    images = draw(run_cfg, state, cfg.num, cfg.seed)
    if out.suffix == ".png":
        plots.save_grid(images, out, cols=math.ceil(math.sqrt(cfg.num)))
    else:
        save_npz(out, images)
    print(f"wrote {cfg.num} images from step {int(state.step)} of {cfg.workdir} to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(lambda: generate(cli.parse(Config, argv, __doc__)))


if __name__ == "__main__":
    sys.exit(main())
