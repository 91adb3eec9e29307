"""Other tfds image datasets (--dataset) and CelebA faces, on tfds' mock data (random images of each
dataset's real shape): shapes and channels come from the dataset, and a few real steps train."""

import json

import numpy as np
import pytest
import tensorflow_datasets as tfds
from PIL import Image

from experiments import celeba_dcgan, generate
from experiments import fashion_dcgan as trainer
from jaxgan import checkpoint, data


@pytest.fixture
def mock(monkeypatch):
    monkeypatch.setattr(data, "_reachable", lambda url: True)  # mock_data stands in for the download
    with tfds.testing.mock_data(num_examples=64):
        yield


def trained_state(workdir):
    cfg = trainer.Config(**json.loads((workdir / "config.json").read_text()))
    return checkpoint.restore(checkpoint.manager(workdir / "checkpoints", read_only=True), trainer.build_state(cfg))


@pytest.mark.parametrize("name, shape, mode", [
    pytest.param("mnist", (28, 28, 1), "L", marks=pytest.mark.slow),  # the same path as cifar10's
    ("cifar10", (32, 32, 3), "RGB"),
])  # fmt: skip
def test_a_tfds_dataset_trains_at_its_own_size_and_channels(name, shape, mode, tmp_path, mock):
    w = tmp_path / name
    args = ["--dataset", name, "--workdir", str(w), "--epochs", "1", "--batch-size", "32", "--conditional"]
    assert trainer.main(args) == 0
    state = trained_state(w)
    assert int(state.step) == 2
    assert state.gen_params["Dense_0"]["kernel"].shape[1] == (shape[0] // 4) ** 2 * 256
    grid = Image.open(w / "samples" / "epoch_001.png")
    assert grid.mode == mode and grid.size == (90 + 2 * (8 * (shape[0] + 2) + 2), 2 * (10 * (shape[0] + 2) + 2))
    out = tmp_path / "s.npz"
    assert generate.main(["--workdir", str(w), "--num", "3", "--class", "1", "--out", str(out)]) == 0
    assert np.load(out)["images"].shape == (3, *shape)


def test_celeba_faces_are_cropped_to_64_and_train(tmp_path, mock):
    spec = trainer.data_spec(celeba_dcgan.Config())
    assert spec.stored_shape == (218, 178, 3) and spec.image_shape == (64, 64, 3) and spec.load_size == 64
    faces = data.load_split("celeb_a", "train", size=64)
    assert faces["image"].shape == (64, 64, 64, 3) and faces["image"].dtype == np.uint8 and "label" not in faces
    w = tmp_path / "celeba"
    assert celeba_dcgan.main(["--workdir", str(w), "--epochs", "1", "--batch-size", "32", "--num-train", "64"]) == 0
    assert int(trained_state(w).step) == 2
    assert Image.open(w / "samples" / "epoch_001.png").mode == "RGB"
    assert not any("eval/" in line for line in (w / "metrics.jsonl").read_text().splitlines())


def test_datasets_without_labels_or_images_are_refused(tmp_path, mock, capsys):
    args = ["--workdir", str(tmp_path / "w"), "--conditional"]
    assert celeba_dcgan.main(args) == 2
    assert "--conditional needs a dataset with labels; celeb_a has none" in capsys.readouterr().err
    assert trainer.main(["--dataset", "imdb_reviews", "--workdir", str(tmp_path / "t")]) == 2
    assert "dataset imdb_reviews has no 'image' feature" in capsys.readouterr().err
    assert not (tmp_path / "w").exists() and not (tmp_path / "t").exists()


def test_without_celeba_files_the_error_names_them(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(data, "_reachable", lambda url: False)
    args = ["--workdir", str(tmp_path / "w"), "--data-dir", str(tmp_path / "tfds"), "--manual-dir", ""]
    assert celeba_dcgan.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "img_align_celeba.zip" in err[0] and "--manual-dir" in err[0]
