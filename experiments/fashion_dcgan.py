"""Trains the TF-tutorial DCGAN on Fashion-MNIST.

    python -m experiments.fashion_dcgan --seed 0

``--conditional`` conditions both networks on the class (what
``experiments.fashion_cdcgan`` runs by default).

Re-running the same command on the same workdir resumes from the latest
checkpoint; a larger --epochs continues a finished run.
"""

import dataclasses
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from functools import partial
from typing import ClassVar

import jax
import jax.numpy as jnp
import numpy as np
import optax
from etils import epath
from tqdm import tqdm

from experiments import cli
from jaxgan import augment, checkpoint, data, files, losses, models, onednn, parallel, plots, steps, xla_flags
from jaxgan.errors import UserError
from jaxgan.evaluation import FastMetrics
from jaxgan.logs import MetricLog
from jaxgan.state import GANState, create_state

NUM_SAMPLES = 64  # the fixed-noise 8x8 grid drawn every epoch


@dataclasses.dataclass(frozen=True)
class Config:
    EXPERIMENT: ClassVar[str] = "fashion_dcgan"  # names the default workdir, runs/<EXPERIMENT>/seed<seed>

    seed: int = cli.flag(0, "PRNG seed: parameters, noise, dropout and data order")
    workdir: str = cli.flag("", "output folder, local or gs://bucket/path; empty means runs/<experiment>/seed<seed>")
    epochs: int = cli.flag(50, "passes over the training set")
    batch_size: int = cli.flag(64, "images per step")
    learning_rate: float = cli.flag(1e-4, "Adam learning rate of G, and of D unless --disc-learning-rate")
    disc_learning_rate: float = cli.flag(
        0.0, "Adam learning rate of D (0: --learning-rate); a faster D is the two time-scale rule of Heusel et al."
    )
    beta1: float = cli.flag(0.9, "Adam beta1 (the tutorial keeps Keras' 0.9; Radford et al. use 0.5)")
    lr_decay_epochs: int = cli.flag(
        0,
        "the learning rate falls linearly to 0 over the last N epochs (0: constant); a finished run can be "
        "continued with one: --epochs <more> --lr-decay-epochs <the extra epochs>",
    )
    noise_dim: int = cli.flag(100, "size of the generator's input noise")
    num_train: int = cli.flag(0, "train on the first N training images only (0: all 60,000), for smoke runs")
    checkpoint_every: int = cli.flag(
        0,
        "steps between checkpoints (one is also written at each epoch end); 0: 500 on CPUs, epoch ends only on "
        "GPUs and TPUs, where an epoch takes seconds",
    )
    keep_every: int = cli.flag(
        0,
        "also keep the checkpoint of every N-th epoch's end, for generate and evaluate --step and --average "
        "(0: only the newest 3 are kept)",
    )
    log_every: int = cli.flag(10, "steps between per-step records in metrics.jsonl")
    steps_per_call: int = cli.flag(
        0,
        "train steps run as one lax.scan per dispatch; 0: 100 on GPUs and TPUs (hides the per-step launch "
        "cost), 1 on CPUs (where a scan changes little); checkpoints and stops fall on its boundaries, "
        "counted from each epoch's start",
    )
    eval_samples: int = cli.flag(2000, "samples for the per-epoch FCD/KID/coverage against the test set (0: off)")
    eval_every: int = cli.flag(1, "epochs between those metrics (the last epoch always has them)")
    dataset: str = cli.flag(
        "fashion_mnist",
        "tensorflow-datasets image set: fashion_mnist, mnist, cifar10, celeb_a, ... (per-epoch "
        "metrics for fashion_mnist only)",
    )
    data_dir: str = cli.flag("", "tensorflow-datasets data dir (empty: tfds' default)")
    manual_dir: str = cli.flag(
        os.environ.get("JAXGAN_MANUAL_DIR", ""),
        "folder with the dataset's files (Fashion-MNIST: the four official *-ubyte.gz), for machines without "
        "internet (env JAXGAN_MANUAL_DIR)",
    )
    arch: str = cli.flag(
        "tutorial", "networks: tutorial (TF tutorial, 28x28), dcgan64 or dcgan128 (Radford et al., data resized)"
    )
    loss: str = cli.flag("bce", "GAN objective: bce (non-saturating), hinge, lsgan, wgan-gp (jaxgan.losses.LOSSES)")
    disc_steps: int = cli.flag(1, "discriminator updates per generator update")
    disc_width: int = cli.flag(
        64, "channels of D's first conv, doubled at each further one (64: the tutorial's and Radford et al.'s)"
    )
    disc_depth: int = cli.flag(
        0, "3x3 stride-1 convs after each of D's strided convs (0: the tutorial's and Radford et al.'s D)"
    )
    gen_depth: int = cli.flag(
        0, "3x3 stride-1 convs after each of G's inner transposed convs (0: the tutorial's and Radford et al.'s G)"
    )
    gen_width: int = cli.flag(
        64,
        "channels of G's last inner transposed conv, doubled at each layer before it (64: the tutorial's and "
        "Radford et al.'s)",
    )
    spectral_norm: bool = cli.flag(
        False, "spectral normalization of D's weights (Miyato et al. 2018; one power iteration a step)"
    )
    ema_decay: float = cli.flag(0.0, "decay of a moving average of G's weights used for samples and metrics (0: off)")
    standing_stats: int = cli.flag(
        100,
        "with --ema-decay: batches of the averaged generator's own samples whose BatchNorm moments it samples "
        "with, instead of the live generator's running ones (0: off)",
    )
    diffaugment: str = cli.flag("", "DiffAugment transforms for D's inputs, e.g. color,translation,cutout (empty: off)")
    dtype: str = cli.flag("float32", "compute dtype: float32, or bfloat16 (parameters and Adam stay float32)")
    convolutions: str = cli.flag(
        "xla",
        "CPU convolutions: xla (XLA's own), or onednn (oneDNN's, by an FFI call; with --dtype bfloat16 on AMX "
        "Xeons the step runs ~2.3x faster; needs pip install -e '.[onednn]' and a C++ compiler)",
    )
    distributed: bool = cli.flag(
        False, "multi-process run (TPU pod slice, GPU cluster): jax.distributed.initialize() with auto-detection"
    )
    conditional: bool = cli.flag(False, "condition G and D on the class label (embedded in G, one-hot planes in D)")
    overwrite: bool = cli.flag(False, "delete a run with a different config in the workdir and start over")


# Fields that may change between invocations on one workdir without making it another run.
RESUMABLE_FIELDS = (
    "epochs", "workdir", "checkpoint_every", "log_every", "eval_samples", "eval_every", "data_dir", "manual_dir",
    "overwrite", "distributed", "steps_per_call", "convolutions", "standing_stats", "keep_every", "lr_decay_epochs",
)  # fmt: skip
DTYPES = ("float32", "bfloat16")
CONVOLUTIONS = ("xla", "onednn")
IMAGE_SIZE = {"tutorial": 28, "dcgan64": 64, "dcgan128": 128}


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What the networks need to know of the dataset."""

    stored_shape: tuple  # [H, W, C] as tfds stores it (H, W None where sizes vary)
    side: int  # the side of the images the networks see
    class_names: tuple[str, ...]  # empty for a dataset without labels

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.side, self.side, self.stored_shape[-1])

    @property
    def load_size(self) -> int | None:
        """Resize-and-crop to apply while loading: for non-square or larger images (upsampling happens per batch)."""
        h, w = self.stored_shape[:2]
        return None if h == w and h is not None and h <= self.side else self.side


def data_spec(cfg: Config) -> DataSpec:
    """The dataset's shape and classes (from tfds' info), and the side the networks work at: the arch's,
    or for the tutorial nets the dataset's own when square and a multiple of 4, else 28."""
    shape, names = data.describe(cfg.dataset, cfg.data_dir or None)
    h, w = shape[:2]
    side = IMAGE_SIZE[cfg.arch] if cfg.arch != "tutorial" or h != w or h is None or h % 4 else h
    return DataSpec(shape, side, names)


def workdir_of(cfg: Config) -> epath.Path:
    """The run's folder: a local path, or an object store's (``gs://bucket/...``) for orbax, the logs and images."""
    return epath.Path(cfg.workdir or f"runs/{cfg.EXPERIMENT}/seed{cfg.seed}")


def validate(cfg: Config) -> None:
    for name in ("epochs", "batch_size", "noise_dim", "log_every", "eval_every"):
        if getattr(cfg, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive, got {getattr(cfg, name)}")
    for name in ("checkpoint_every", "steps_per_call"):
        if (value := getattr(cfg, name)) < 0:
            flag = f"--{name.replace('_', '-')}"
            raise UserError(f"{flag} must be positive, or 0 for the platform's default, got {value}")
    if not cfg.learning_rate > 0:
        raise UserError(f"--learning-rate must be positive, got {cfg.learning_rate}")
    if not cfg.disc_learning_rate >= 0:
        raise UserError(
            f"--disc-learning-rate must be positive, or 0 for --learning-rate, got {cfg.disc_learning_rate}"
        )
    if not 0 <= cfg.beta1 < 1:
        raise UserError(f"--beta1 must be in [0, 1), got {cfg.beta1}")
    if cfg.arch not in IMAGE_SIZE:
        raise UserError(f"--arch must be one of {', '.join(IMAGE_SIZE)}, got {cfg.arch!r}")
    if cfg.loss not in losses.LOSSES:
        raise UserError(f"--loss must be one of {', '.join(losses.LOSSES)}, got {cfg.loss!r}")
    if cfg.loss == "wgan-gp" and cfg.arch != "tutorial":
        raise UserError("--loss wgan-gp needs a discriminator without batch normalization: use --arch tutorial")
    if cfg.disc_steps <= 0:
        raise UserError(f"--disc-steps must be positive, got {cfg.disc_steps}")
    for name in ("disc_width", "gen_width"):
        if getattr(cfg, name) <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be positive, got {getattr(cfg, name)}")
    for name in ("disc_depth", "gen_depth"):
        if getattr(cfg, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must be 0 or positive, got {getattr(cfg, name)}")
    if not 0 <= cfg.ema_decay < 1:
        raise UserError(f"--ema-decay must be in [0, 1), got {cfg.ema_decay}")
    try:
        augment.diff_augment(cfg.diffaugment)
    except ValueError as e:
        raise UserError(f"--diffaugment: {e}") from None
    if cfg.dtype not in DTYPES:
        raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got {cfg.dtype!r}")
    if cfg.convolutions not in CONVOLUTIONS:
        raise UserError(f"--convolutions must be one of {', '.join(CONVOLUTIONS)}, got {cfg.convolutions!r}")
    for name in ("num_train", "eval_samples", "standing_stats", "keep_every", "lr_decay_epochs"):
        if getattr(cfg, name) < 0:
            raise UserError(f"--{name.replace('_', '-')} must be 0 (see --help) or positive, got {getattr(cfg, name)}")
    if cfg.lr_decay_epochs > cfg.epochs:
        raise UserError(f"--lr-decay-epochs {cfg.lr_decay_epochs} is more than --epochs {cfg.epochs}")


def check_workdir(cfg: Config, workdir: epath.Path) -> bool:
    """Whether the workdir holds a different run to delete (--overwrite); UserError without the flag."""
    path = workdir / "config.json"
    if not path.exists():
        return False
    defaults = dataclasses.asdict(Config())  # a field added since the run started has its default there
    old = {**defaults, **json.loads(path.read_text())}
    new = dataclasses.asdict(cfg)
    differ = [k for k in new if k not in RESUMABLE_FIELDS and old[k] != new[k]]
    if differ and not cfg.overwrite:
        changes = ", ".join(f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in differ)
        raise UserError(f"{workdir} holds a run with another config ({changes}); pass --overwrite to start over")
    return bool(differ)


def networks(cfg: Config, spec: DataSpec):
    """(generator, discriminator) of ``cfg.arch`` for images of ``spec``."""
    kw = {"dtype": jnp.dtype(cfg.dtype), "num_classes": len(spec.class_names) if cfg.conditional else 0}
    side, channels = spec.image_shape[0], spec.image_shape[2]
    gen_kw = {"size": side, "channels": channels, "width": cfg.gen_width, "depth": cfg.gen_depth, **kw}
    disc_kw = {"width": cfg.disc_width, "depth": cfg.disc_depth, "spectral_norm": cfg.spectral_norm, **kw}
    if cfg.arch == "tutorial":
        return models.Generator(**gen_kw), models.Discriminator(**disc_kw)
    return models.DCGANGenerator(**gen_kw), models.DCGANDiscriminator(**disc_kw)


def build_state(cfg: Config, spec: DataSpec | None = None) -> GANState:
    """The initial state of run ``cfg`` (also the template a checkpoint restores into)."""
    spec = spec or data_spec(cfg)
    init_key = jax.random.fold_in(jax.random.key(cfg.seed), 0)
    gen_tx = optax.adam(cfg.learning_rate, b1=cfg.beta1)
    disc_tx = optax.adam(cfg.disc_learning_rate or cfg.learning_rate, b1=cfg.beta1)
    gen, disc = networks(cfg, spec)
    return create_state(init_key, gen, disc, gen_tx, disc_tx, cfg.noise_dim, spec.image_shape, ema=cfg.ema_decay > 0)


def train_step_of(cfg: Config, steps_per_epoch: int):
    """``train_step`` with the run's loss, D steps, EMA, augmentation and decay bound (pure, unjitted)."""
    decay_steps = cfg.lr_decay_epochs * steps_per_epoch
    return partial(
        steps.train_step,
        loss=losses.LOSSES[cfg.loss],
        disc_steps=cfg.disc_steps,
        ema_decay=cfg.ema_decay,
        augment=augment.diff_augment(cfg.diffaugment) if cfg.diffaugment else None,
        lr_scale=steps.linear_decay(cfg.epochs * steps_per_epoch, decay_steps) if decay_steps else None,
    )


def data_key(cfg: Config) -> jax.Array:
    return jax.random.fold_in(jax.random.key(cfg.seed), 1)


def sample_noise(cfg: Config, num: int, seed: int) -> jax.Array:
    """Noise ``[num, noise_dim]`` for sampling; seed and run seed together fix it."""
    key = jax.random.fold_in(jax.random.fold_in(jax.random.key(cfg.seed), 2), seed)
    return jax.random.normal(key, (num, cfg.noise_dim))


def sample_labels(cfg: Config, spec: DataSpec, num: int) -> np.ndarray | None:
    """Classes ``[num]`` cycling 0, 1, 2, ... (balanced) for a conditional run; None otherwise."""
    return np.arange(num) % len(spec.class_names) if cfg.conditional else None


def grid_inputs(cfg: Config, spec: DataSpec) -> tuple[jax.Array, np.ndarray | None]:
    """The fixed noise (and classes) of the per-epoch grid: 8x8, or one row of 8 per class."""
    if not cfg.conditional:
        return sample_noise(cfg, NUM_SAMPLES, seed=0), None
    cols, classes = 8, len(spec.class_names)
    z = sample_noise(cfg, cols, seed=0)  # the same 8 noises in every row: style across classes
    return jnp.tile(z, (classes, 1)), np.repeat(np.arange(classes), cols)


@partial(jax.jit, donate_argnums=0)
def accumulate(total: dict | None, metrics: dict) -> dict:
    """``total`` (None: zeros) plus the sums of the stacked ``metrics [n]``, leaf by leaf, as one
    dispatch (a per-leaf add costs one each on a GPU)."""
    sums = jax.tree.map(lambda m: jnp.sum(m, axis=0), metrics)
    return sums if total is None else jax.tree.map(jnp.add, total, sums)


def chunk_length(position: int, steps_per_epoch: int, steps_per_call: int) -> int:
    """Steps in the call that starts at ``position`` of an epoch: up to the next multiple of
    ``steps_per_call`` counted from the epoch's start, or the epoch's end.

    The boundaries depend on the step alone, so a run resumed from any checkpoint
    (all are written on boundaries) repeats the calls of an uninterrupted one; a
    scan of n steps is not bit-identical to n separate steps.
    """
    return min(steps_per_call - position % steps_per_call, steps_per_epoch - position)


@jax.jit
def sample_images(state: GANState, z: jax.Array, labels: jax.Array | None = None, batch_stats=None) -> jax.Array:
    """uint8 images ``[N, H, W, C]`` from noise (and classes), BatchNorm in inference mode (with ``batch_stats``
    when given)."""
    return steps.to_uint8(steps.generate(state, z, labels, batch_stats))


def draw_images(
    state: GANState, z: jax.Array, labels: np.ndarray | None = None, batch_stats=None, batch: int = 500
) -> np.ndarray:
    """uint8 images ``[N, H, W, C]`` for noise ``[N, noise_dim]`` (and classes ``[N]``), ``batch`` at a time."""
    chunks = []
    for i in range(0, len(z), batch):
        chunk_labels = None if labels is None else jnp.asarray(labels[i : i + batch], jnp.int32)
        chunks.append(np.asarray(sample_images(state, z[i : i + batch], chunk_labels, batch_stats)))
    return np.concatenate(chunks)


_standing_stats = jax.jit(steps.standing_stats)


def sampling_stats(cfg: Config, spec: DataSpec, state: GANState):
    """The BatchNorm statistics to sample ``state`` with: with --ema-decay and --standing-stats, the averaged
    generator's own (:func:`standing_stats`); else None, the live generator's running ones."""
    if not (cfg.ema_decay and cfg.standing_stats):
        return None
    return standing_stats(cfg, spec, state)


def standing_stats(cfg: Config, spec: DataSpec, state: GANState):
    """:func:`jaxgan.steps.standing_stats` of the generator ``state`` samples, from --standing-stats batches
    of --batch-size noise (and classes) fixed by the run's seed; None for a generator without BatchNorm."""
    if not state.gen_batch_stats:
        return None
    key = jax.random.fold_in(jax.random.key(cfg.seed), 3)
    shape = (cfg.standing_stats, cfg.batch_size)
    z = jax.random.normal(key, (*shape, cfg.noise_dim))
    labels = None
    if cfg.conditional:
        labels = jax.random.randint(jax.random.fold_in(key, 1), shape, 0, len(spec.class_names))
    return _standing_stats(state, z, labels)


def save_epoch_grid(workdir: epath.Path, grid_images: np.ndarray, epoch: int, names: list[str] | None = None) -> None:
    """The epoch's sample grid (one row per class, named, when ``names``): a record of the run, written
    before the epoch's checkpoint."""
    samples = workdir / "samples"
    samples.mkdir(exist_ok=True)
    plots.save_grid(grid_images, samples / f"epoch_{epoch:03d}.png", scale=2, row_names=names)


REBUILD = "import sys; from jaxgan import plots; plots.save_summaries(sys.argv[1])"  # the child's program


class Summaries:
    """Rebuilds the progression GIF and curves in a child process while training goes on.

    They are derived from files already written (the grids, ``metrics.jsonl``), so
    nothing is lost if a run dies before they are done: the next epoch end, or the
    next start, rebuilds them. On a GPU a rebuild (matplotlib, GIF encoding) takes
    longer than an epoch of training, so the loop never waits for one: an update
    asked for while one runs is folded into a single rebuild after it (at the
    latest in ``close``). A thread would not do: the rebuild held the GIL for up to
    0.14 s at a time, longer than the GPU's queue of work lasts, while the loop waited
    for it to dispatch the next call (``benchmarks/gil_stalls.py``). ``command``
    replaces the child's (tests).
    """

    def __init__(self, workdir: epath.Path, command: list[str] | None = None):
        self.command = command or [sys.executable, "-c", REBUILD, os.fspath(workdir)]
        self.process, self.stderr = None, None
        self.stale = False  # an update came while a rebuild was running

    def update(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stale = True
            return
        self.wait()  # its errors surface here
        self.stderr = tempfile.TemporaryFile()
        # In a session of its own: a Ctrl-C in the terminal, or `timeout`'s SIGTERM to the process group, is
        # the trainer's to handle (a clean stop, which waits for this rebuild), not the rebuild's to die of.
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stderr=self.stderr, start_new_session=True
        )
        self.stale = False

    def wait(self) -> None:
        if self.process is None:
            return
        process, self.process = self.process, None
        with self.stderr:
            if process.wait():
                self.stderr.seek(0)
                last = (self.stderr.read().decode(errors="replace").strip().splitlines() or ["(no message)"])[-1]
                raise RuntimeError(f"rebuilding the GIF and curves failed (exit {process.returncode}): {last}")

    def close(self) -> None:
        self.wait()
        if self.stale:
            self.update()
            self.wait()


def eval_metrics(
    fast: FastMetrics, state: GANState, eval_noise: jax.Array, labels: np.ndarray | None, batch_stats=None
) -> dict:
    """Fast metrics of ``len(eval_noise)`` samples (of classes ``labels``, drawn with ``batch_stats``), as flat
    ``eval/...`` scalars."""
    results = fast(draw_images(state, eval_noise, labels, batch_stats), labels)
    return {f"eval/{k}": v for k, v in results.items() if not isinstance(v, (list, dict))}


class _StopRequest:
    """Turns SIGTERM/SIGINT into a flag checked between steps (preemption-safe stop).

    ``restore`` puts the previous handlers back, so that ``main`` called from a
    notebook or a test leaves the caller's Ctrl-C as it was.
    """

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self):
        self.signal = None
        self.previous = {sig: signal.signal(sig, self._handle) for sig in self.SIGNALS}

    def _handle(self, signum, frame):
        self.signal = signal.Signals(signum).name

    def restore(self) -> None:
        for sig, handler in self.previous.items():
            signal.signal(sig, handler)


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def prepare_workdir(cfg: Config, workdir: epath.Path, wipe: bool) -> None:
    """Deletes an old run (--overwrite) and writes config.json, atomically; called once the inputs are known good."""
    if wipe:
        workdir.rmtree()
    workdir.mkdir(parents=True, exist_ok=True)
    files.write_atomic(workdir / "config.json", json.dumps(dataclasses.asdict(cfg), indent=2) + "\n")


def default_steps_per_call() -> int:
    """``--steps-per-call 0``: on GPUs and TPUs a step of these small networks is shorter than its launch, and
    a scan of 100 ran the step 1.74x (H200) to 2.06x (H100) faster; on CPUs a scan gains a few percent and
    compiles a second program for each epoch's last call (BENCHMARKS.md, "One H200: steps per dispatch")."""
    return 1 if jax.default_backend() == "cpu" else 100


def default_checkpoint_every(steps_per_epoch: int) -> int:
    """``--checkpoint-every 0``: an epoch of 60,000 images takes minutes on a CPU, so a checkpoint every 500
    steps bounds what a kill loses; on a GPU it takes about a second, and the mid-epoch checkpoints of 500
    held the 50 epochs back 4.6 s (7%) on an H200 (BENCHMARKS.md, "One H200: deterministic by default"), so
    there only the epoch ends are saved (a checkpoint falls where a multiple of this is crossed)."""
    return 500 if jax.default_backend() == "cpu" else steps_per_epoch


def train(cfg: Config) -> int:
    validate(cfg)
    if cfg.convolutions == "onednn":
        xla_flags.use_serial_schedule()  # takes effect unless JAX has started already (in-process callers)
    with onednn.use(cfg.convolutions == "onednn"):
        return _train(cfg)


def _train(cfg: Config) -> int:
    if cfg.distributed:
        parallel.initialize_distributed()  # before anything asks JAX for its devices
    cfg = dataclasses.replace(cfg, steps_per_call=cfg.steps_per_call or default_steps_per_call())
    mesh = parallel.make_mesh()
    if cfg.batch_size % mesh.size:
        raise UserError(f"--batch-size {cfg.batch_size} does not split evenly over {mesh.size} devices")
    if cfg.convolutions == "onednn":
        if mesh.size > 1:
            raise UserError(f"--convolutions onednn runs on one device; this run has {mesh.size}")
        onednn.check(cfg.dtype)
    lead = jax.process_index() == 0  # the one process that writes files in a multi-process run
    workdir = workdir_of(cfg)
    cli.check_writable(workdir)
    wipe = check_workdir(cfg, workdir)
    spec = data_spec(cfg)
    if cfg.conditional and not spec.class_names:
        raise UserError(f"--conditional needs a dataset with labels; {cfg.dataset} has none")
    split = f"train[:{cfg.num_train}]" if cfg.num_train else "train"
    load = partial(data.load_split, data_dir=cfg.data_dir or None, manual_dir=cfg.manual_dir or None)
    train_set = load(cfg.dataset, split, size=spec.load_size)
    train_images = train_set["image"]
    num_images = train_images.shape[0]
    if cfg.batch_size > num_images:
        raise UserError(f"--batch-size {cfg.batch_size} is larger than the training set ({num_images} images)")
    steps_per_epoch = num_images // cfg.batch_size
    total_steps = cfg.epochs * steps_per_epoch
    fast = None
    if cfg.eval_samples and cfg.dataset == "fashion_mnist":  # the metrics' classifier knows Fashion-MNIST only
        fast = FastMetrics(load(cfg.dataset, "test")["image"], kid_subsets=50)

    if lead:
        prepare_workdir(cfg, workdir, wipe)
    mngr = checkpoint.manager(workdir / "checkpoints", keep_period=cfg.keep_every * steps_per_epoch or None)
    initial = parallel.put_replicated(build_state(cfg, spec), mesh)
    state = checkpoint.restore_latest(mngr, initial, warn=warn, set_aside=lead)
    state = initial if state is None else state
    start_step = int(state.step)
    if start_step:
        print(f"resumed from step {start_step} in {workdir}", flush=True)
    if start_step >= total_steps:
        if lead and (workdir / "samples").is_dir():
            plots.save_summaries(workdir)  # in case the run died before its last rebuild
        print(f"{workdir} is already trained for {cfg.epochs} epochs ({start_step} steps)", flush=True)
        return 0

    images = parallel.put_replicated(train_images, mesh)  # [N, H, W, C] uint8, on every device once
    labels = parallel.put_replicated(train_set["label"].astype(np.int32), mesh) if cfg.conditional else None
    key = data_key(cfg)
    permutation = jax.jit(data.epoch_permutation, static_argnums=2, out_shardings=parallel.replicated(mesh))
    epoch_step = parallel.epoch_step(
        train_step_of(cfg, steps_per_epoch), mesh, steps_per_epoch, cfg.batch_size, spec.side
    )
    t0 = time.perf_counter()
    perm = permutation(key, start_step // steps_per_epoch, num_images)
    # The call lengths this run meets: its first (a resumed run may start off a boundary), a full one
    # and an epoch's last.
    starts = (start_step % steps_per_epoch, 0, steps_per_epoch - steps_per_epoch % cfg.steps_per_call)
    lengths = {chunk_length(p, steps_per_epoch, cfg.steps_per_call) for p in starts} - {0}
    programs = {  # steps per call -> the compiled scan of that many steps
        n: jax.jit(steps.repeat(epoch_step, n), donate_argnums=0).lower(state, images, perm, labels).compile()
        for n in sorted(lengths)
    }
    print(f"compiled the train step in {time.perf_counter() - t0:.1f} s", flush=True)

    grid_noise, grid_labels = grid_inputs(cfg, spec)
    eval_noise, eval_labels = sample_noise(cfg, cfg.eval_samples, seed=1), sample_labels(cfg, spec, cfg.eval_samples)
    row_names = list(spec.class_names) if cfg.conditional else None
    log = MetricLog(workdir, start_step) if lead else None
    summaries = Summaries(workdir) if lead else None
    if summaries and (workdir / "samples").is_dir():
        summaries.update()  # a run killed before its last rebuild had finished
    step = start_step

    def report(first: int, n: int, metrics: dict) -> None:
        """Logs the records of a call's steps ``first + 1 .. first + n`` that fall on --log-every."""
        logged = [i for i in range(n) if (first + i + 1) % cfg.log_every == 0]
        if not logged:
            return
        host = jax.device_get(metrics)
        for i in logged:
            record = {k: v[i] for k, v in host.items()}
            check_finite(record, first + i + 1)
            if log:
                log.write(first + i + 1, record)
        rate = (first + n - epoch_start) * cfg.batch_size / (time.perf_counter() - t_epoch)
        bar.set_postfix_str(f"{rate:.0f} img/s D {record['disc/loss']:.3f} G {record['gen/loss']:.3f}")

    checkpoint_every = cfg.checkpoint_every or default_checkpoint_every(steps_per_epoch)
    saver = checkpoint.BackgroundSaver(mngr)
    stop = _StopRequest()
    try:
        for epoch in range(start_step // steps_per_epoch, cfg.epochs):
            perm = permutation(key, epoch, num_images)
            sums = None
            evaluate = fast is not None and ((epoch + 1) % cfg.eval_every == 0 or epoch + 1 == cfg.epochs)
            bar = tqdm(
                total=steps_per_epoch, initial=step % steps_per_epoch, desc=f"epoch {epoch + 1}/{cfg.epochs}",
                disable=not sys.stderr.isatty(), unit="step", leave=False,
            )  # fmt: skip
            t_epoch, epoch_start, epoch_end = time.perf_counter(), step, (epoch + 1) * steps_per_epoch
            # A call's metrics are pulled to the host after the next call is dispatched: pulling them
            # right away would leave the accelerator idle while the host logs them.
            pending = None
            while step < epoch_end:
                n = chunk_length(step % steps_per_epoch, steps_per_epoch, cfg.steps_per_call)
                state, metrics = programs[n](state, images, perm, labels)  # metrics: [n] each
                sums = accumulate(sums, metrics)
                if pending:
                    report(*pending)
                pending = (step, n, metrics)
                crossed = (step + n) // checkpoint_every > step // checkpoint_every
                step += n
                bar.update(n)
                if step % steps_per_epoch and (stop.signal or crossed):
                    report(*pending)
                    pending = None
                    totals = parallel.copy(sums)  # sums is donated to the next accumulate
                    if log:
                        log.flush()  # the records this checkpoint covers, durable before it
                    saver.save(state, check=partial(check_finite_on_host, totals, step))
                if step % steps_per_epoch and stop.signal:
                    return stopped(saver, stop, step)
            if pending:
                report(*pending)
            bar.close()
            # The epoch's record and grid come before its checkpoint: a run killed in between
            # redoes the end of the epoch and rewrites them, instead of resuming past them. The
            # GIF and curves are rebuilt from them afterwards, in the background.
            seconds = time.perf_counter() - t_epoch
            n = step - epoch_start
            means = {k: v / n for k, v in jax.device_get(sums).items()}
            check_finite(means, step)
            rate = n * cfg.batch_size / seconds
            record = {**means, "epoch": epoch + 1, "epoch_time_s": seconds, "img_per_s": rate}
            stats = sampling_stats(cfg, spec, state)
            if evaluate:
                record.update(eval_metrics(fast, state, eval_noise, eval_labels, stats))
            images_grid = draw_images(state, grid_noise, grid_labels, stats)
            if log:
                log.write(step, record)
                log.flush()
                save_epoch_grid(workdir, images_grid, epoch + 1, row_names)
            saver.save(state, epoch=epoch + 1)
            if summaries:
                summaries.update()
            print(
                f"epoch {epoch + 1}/{cfg.epochs} step {step}: disc/loss {means['disc/loss']:.4f} "
                f"gen/loss {means['gen/loss']:.4f} D(x) {means['disc/real_prob']:.3f} "
                f"D(G(z)) {means['disc/fake_prob']:.3f} | {rate:.0f} img/s, {seconds:.1f} s",
                flush=True,
            )
            if stop.signal and epoch + 1 < cfg.epochs:
                return stopped(saver, stop, step)
    finally:
        stop.restore()
        saver.close()
        if log:
            log.close()
        if summaries:
            summaries.close()
    return 0


def stopped(saver: checkpoint.BackgroundSaver, stop: _StopRequest, step: int) -> int:
    saver.wait()
    print(f"stopped by {stop.signal} at step {step}; checkpoint saved, rerun the command to continue", flush=True)
    return 0


def check_finite_on_host(metrics: dict, step: int) -> None:
    check_finite(jax.device_get(metrics), step)


def check_finite(metrics: dict, step: int) -> None:
    """Stops the run, before any checkpoint of the bad state is written, on a non-finite metric."""
    for name, value in metrics.items():
        if not np.isfinite(value):
            raise UserError(f"training diverged: {name} is {value} by step {step}; the last good checkpoint is kept")


def main(argv: list[str] | None = None) -> int:
    return cli.run(lambda: train(cli.parse(Config, argv, __doc__)))


if __name__ == "__main__":
    sys.exit(main())
