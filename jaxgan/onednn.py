"""oneDNN's convolutions on CPUs, as an XLA FFI custom call (``--convolutions onednn``).

Why: jaxlib 0.10.2's XLA:CPU runs convolutions in its own (Eigen) kernels or
YNNPACK's. Neither uses the AMX units of recent Xeons, so a bfloat16
convolution there is no faster than a float32 one, while oneDNN's (the library
TensorFlow and PyTorch call for theirs) runs it on AMX several times faster
(BENCHMARKS.md, "oneDNN's convolutions through an FFI call"). In float32 oneDNN's are about as fast
as XLA's own.

:func:`use` compiles ``onednn_conv.cc`` (shipped in this package) once, with
the system's C++ compiler, against oneDNN's pip packages (the ``onednn``
extra) and JAX's FFI headers, into ``<cache>/onednn/``, loads it and registers
its target. Within it :mod:`jaxgan.models`' ``conv`` and ``conv_transpose``
run on CPUs as :func:`conv` and :func:`conv_transpose` here (other platforms
keep XLA's); the switch is read when a step is traced.

The three products of a convolution (forward, input gradient, kernel gradient)
are each a custom call whose derivatives are the other two, so these
convolutions differentiate to any order (WGAN-GP's penalty takes a gradient of
a gradient). Results are deterministic for a given machine and thread count,
and differ from XLA's convolutions in the last bits.

A call runs on all cores (oneDNN's OpenMP threads), so XLA's own work should
not run beside it: programs that call it want XLA's serial schedule
(:func:`jaxgan.xla_flags.use_serial_schedule`, set by the trainer for
``--convolutions onednn``): the bfloat16 step at batch 64 ran 1.32x faster with it.
"""

import contextlib
import ctypes
import hashlib
import importlib.metadata
import platform
import shutil
import subprocess
import sys
import tempfile
from functools import partial
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from jaxgan import files
from jaxgan.errors import UserError

TARGET = "jaxgan_onednn_conv"
DTYPES = (jnp.dtype(jnp.float32), jnp.dtype(jnp.bfloat16))  # what the custom call takes
_SOURCE = Path(__file__).with_name("onednn_conv.cc")
_FORWARD, _BACKWARD_DATA, _BACKWARD_WEIGHTS = 0, 1, 2

enabled = False  # set within use(); read by jaxgan.models when a step is traced


def supported() -> bool:
    """Whether this platform has oneDNN's pip wheels (the ``onednn`` extra): x86-64 Linux."""
    return platform.machine() == "x86_64" and sys.platform == "linux"


def _dist_file(dist: str, name: str) -> Path:
    """The installed file ``name`` of pip distribution ``dist``; UserError when either is missing."""
    try:
        files = importlib.metadata.distribution(dist).files or []
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"--convolutions onednn needs oneDNN: pip install -e '.[onednn]' (no {dist})") from None
    for f in files:
        if f.name == name:
            return Path(f.locate()).resolve()
    raise UserError(f"--convolutions onednn: {dist} has no {name}; reinstall it")


def _build() -> Path:
    """The compiled library, built on first use and kept under a name that hashes everything it was built from."""
    if not supported():
        raise UserError(f"--convolutions onednn needs x86-64 Linux (oneDNN's wheels), not {sys.platform} "
                        f"{platform.machine()}: use --convolutions xla")  # fmt: skip
    header = _dist_file("onednn-devel-cpu-gomp", "dnnl.hpp").parent  # [prefix]/include
    library = _dist_file("onednn-cpu-gomp", "libdnnl.so.3")
    compiler = shutil.which("c++") or shutil.which("g++")
    if compiler is None:
        raise UserError("--convolutions onednn compiles a small C++ library once: install a C++ compiler (g++)")
    cmd = [compiler, "-O2", "-std=c++17", "-shared", "-fPIC", "-w", f"-I{jax.ffi.include_dir()}", f"-I{header}",
           str(_SOURCE), str(library), f"-Wl,-rpath,{library.parent}"]  # fmt: skip
    digest = hashlib.sha256(_SOURCE.read_bytes() + " ".join(cmd).encode() + jax.__version__.encode()).hexdigest()
    out = files.cache_dir() / "onednn" / f"libjaxgan_onednn_{digest[:16]}.so"
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:  # built aside, then renamed: never half-written
        built = Path(tmp) / out.name
        result = subprocess.run([*cmd, "-o", str(built)], capture_output=True, text=True)
        if result.returncode:
            raise UserError(f"--convolutions onednn: compiling {_SOURCE.name} failed: {result.stderr.strip()[-500:]}")
        built.replace(out)
    return out


_registered = False


@contextlib.contextmanager
def use(on: bool = True):
    """Within, the convolutions of :mod:`jaxgan.models` traced for CPUs are oneDNN's (``on``) or XLA's.

    Turning it on builds the library (once; UserError when oneDNN or a C++
    compiler is missing) and registers its target. The previous setting is
    restored on exit, so a run inside a longer process leaves the others alone.
    What counts is where a function is traced: a jitted function already traced
    outside keeps XLA's convolutions for those shapes (jit it anew within).
    """
    global enabled, _registered
    if on and not _registered:
        library = ctypes.cdll.LoadLibrary(str(_build()))
        jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(library.JaxganOnednnConv), platform="cpu")
        _registered = True
    before, enabled = enabled, on
    try:
        yield
    finally:
        enabled = before


def check(dtype) -> None:
    """UserError unless oneDNN has convolutions of ``dtype`` for this CPU (call within :func:`use`).

    Its bfloat16 ones need AVX-512 (AMX for speed): on an AVX2 CPU the first
    step would otherwise fail inside the compiled program.
    """
    x = jax.device_put(jnp.zeros((1, 1, 1, 1), dtype), jax.devices("cpu")[0])
    try:
        jax.block_until_ready(jax.jit(lambda x: _call(_FORWARD, x, x, x.shape, (1, 1), ((0, 0), (0, 0))))(x))
    except jax.errors.JaxRuntimeError:
        name = jnp.dtype(dtype).name
        raise UserError(
            f"--convolutions onednn: oneDNN has no {name} convolutions for this CPU (bfloat16 needs AVX-512); "
            "use --convolutions xla"
        ) from None


def _call(kind: int, a: jax.Array, b: jax.Array, out_shape, strides, pads) -> jax.Array:
    return jax.ffi.ffi_call(TARGET, jax.ShapeDtypeStruct(out_shape, a.dtype))(
        a,
        b,
        kind=np.int64(kind),
        strides=np.array(strides, np.int64),
        pad_lo=np.array([lo for lo, _ in pads], np.int64),
        pad_hi=np.array([hi for _, hi in pads], np.int64),
    )


# The convolution y = conv(x, K) ([B, H, W, I] * [kh, kw, I, O] -> [B, P, Q, O]) and its two adjoints,
# each differentiated through the others: all three are bilinear.
@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _forward(x, kernel, strides, pads):  # y
    batch, h, w, _ = x.shape
    kh, kw, _, features = kernel.shape
    out = [(n + lo + hi - k) // s + 1 for n, k, s, (lo, hi) in zip((h, w), (kh, kw), strides, pads, strict=True)]
    return _call(_FORWARD, x, kernel, (batch, *out, features), strides, pads)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _backward_data(g, kernel, strides, pads, x_shape):  # dL/dx from g = dL/dy
    return _call(_BACKWARD_DATA, g, kernel, x_shape, strides, pads)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _backward_weights(x, g, strides, pads, kernel_shape):  # dL/dK from g = dL/dy
    return _call(_BACKWARD_WEIGHTS, x, g, kernel_shape, strides, pads)


def _forward_fwd(x, kernel, strides, pads):
    return _forward(x, kernel, strides, pads), (x, kernel)


def _forward_bwd(strides, pads, res, g):
    x, kernel = res
    return _backward_data(g, kernel, strides, pads, x.shape), _backward_weights(x, g, strides, pads, kernel.shape)


def _backward_data_fwd(g, kernel, strides, pads, x_shape):
    return _backward_data(g, kernel, strides, pads, x_shape), (g, kernel)


def _backward_data_bwd(strides, pads, x_shape, res, h):  # h: a cotangent of dx
    g, kernel = res
    return _forward(h, kernel, strides, pads), _backward_weights(h, g, strides, pads, kernel.shape)


def _backward_weights_fwd(x, g, strides, pads, kernel_shape):
    return _backward_weights(x, g, strides, pads, kernel_shape), (x, g)


def _backward_weights_bwd(strides, pads, kernel_shape, res, h):  # h: a cotangent of dK
    x, g = res
    return _backward_data(g, h, strides, pads, x.shape), _forward(x, h, strides, pads)


_forward.defvjp(_forward_fwd, _forward_bwd)
_backward_data.defvjp(_backward_data_fwd, _backward_data_bwd)
_backward_weights.defvjp(_backward_weights_fwd, _backward_weights_bwd)


def conv(x: jax.Array, kernel: jax.Array, strides: tuple[int, int], pads: tuple[tuple[int, int], ...]) -> jax.Array:
    """``lax.conv_general_dilated(x [B, H, W, I], kernel [kh, kw, I, O], strides, pads)`` in NHWC/HWIO, by oneDNN."""
    return _forward(x, kernel, strides, pads)


def conv_transpose(x: jax.Array, flipped: jax.Array, strides: tuple[int, int], pads, out_shape) -> jax.Array:
    """The adjoint of ``conv(., flipped, strides, pads)`` on ``out_shape [B, H, W, O]``, from ``x [B, h, w, I]``.

    ``flipped`` is ``[kh, kw, O, I]``: a transposed convolution's kernel, flipped and swapped.
    """
    return _backward_data(x, flipped, strides, pads, tuple(out_shape))
