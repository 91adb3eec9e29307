"""Reads the tensors of a TorchScript (or ``torch.save``) zip file without importing torch.

Such a file is a zip holding ``<root>/data.pkl``, a pickle whose tensors point
through persistent ids at raw little-endian storages ``<root>/data/<key>``.
Modules unpickle as plain attribute dicts; tensors are rebuilt as numpy arrays
from (storage, offset, size, stride).
"""

import pickle
import zipfile

import numpy as np

_STORAGE_DTYPES = {
    "FloatStorage": np.float32,
    "DoubleStorage": np.float64,
    "HalfStorage": np.float16,
    "LongStorage": np.int64,
    "IntStorage": np.int32,
    "ByteStorage": np.uint8,
    "BoolStorage": np.bool_,
}


class _Object:
    """Stand-in for any pickled class: keeps the state that __setstate__ receives."""

    def __init__(self, *args):
        self.state = args

    def __setstate__(self, state):
        self.state = state


def _rebuild_tensor(storage, offset, size, stride, *_):
    itemsize = storage.itemsize
    return np.lib.stride_tricks.as_strided(
        storage[offset:], shape=tuple(size), strides=tuple(s * itemsize for s in stride)
    ).copy()


class _Unpickler(pickle.Unpickler):
    def __init__(self, file, archive: zipfile.ZipFile, root: str):
        super().__init__(file)
        self._archive, self._root = archive, root

    def find_class(self, module, name):
        if (module, name) == ("torch._utils", "_rebuild_tensor_v2"):
            return _rebuild_tensor
        if module == "torch" and name in _STORAGE_DTYPES:
            return _STORAGE_DTYPES[name]
        if (module, name) == ("collections", "OrderedDict"):
            return dict
        if module == "torch.jit._pickle" and name.startswith("build_"):
            return lambda x: x
        return type(name, (_Object,), {})

    def persistent_load(self, pid):
        kind, dtype, key, _location, _numel = pid
        assert kind == "storage", pid
        return np.frombuffer(self._archive.read(f"{self._root}/data/{key}"), dtype=dtype)


def read_tensors(path) -> dict[str, np.ndarray]:
    """All tensors of the pickled object tree, by dotted attribute path (``net.layers.conv.weight``)."""
    with zipfile.ZipFile(path) as archive:
        pkl = next(name for name in archive.namelist() if name.endswith("/data.pkl"))
        root = pkl.removesuffix("/data.pkl")
        with archive.open(pkl) as f:
            tree = _Unpickler(f, archive, root).load()
    tensors: dict[str, np.ndarray] = {}

    def walk(node, prefix):
        state = node.state if isinstance(node, _Object) else node
        if isinstance(state, np.ndarray):
            tensors[prefix] = state
        elif isinstance(state, dict):
            for key, value in state.items():
                walk(value, f"{prefix}.{key}" if prefix else key)

    walk(tree, "")
    return tensors
