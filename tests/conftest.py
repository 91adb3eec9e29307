"""Shared fixtures. Real data and weights come from ../shared (present on CI); tests that need them skip without."""

import fcntl
import os
import tempfile
from pathlib import Path

import pytest

from jaxgan import xla_flags

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"

# The CLI tests start many short runs of the same programs: a persistent XLA cache (inherited by
# the subprocesses) compiles each step once per session. It also makes the resume tests cover
# executables loaded from the cache.
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", tempfile.mkdtemp(prefix="jaxgan-xla-cache-"))
# The experiments' XLA:CPU convolutions (jaxgan.xla_flags), for the tests' in-process runs too: they are
# compared bit for bit with runs of the real command lines.
xla_flags.use_xla_cpu_convolutions()


@pytest.fixture(scope="session")
def manual_dir() -> str:
    folder = os.environ.get("JAXGAN_MANUAL_DIR") or str(SHARED / "data" / "fashion_mnist")
    if not (Path(folder) / "train-images-idx3-ubyte.gz").is_file():
        pytest.skip(f"no Fashion-MNIST files in {folder}")
    return folder


@pytest.fixture(scope="session")
def data_dir(manual_dir, tmp_path_factory) -> str:
    """A tfds data dir with Fashion-MNIST prepared from the official files, once per test run.

    Under pytest-xdist every worker has its own session; they share the folder (in the run's
    common temporary root) and the first one to take the lock prepares it (≈ 25 s).
    """
    from jaxgan import data

    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # the workers' temporary roots sit side by side in the run's
    folder = shared / "tfds"
    with open(shared / "tfds.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        data.load_split("fashion_mnist", "test[:1]", data_dir=str(folder), manual_dir=manual_dir)
    return str(folder)
