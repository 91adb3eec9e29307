"""Datasets from tensorflow-datasets, held in memory on the device.

Fashion-MNIST is 47 MB as uint8, so each split is loaded once and batches are
gathered on the device from a per-epoch permutation drawn from a PRNG key.
That makes the data order a pure function of (key, step): exact resume needs
no iterator state.
"""

import functools
import hashlib
import json
import os
import socket
import urllib.parse
import zipfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from etils import epath

from jaxgan import files
from jaxgan.errors import UserError

# The official release files, as tfds expects them in a manual dir.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
FASHION_MNIST_URL = "https://github.com/zalandoresearch/fashion-mnist#get-the-data"
# What to put in a manual dir, for the datasets whose download is known to fail or be absent.
MANUAL_FILES = {
    "fashion_mnist": f"the four official *-ubyte.gz files ({FASHION_MNIST_URL})",
    "celeb_a": (
        "img_align_celeba.zip, list_eval_partition.txt, list_attr_celeba.txt, list_landmarks_align_celeba.txt "
        "and identity_CelebA.txt from the CelebA Google Drive (https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html)"
    ),
}
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def check_manual_dir(manual_dir: str) -> None:
    """Raises UserError unless ``manual_dir`` holds the four official files, byte for byte."""
    folder = Path(manual_dir)
    if not folder.is_dir():
        raise UserError(f"manual dir {manual_dir} is not a folder")
    for name, sha256 in FASHION_MNIST_FILES.items():
        path = folder / name
        if not path.is_file():
            raise UserError(f"manual dir {manual_dir} lacks {name} (get the four files from {FASHION_MNIST_URL})")
        if hashlib.sha256(path.read_bytes()).hexdigest() != sha256:
            raise UserError(f"{path} is not the official file (SHA-256 mismatch): download it again")


def _import_tfds():
    """Imports tfds, which needs TensorFlow only to prepare or read a dataset (:func:`_import_tf`).

    TensorFlow, which only decodes records here, is kept from its oneDNN
    kernels: where they are on by default (AVX-512 CPUs) it prints a notice to
    stderr when imported, before any log level applies, which turned our
    one-line errors into four lines.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "0")
    import tensorflow_datasets as tfds
    from absl import logging

    logging.set_verbosity(logging.ERROR)  # tfds' info-level chatter would bury our one-line errors
    return tfds


@functools.cache
def _import_tf():
    """Imports TensorFlow (≈ 7 s on a 2-core CPU), kept off any GPU: JAX owns the accelerators."""
    import tensorflow as tf

    tf.config.set_visible_devices([], "GPU")
    return tf


def _reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether a TCP connection to the URL's host opens (tfds itself retries for minutes)."""
    parts = urllib.parse.urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((parts.hostname, port), timeout=timeout).close()
        return True
    except OSError:
        return False


def describe(name: str, data_dir: str | None = None) -> tuple[tuple, tuple[str, ...]]:
    """``(image shape [H, W, C], class names)`` of a tfds dataset, from its info (no download).

    Fashion-MNIST's are known without importing tfds. The names are empty for a
    dataset without a ``label``; H and W are None where images vary in size.
    """
    if name == "fashion_mnist":
        return (28, 28, 1), FASHION_MNIST_CLASSES
    tfds = _import_tfds()
    try:
        features = tfds.builder(name, data_dir=data_dir).info.features
    except tfds.core.registered.DatasetNotFoundError:
        raise UserError(f"unknown dataset {name!r}: pick a tensorflow-datasets name such as fashion_mnist") from None
    if "image" not in features:
        raise UserError(f"dataset {name} has no 'image' feature: pick an image dataset such as mnist or cifar10")
    names = tuple(features["label"].names) if "label" in features else ()
    return tuple(features["image"].shape), names


def load_split(
    name: str, split: str, data_dir: str | None = None, manual_dir: str | None = None, size: int | None = None
) -> dict[str, np.ndarray]:
    """Loads a whole tfds split as numpy: ``{"image": [N, H, W, C] uint8, "label": [N] int64}``
    (no ``"label"`` for a dataset without one, such as ``celeb_a``).

    Prepares the dataset first if needed, from ``manual_dir`` when given (no
    network), else by downloading. ``size``: resize each image so that its
    shorter side is ``size`` and crop the centre ``size`` x ``size`` (the PyTorch
    DCGAN faces recipe) while loading, so that a large dataset is held small.
    """
    tfds = _import_tfds()
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise UserError(f"unknown dataset {name!r}: pick a tensorflow-datasets name such as fashion_mnist") from None
    if not builder.is_prepared():
        _import_tf()
        if manual_dir:
            if name == "fashion_mnist":
                check_manual_dir(manual_dir)
            config = tfds.download.DownloadConfig(manual_dir=manual_dir)
            _prepare(builder, download_config=config)
        else:
            need = MANUAL_FILES.get(name, "the files tfds downloads (their names: tfds' checksums.tsv of the dataset)")
            offline = f"; without internet, put {need} in a folder and pass --manual-dir or set JAXGAN_MANUAL_DIR"
            url = next(iter(builder.url_infos or {}), None)  # a file the download would fetch
            if url and not _reachable(url):
                raise UserError(f"cannot reach {url} to download {name}{offline}")
            try:
                _prepare(builder)
            except Exception as e:  # tfds raises many types for "no network"
                raise UserError(f"could not download {name} ({type(e).__name__}){offline}") from None
    features = builder.info.features
    if "image" not in features:
        raise UserError(f"dataset {name} has no 'image' feature: pick an image dataset such as mnist or cifar10")
    caches = SplitCache.of(builder, split, size)
    arrays = next((a for a in map(SplitCache.read, caches) if a is not None), None)
    if arrays is None:
        _import_tf()
        keys = [k for k in ("image", "label") if k in features]
        ds = builder.as_dataset(split=split).map(lambda ex: {k: ex[k] for k in keys})
        if size is not None:
            ds = ds.map(lambda ex: {**ex, "image": _resize_and_crop(ex["image"], size)})
        chunks = list(tfds.as_numpy(ds.batch(10_000)))
        arrays = {k: np.concatenate([c[k] for c in chunks]) for k in keys}
        for cache in caches:  # the first place that takes it
            if cache.write(arrays):
                break
    return arrays


def _prepare(builder, **kwargs) -> None:
    """``builder.download_and_prepare``, where other processes may be preparing the same dataset folder
    at once (two runs started together, the hosts of a pod sharing a data dir): tfds writes into a
    temporary folder and renames it, and every rename but the first fails, on a dataset then complete."""
    try:
        builder.download_and_prepare(**kwargs)
    except OSError:
        if not builder.is_prepared():
            raise


class SplitCache:
    """A decoded split kept as ``.npz``, beside the prepared tfds files it came from or in jaxgan's cache folder.

    Decoding a split through tf.data needs TensorFlow, whose import alone takes
    ≈ 7 s on a 2-core CPU (Fashion-MNIST's 60k images decode in ≈ 1 s more); the
    arrays load from this file in a fraction of a second, without TensorFlow. It
    records the sizes and times of the record files it was decoded from: if they
    change, it is ignored and rewritten.
    """

    def __init__(self, path: Path, source: str):
        self.path, self.source = path, source

    @classmethod
    def of(cls, builder, split: str, size: int | None) -> list["SplitCache"]:
        """Where the cache of ``split`` (resized to ``size``) is looked for and written, in that order.

        First the dataset's version folder, so that deleting the prepared dataset deletes it; then
        ``files.cache_dir()/splits/``, for a data dir that cannot be written to (a shared, read-only
        one) or is in an object store (``gs://``, read through tfds, and slowly, at each start
        otherwise). Empty where the split's record files are not on disk (mock data).
        """
        try:
            records = [
                (Path(f.filename).name, f.skip, f.take, *_size_and_time(f.filename))
                for f in builder.info.splits[split].file_instructions
            ]
        except (KeyError, ValueError, OSError):  # an unknown split is reported by tfds itself, later
            return []
        data_dir = os.fspath(builder.data_dir)
        name = "jaxgan-" + urllib.parse.quote(split, safe="") + ("" if size is None else f"-{size}px") + ".npz"
        source = json.dumps({"split": split, "size": size, "files": records})
        folder = files.cache_dir() / "splits" / hashlib.sha256(data_dir.encode()).hexdigest()[:16]
        beside = [] if files.is_remote(data_dir) else [cls(Path(data_dir) / name, source)]
        return [*beside, cls(folder / name, source)]

    def read(self) -> dict[str, np.ndarray] | None:
        """The cached arrays, or None if absent, unreadable or decoded from other files."""
        try:
            with np.load(self.path) as cached:
                if str(cached["source"]) != self.source:
                    return None
                return {k: cached[k] for k in cached.files if k != "source"}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return None

    def write(self, arrays: dict[str, np.ndarray]) -> bool:
        """Writes the cache atomically (:func:`jaxgan.files.write_from`); False where its folder cannot be written."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            files.write_from(self.path, lambda f: np.savez(f, source=np.array(self.source), **arrays))
        except OSError:
            return False
        return True


def _size_and_time(path: str) -> tuple[int, int]:
    if files.is_remote(path):
        stat = epath.Path(path).stat()  # whole seconds
        return stat.length, stat.mtime
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns


def _resize_and_crop(image, size: int):
    """One tf image ``[H, W, C]`` uint8 -> ``[size, size, C]``: shorter side to ``size`` (antialiased), centre crop."""
    tf = _import_tf()

    h, w = tf.shape(image)[0], tf.shape(image)[1]
    scale = size / tf.cast(tf.minimum(h, w), tf.float32)
    new_h = tf.maximum(size, tf.cast(tf.round(tf.cast(h, tf.float32) * scale), tf.int32))
    new_w = tf.maximum(size, tf.cast(tf.round(tf.cast(w, tf.float32) * scale), tf.int32))
    resized = tf.image.resize(image, (new_h, new_w), method="bilinear", antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    cropped = resized[top : top + size, left : left + size]
    return tf.cast(tf.clip_by_value(tf.round(cropped), 0, 255), tf.uint8)


def to_model_range(images: jax.Array) -> jax.Array:
    """uint8 pixels [0, 255] -> float32 in [-1, 1]."""
    return images.astype(jnp.float32) / 127.5 - 1.0


def epoch_permutation(key: jax.Array, epoch: jax.Array | int, num_examples: int) -> jax.Array:
    """The shuffled order of epoch ``epoch``: ``[num_examples]`` int32 indices."""
    return jax.random.permutation(jax.random.fold_in(key, epoch), num_examples)


def batch_at(
    images: jax.Array,
    perm: jax.Array,
    index: jax.Array,
    batch_size: int,
    size: int | None = None,
    labels: jax.Array | None = None,
) -> dict:
    """Batch number ``index`` of an epoch whose order is ``perm``, resized to ``size`` x ``size`` if given.

    Args:
      images: ``[N, H, W, C]`` uint8, the whole training split on the device.
      perm: ``[N]``, from :func:`epoch_permutation`; the tail that does not
        fill a batch is left out of the epoch.
      index: the batch's position in the epoch, ``step % (N // batch_size)``.
      size: the side the model wants (bilinear resize on the fly: the stored split stays small).
      labels: ``[N]`` int, the split's classes, for class-conditional training.
    Returns:
      ``{"image": [batch_size, H, W, C] float32 in [-1, 1]}``, and ``"label": [batch_size]``
      when ``labels`` are given.
    """
    idx = jax.lax.dynamic_slice_in_dim(perm, index * batch_size, batch_size)
    batch = to_model_range(images[idx])
    if size is not None and batch.shape[1:3] != (size, size):
        batch = jax.image.resize(batch, (batch_size, size, size, batch.shape[-1]), "bilinear")
    return {"image": batch} if labels is None else {"image": batch, "label": labels[idx]}
