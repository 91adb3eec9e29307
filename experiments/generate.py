"""Draws images from the latest checkpoint of a training run.

    python -m experiments.generate --workdir runs/fashion_dcgan/seed0 --num 64 --seed 1 --out samples.png

``--out F.png`` writes a grid, ``--out F.npz`` the uint8 array ``images``
``[N, 28, 28, 1]``; ``--interpolate K --out F.gif`` an animation of N latent
walks, each looping through K random points. The same arguments give the same
bytes.

For a class-conditional run (``experiments.fashion_cdcgan``), ``--class 7`` or
``--class sneaker`` draws one category; without it the classes cycle 0..9 (a
grid then has one class per column) and an npz also holds their ``labels``.

A run trained with ``--ema-decay`` is sampled as its trainer sampled it: the
moving average of G's weights, with BatchNorm statistics of its own (the run's
``--standing-stats``; ``jaxgan.steps.standing_stats``).

``--step S`` samples the checkpoint of step S instead of the latest.
``--average N`` samples the mean of the generators (their moving averages, with
``--ema-decay``) of the run's last N epoch-end checkpoints, which a run trained
with ``--keep-every`` keeps (``jaxgan.steps.average_generators``).
"""

import dataclasses
import io
import json
import math
import sys
import zipfile
from typing import NamedTuple

import numpy as np
from etils import epath

from experiments import cli
from experiments import fashion_dcgan as trainer
from jaxgan import checkpoint, files, plots, sampling, steps
from jaxgan.errors import UserError
from jaxgan.state import GANState

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
    class_: str = cli.flag("", "class-conditional runs: draw only this class, a number 0-9 or a name such as sneaker")
    step: int = cli.flag(0, "the checkpoint to sample, by its step (0: the latest)")
    average: int = cli.flag(
        0, "sample the mean of the generators of the run's last N epoch-end checkpoints, up to --step (0: off)"
    )


def class_index(name: str, classes: tuple[str, ...]) -> int:
    """``"7"``, ``"sneaker"``, ``"Ankle boot"``, ``"boot"``, ``"t-shirt"`` -> the class number; UserError if unknown.

    Case, spaces and punctuation are ignored; a prefix of one name, or else a part of one, will do."""
    if name.isdigit() and int(name) < len(classes):
        return int(name)
    simple = lambda text: "".join(ch for ch in text.lower() if ch.isalnum())  # noqa: E731
    key = simple(name)
    matches = [i for i, c in enumerate(classes) if key and simple(c).startswith(key)]
    matches = matches or [i for i, c in enumerate(classes) if key and key in simple(c)]  # "boot"
    if len(matches) != 1:
        choices = ", ".join(f"{i} {c}" for i, c in enumerate(classes))
        raise UserError(f"--class {name!r} names no single class; pick one of: {choices}")
    return matches[0]


class Run(NamedTuple):
    """A training run as read back from its workdir."""

    cfg: trainer.Config
    spec: trainer.DataSpec
    state: GANState
    batch_stats: object  # the BatchNorm statistics to sample with (trainer.sampling_stats); None: the live ones


def draw_labels(run: Run, num: int, class_name: str) -> np.ndarray | None:
    """The classes of ``num`` samples: all ``class_name``, or cycling 0..9; None for an unconditional run."""
    run_cfg, spec = run.cfg, run.spec
    if not run_cfg.conditional:
        if class_name:
            raise UserError("--class needs a class-conditional run (experiments.fashion_cdcgan)")
        return None
    if class_name:
        return np.full(num, class_index(class_name, spec.class_names))
    return trainer.sample_labels(run_cfg, spec, num)


def save_npz(path: epath.Path, images: np.ndarray, labels: np.ndarray | None = None) -> None:
    """Like np.savez(images=, labels=), but with fixed zip timestamps so equal arrays give equal bytes."""
    arrays = {"images": images} if labels is None else {"images": images, "labels": labels}

    def save(file):
        with zipfile.ZipFile(file, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, array in arrays.items():
                buffer = io.BytesIO()
                np.save(buffer, array)
                zf.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), buffer.getvalue())

    files.write_from(path, save)


def load_run(workdir: epath.Path, step: int = 0, average: int = 0) -> Run:
    """A run's config, data spec and state, to sample from.

    The state is the latest intact checkpoint's, or ``step``'s. With ``average``
    K, its generator is the mean of those of the run's last K epoch-end
    checkpoints, up to ``step`` (``jaxgan.steps.average_generators``; the trainer
    keeps them with ``--keep-every``), sampled with standing statistics unless
    the run turned those off. UserError for a folder that holds no run, or
    checkpoints it does not hold.
    """
    for name, value in (("step", step), ("average", average)):
        if value < 0:
            raise UserError(f"--{name} must be 0 (see --help) or positive, got {value}")
    config_path = workdir / "config.json"
    ckpt_dir = workdir / "checkpoints"
    if not config_path.is_file() or not ckpt_dir.is_dir():
        raise UserError(f"{workdir} holds no training run (no config.json or checkpoints/)")
    fields = {f.name for f in dataclasses.fields(trainer.Config)}
    saved = json.loads(config_path.read_text())
    run_cfg = trainer.Config(**{k: v for k, v in saved.items() if k in fields})
    spec = trainer.data_spec(run_cfg)
    mngr = checkpoint.manager(ckpt_dir, read_only=True)
    like = trainer.build_state(run_cfg, spec)
    if average:
        state = _average(workdir, mngr, like, step, average)
        stats = trainer.standing_stats(run_cfg, spec, state) if run_cfg.standing_stats else None
        return Run(run_cfg, spec, state, stats)
    if step:
        if step not in (saved_steps := mngr.all_steps()):
            raise UserError(f"{workdir} has no checkpoint at step {step}; it has steps {saved_steps}")
        state = _restore(mngr, like, step)
    else:
        state = checkpoint.restore_latest(mngr, like, warn=trainer.warn, set_aside=False)
        if state is None:
            raise UserError(f"{workdir} has no checkpoint yet")
    return Run(run_cfg, spec, state, trainer.sampling_stats(run_cfg, spec, state))


def _average(workdir: epath.Path, mngr, like: GANState, step: int, average: int) -> GANState:
    """The state whose generator is the mean of the last ``average`` epoch ends' up to ``step`` (0: the latest)."""
    ends = list(checkpoint.epoch_ends(mngr))
    if step and step not in ends:
        raise UserError(f"--average needs --step at an epoch's end; the epoch-end checkpoints of {workdir}: {ends}")
    ends = [s for s in ends if s <= step] if step else ends
    if len(ends) < average:
        raise UserError(
            f"--average {average} needs {average} epoch-end checkpoints, {workdir} holds {len(ends)} up to there: "
            "train it with --keep-every 1 (or N, for one every N epochs) to keep them"
        )
    return steps.average_generators(_restore(mngr, like, s) for s in ends[-average:])


def _restore(mngr, like: GANState, step: int) -> GANState:
    try:
        return checkpoint.restore(mngr, like, step)
    except checkpoint.CorruptCheckpointError as e:
        raise UserError(str(e)) from None


def draw(run: Run, num: int, seed: int, labels: np.ndarray | None = None) -> np.ndarray:
    """``num`` uint8 images ``[num, H, W, C]`` from the noise of (run seed, ``seed``), of classes ``labels``."""
    return trainer.draw_images(run.state, trainer.sample_noise(run.cfg, num, seed), labels, run.batch_stats)


def interpolation_frames(
    run: Run, num: int, points: int, seed: int, labels: np.ndarray | None = None
) -> list[np.ndarray]:
    """Grids of ``num`` images, one per frame of ``num`` closed latent walks through ``points`` points each
    (walk ``i`` of class ``labels[i]`` for a conditional run)."""
    noise_dim = run.cfg.noise_dim
    anchors = trainer.sample_noise(run.cfg, points * num, seed).reshape(points, num, noise_dim)
    walk = sampling.latent_loop(anchors, FRAMES_PER_SEGMENT)  # [frames, num, noise_dim]
    frame_labels = None if labels is None else np.tile(labels, len(walk))
    images = trainer.draw_images(run.state, walk.reshape(-1, noise_dim), frame_labels, run.batch_stats)
    images = images.reshape(len(walk), num, *images.shape[1:])  # [frames, num, H, W, C]
    cols = math.ceil(math.sqrt(num))
    return [plots.image_grid(frame, cols=cols, scale=2) for frame in images]


def generate(cfg: Config) -> int:
    out = epath.Path(cfg.out)
    suffixes = (".gif",) if cfg.interpolate else (".png", ".npz")
    if out.suffix not in suffixes:
        raise UserError(f"--out must end in {' or '.join(suffixes)}, got {cfg.out}")
    if cfg.num <= 0:
        raise UserError(f"--num must be positive, got {cfg.num}")
    if cfg.interpolate == 1 or cfg.interpolate < 0:
        raise UserError(f"--interpolate needs at least 2 points to walk through, got {cfg.interpolate}")
    if not cfg.workdir:
        raise UserError("--workdir is required")
    run = load_run(epath.Path(cfg.workdir), cfg.step, cfg.average)
    state = run.state
    source = f"step {int(state.step)}" + (f" (the mean of {cfg.average} epochs' generators)" if cfg.average else "")
    labels = draw_labels(run, cfg.num, cfg.class_)
    out.parent.mkdir(parents=True, exist_ok=True)
    if cfg.interpolate:
        frames = interpolation_frames(run, cfg.num, cfg.interpolate, cfg.seed, labels)
        plots.save_animation(frames, out)
        print(f"wrote {len(frames)} frames of {cfg.num} latent walks from {source} to {out}")
        return 0
    images = draw(run, cfg.num, cfg.seed, labels)
    if out.suffix == ".png":
        cols = int(labels.max()) + 1 if labels is not None and not cfg.class_ else math.ceil(math.sqrt(cfg.num))
        plots.save_grid(images, out, cols=min(cols, cfg.num))
    else:
        save_npz(out, images, labels)
    print(f"wrote {cfg.num} images from {source} of {cfg.workdir} to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    return cli.run(lambda: generate(cli.parse(Config, argv, __doc__)))


if __name__ == "__main__":
    sys.exit(main())
