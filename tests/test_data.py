import jax
import numpy as np
import pytest
import tensorflow_datasets as tfds

from jaxgan import data
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
    images = jax.device_put(ds["image"])
    assert images.shape == (40, 28, 28, 1)
    perm = data.epoch_permutation(jax.random.key(0), 0, 40)
    batches = [data.batch_at(images, perm, i, 16)["image"] for i in range(2)]  # 8 left over: dropped
    seen = np.concatenate([np.asarray(perm[:16]), np.asarray(perm[16:32])])
    assert len(set(seen.tolist())) == 32
    np.testing.assert_allclose(batches[1], data.to_model_range(ds["image"][np.asarray(perm[16:32])]), atol=1e-6)


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
