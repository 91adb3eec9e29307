import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgan import data, files
from jaxgan.errors import UserError


def test_real_fashion_mnist_counts_range_and_balance(data_dir):
    for split, size in (("train", 60_000), ("test", 10_000)):
        ds = data.load_split("fashion_mnist", split, data_dir=data_dir)
        assert ds["image"].shape == (size, 28, 28, 1) and ds["image"].dtype == np.uint8
        assert ds["image"].min() == 0 and ds["image"].max() == 255
        np.testing.assert_array_equal(np.bincount(ds["label"], minlength=10), [size // 10] * 10)
    scaled = data.to_model_range(ds["image"][:100])
    assert scaled.dtype == np.float32 and float(scaled.min()) == -1.0 and float(scaled.max()) == 1.0


def test_mock_data_flows_through_the_batch_pipeline(monkeypatch):
    monkeypatch.setattr(data, "_reachable", lambda url: True)  # mock_data stands in for the download
    with tfds.testing.mock_data(num_examples=40):
        ds = data.load_split("fashion_mnist", "train")
        assert data.SplitCache.of(tfds.builder("fashion_mnist"), "train", None) == []  # nothing to cache from
    images = jax.device_put(ds["image"])
    assert images.shape == (40, 28, 28, 1)
    perm = data.epoch_permutation(jax.random.key(0), 0, 40)
    batches = [data.batch_at(images, perm, i, 16)["image"] for i in range(2)]  # 8 left over: dropped
    seen = np.concatenate([np.asarray(perm[:16]), np.asarray(perm[16:32])])
    assert len(set(seen.tolist())) == 32
    np.testing.assert_allclose(batches[1], data.to_model_range(ds["image"][np.asarray(perm[16:32])]), atol=1e-6)


def _own_copy(data_dir: str, folder: Path) -> str:
    """A private copy of the prepared dataset, without caches: these tests change its files."""
    ignore = shutil.ignore_patterns("jaxgan-*")
    shutil.copytree(Path(data_dir) / "fashion_mnist", folder / "fashion_mnist", ignore=ignore)
    return str(folder)


@pytest.mark.parametrize("writable", [True, False], ids=["beside the records", "read-only data dir"])
def test_a_split_is_cached_and_reloads_without_tensorflow(data_dir, tmp_path, monkeypatch, writable):
    """The cache goes beside the records, or where the data dir cannot be written into jaxgan's cache folder."""
    folder, cache_dir = _own_copy(data_dir, tmp_path / "data"), tmp_path / "cache"
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(cache_dir))  # the subprocess below inherits it
    if not writable:  # tests run as root, which permission bits do not stop
        write_from = files.write_from

        def read_only(path, write):
            if Path(path).is_relative_to(folder):
                raise PermissionError(13, "Permission denied", str(path))
            write_from(path, write)

        monkeypatch.setattr(files, "write_from", read_only)
    decoded = data.load_split("fashion_mnist", "test[:500]", data_dir=folder)  # through tf.data, then cached
    written, elsewhere = (Path(folder), cache_dir) if writable else (cache_dir, Path(folder))
    assert [p.name for p in written.rglob("jaxgan-*")] == ["jaxgan-test%5B%3A500%5D.npz"]
    assert not list(elsewhere.rglob("jaxgan-*"))
    code = (
        "import sys, numpy as np; from jaxgan import data; "
        f"arrays = data.load_split('fashion_mnist', 'test[:500]', data_dir={folder!r}); "
        "assert 'tensorflow' not in sys.modules, 'imported TensorFlow'; np.savez(sys.argv[1], **arrays)"
    )
    subprocess.run([sys.executable, "-c", code, tmp_path / "cached.npz"], check=True)
    with np.load(tmp_path / "cached.npz") as cached:
        assert sorted(cached.files) == sorted(decoded)
        for name, array in decoded.items():
            assert cached[name].dtype == array.dtype
            np.testing.assert_array_equal(cached[name], array)


def test_a_remote_data_dirs_cache_is_kept_in_the_cache_folder(tmp_path, monkeypatch):
    """A gs:// data dir's splits are cached locally, one folder per dataset version (tfds reads them slowly)."""
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path))
    monkeypatch.setattr(data, "_size_and_time", lambda path: (1000, 2))  # epath's stat of the object

    def builder(data_dir):
        records = SimpleNamespace(filename=f"{data_dir}/fashion_mnist-test.tfrecord-00000-of-00001", skip=0, take=-1)
        return SimpleNamespace(data_dir=data_dir, info=SimpleNamespace(splits={"test": SimpleNamespace(
            file_instructions=[records])}))  # fmt: skip

    [cache] = data.SplitCache.of(builder("gs://bucket/tfds/fashion_mnist/3.0.1"), "test", 64)
    [other] = data.SplitCache.of(builder("gs://bucket/tfds/fashion_mnist/3.0.2"), "test", 64)
    assert cache.path.parent.parent == other.path.parent.parent == tmp_path / "splits"
    assert cache.path.name == other.path.name == "jaxgan-test-64px.npz" and cache.path != other.path
    assert cache.write({"image": np.ones((2, 3), np.uint8)}) and cache.read()["image"].sum() == 6


def test_a_stale_or_torn_cache_is_decoded_again_and_an_unwritable_one_skipped(data_dir, tmp_path, monkeypatch):
    folder = _own_copy(data_dir, tmp_path)
    monkeypatch.setenv("JAXGAN_CACHE_DIR", str(tmp_path / "cache"))
    load = lambda: data.load_split("fashion_mnist", "test[:100]", data_dir=folder)  # noqa: E731
    expected = load()
    (cache,) = Path(folder).glob("fashion_mnist/*/jaxgan-*.npz")
    (records,) = Path(folder).glob("fashion_mnist/*/fashion_mnist-test.tfrecord-*")
    decodes = []
    as_dataset = tfds.core.DatasetBuilder.as_dataset
    monkeypatch.setattr(
        tfds.core.DatasetBuilder, "as_dataset", lambda self, **kw: decodes.append(1) or as_dataset(self, **kw)
    )

    def check(decoded: int) -> None:
        arrays = load()
        assert len(decodes) == decoded
        for name in expected:
            np.testing.assert_array_equal(arrays[name], expected[name])

    check(0)  # from the cache
    mtime = records.stat().st_mtime_ns + 10**9
    os.utime(records, ns=(mtime, mtime))  # the records changed since the cache was written
    check(1)
    check(1)  # cached again
    cache.write_bytes(cache.read_bytes()[:1000])  # torn
    check(2)
    check(2)

    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    cache.unlink()
    monkeypatch.setattr(np, "savez", full_disk)
    check(3)
    assert not list(cache.parent.glob("jaxgan-*")), "a cache or temporary file was left"
    assert not list((tmp_path / "cache").rglob("jaxgan-*")), "a cache or temporary file was left"


def test_two_processes_writing_one_cache_at_once_leave_a_whole_one(tmp_path, monkeypatch):
    """The hosts of a pod share the data folder: two writers of one cache at once leave one writer's whole file."""
    alone = data.SplitCache(tmp_path / "alone" / "jaxgan-train.npz", source="the records")
    cache = data.SplitCache(tmp_path / "shared" / "jaxgan-train.npz", source="the records")
    alone.path.parent.mkdir()
    cache.path.parent.mkdir()
    first, second = {"image": np.zeros((64, 28, 28, 1), np.uint8)}, {"image": np.ones((640, 28, 28, 1), np.uint8)}
    savez = np.savez

    def interleaved(f, **arrays):  # the other host writes its whole cache while this one is half way through
        f.write(b"PK")
        monkeypatch.setattr(np, "savez", savez)
        cache.write(second)
        f.seek(0)
        savez(f, **arrays)

    alone.write(first)
    monkeypatch.setattr(np, "savez", interleaved)
    cache.write(first)
    assert cache.path.read_bytes() == alone.path.read_bytes(), "not one writer's file"
    assert [p.name for p in cache.path.parent.iterdir()] == ["jaxgan-train.npz"]


PREPARE_AT_ONCE = """
import os, sys, time
import numpy as np, tensorflow, tensorflow_datasets as tfds  # imported before the barrier
from jaxgan import data

class TinyImages(tfds.core.GeneratorBasedBuilder):  # registered as tiny_images
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        features = {"image": tfds.features.Image(shape=(4, 4, 1)), "label": tfds.features.ClassLabel(num_classes=2)}
        return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict(features))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        for i in range(20):
            yield i, {"image": np.full((4, 4, 1), i, np.uint8), "label": i % 2}

data_dir, me, other = sys.argv[1:]
open(me, "w").close()
while not os.path.exists(other):
    time.sleep(0.01)
print(data.load_split("tiny_images", "train", data_dir=data_dir)["image"].sum())
"""


def test_two_processes_preparing_one_dataset_at_once_both_load_it(tmp_path):
    """Two runs started together on a fresh data dir (or a pod's hosts sharing one) both prepare the
    dataset; tfds' rename of the second's finished folder fails, and that run must go on with the first's."""
    data_dir, ready, script = tmp_path / "tfds", [tmp_path / "ready0", tmp_path / "ready1"], tmp_path / "prepare.py"
    script.write_text(PREPARE_AT_ONCE)  # a file: tfds looks for its builders' source files
    procs = [
        subprocess.Popen(
            [sys.executable, script, data_dir, ready[i], ready[1 - i]],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(2)
    ]
    outs = [proc.communicate(timeout=600) for proc in procs]
    for proc, (_, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    assert [out.splitlines()[-1] for out, _ in outs] == [str(16 * sum(range(20)))] * 2
    assert sorted(os.listdir(data_dir / "tiny_images")) == ["1.0.0"]  # no temporary folder left


def test_batches_carry_the_labels_of_their_images():
    images = jax.device_put(np.arange(40, dtype=np.uint8).reshape(40, 1, 1, 1))  # pixel value = index
    labels = jax.device_put(np.arange(40, dtype=np.int32) * 10)
    perm = data.epoch_permutation(jax.random.key(0), 3, 40)
    batch = data.batch_at(images, perm, 1, 16, labels=labels)
    index = np.round((np.asarray(batch["image"])[:, 0, 0, 0] + 1) * 127.5).astype(int)
    np.testing.assert_array_equal(index, np.asarray(perm[16:32]))
    np.testing.assert_array_equal(np.asarray(batch["label"]), index * 10)
    assert "label" not in data.batch_at(images, perm, 1, 16)


def test_epoch_permutation_is_a_seeded_permutation():
    key = jax.random.key(0)
    p0, p1 = data.epoch_permutation(key, 0, 100), data.epoch_permutation(key, 1, 100)
    assert sorted(np.asarray(p0).tolist()) == list(range(100))
    assert not np.array_equal(p0, p1)
    np.testing.assert_array_equal(p0, data.epoch_permutation(key, 0, 100))


def test_manual_dir_checks(tmp_path, manual_dir):
    with pytest.raises(UserError, match="lacks train-images"):
        data.check_manual_dir(str(tmp_path))
    for name in data.FASHION_MNIST_FILES:
        (tmp_path / name).write_bytes((tmp_path.parent / "x").as_posix().encode())
    with pytest.raises(UserError, match="SHA-256 mismatch"):
        data.check_manual_dir(str(tmp_path))
    data.check_manual_dir(manual_dir)  # the real files pass


def test_unknown_dataset_is_a_clear_error():
    with pytest.raises(UserError, match="unknown dataset 'fashion_mnistt'"):
        data.load_split("fashion_mnistt", "train")


def test_offline_replay_serves_saved_splits_and_slices(tmp_path):
    from benchmarks import offline_data

    images = np.arange(6 * 4, dtype=np.uint8).reshape(6, 2, 2, 1)
    np.savez_compressed(tmp_path / "fashion_mnist_train.npz", image=images, label=np.arange(6))
    load = offline_data.replay(tmp_path)
    np.testing.assert_array_equal(load("fashion_mnist", "train")["image"], images)
    np.testing.assert_array_equal(load("fashion_mnist", "train[:4]", None, None, size=None)["label"], np.arange(4))
