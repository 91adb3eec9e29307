"""Generator and discriminator networks (Flax linen).

The default pair is the TensorFlow DCGAN tutorial network for 28x28 greyscale
images. Its transposed convolutions use :func:`conv_transpose`, which computes
the same function as ``flax.linen.ConvTranspose`` but has a backward pass made
of ordinary convolutions: XLA:CPU lowers the kernel gradient of an
input-dilated convolution to a slow generic loop, which made the whole training
step ~2.3x slower on a 2-core CPU.

The discriminators' convolutions are :class:`Conv`, ``flax.linen.Conv`` with
gradients that XLA:CPU also runs fast inside a loop (:func:`conv`; the
transposed convolution's backward pass likewise): without them a ``lax.scan``
of training steps (``--steps-per-call``) ran 14-42x slower a step on a CPU.
On CPUs the input-dilated convolutions among these run in pieces of the batch
(:func:`_in_batch_pieces`). Traced within :func:`jaxgan.onednn.use`, :func:`conv`
and :func:`conv_transpose` run on CPUs as oneDNN's convolutions instead
(``--convolutions onednn``: bfloat16 on AMX).

Kernels are initialized by :func:`xavier_uniform` and :func:`normal`, which
draw the same values as Flax's initializers of those names, bit for bit, but
compile faster.
"""

import math
from collections.abc import Callable, Sequence
from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax import lax

from jaxgan import onednn, prng

_DN = ("NHWC", "HWIO", "NHWC")


def xavier_uniform() -> nn.initializers.Initializer:
    """``nn.initializers.xavier_uniform()``, drawn as a flat vector and reshaped.

    With JAX's partitionable threefry the draw of an ``[N]`` vector and of an
    ``[a, b, c, d]`` array of the same size give the same numbers, but XLA:CPU
    compiles the 4-D draw of a conv kernel 2-5x slower: the kernels of the Radford
    64x64 pair took 8.1 s to compile instead of 1.6 s (``benchmarks/init_compile.py``).
    """

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        receptive = math.prod(shape[:-2])  # kernel [..., fan_in, fan_out], as Flax counts fans
        fan_in, fan_out = shape[-2] * receptive, shape[-1] * receptive
        variance = jnp.array(1.0 / ((fan_in + fan_out) / 2), dtype=dtype)
        return jax.random.uniform(key, (math.prod(shape),), dtype, -1).reshape(shape) * jnp.sqrt(3 * variance)

    return init


def normal(stddev: float) -> nn.initializers.Initializer:
    """``nn.initializers.normal(stddev)``, drawn flat (see :func:`xavier_uniform`)."""

    def init(key: jax.Array, shape: Sequence[int], dtype=jnp.float32) -> jax.Array:
        return jax.random.normal(key, (math.prod(shape),), dtype).reshape(shape) * jnp.array(stddev, dtype)

    return init


def _flip_swap(kernel: jax.Array) -> jax.Array:
    """[kh, kw, I, O] -> [kh, kw, O, I], spatially flipped (an involution)."""
    return jnp.flip(kernel, (0, 1)).swapaxes(2, 3)


def _kernel_grad(x: jax.Array, g: jax.Array, kernel_shape, strides, pads) -> jax.Array:
    """``dL/dK [kh, kw, I, O]`` of ``y = conv(x, K)`` from ``g = dL/dy``, as a forward convolution.

    The input channels are the batch and the output gradient is the kernel,
    dilated by the stride: a convolution in XLA:CPU's own layout.
    """
    # dK[a, b, i, o] = sum_{n, p, q} x_padded[n, p * s + a, q * s + b, i] * g[n, p, q, o]
    high = [k - n - lo + (m - 1) * st for k, n, (lo, _), m, st in
            zip(kernel_shape[:2], x.shape[1:3], pads, g.shape[1:3], strides, strict=True)]  # fmt: skip
    dk = lax.conv_general_dilated(
        x.transpose(3, 1, 2, 0),  # [I, H, W, B]
        g.transpose(1, 2, 0, 3),  # [P, Q, B, O]
        (1, 1),
        [(lo, hi) for (lo, _), hi in zip(pads, high, strict=True)],
        rhs_dilation=strides,
        dimension_numbers=_DN,
    )  # [I, kh, kw, O]
    return dk.transpose(1, 2, 0, 3)


BATCH_PIECES = 8  # what _in_batch_pieces cuts a batch into, read when a step is traced (1: whole)


def _in_batch_pieces(fn: Callable, x: jax.Array, *args) -> jax.Array:
    """``fn(x, *args)`` computed on at most ``BATCH_PIECES`` pieces of the batch ``x`` (8 images or more each).

    For XLA:CPU's input-dilated convolutions (stride-2 transposed convolutions,
    strided convolutions' input gradients): it runs one on about one core, at a
    cost per image that grows 1.6-2x from batch 64 to 256, while 8 pieces run
    1.4x (batch 64) to 2.1x (256) faster (``benchmarks/transposed_conv.py``).
    Each image's arithmetic is unchanged, so the convolution's result is the
    same bit for bit (a batch reduction fused after the concatenation,
    BatchNorm's, may sum in another order). With the batch sharded over several
    CPU devices XLA reshards it for the pieces (the results agree,
    ``tests/test_parallel.py``); the pieces are for one CPU device.
    """
    size = max(8, -(-x.shape[0] // BATCH_PIECES))
    return jnp.concatenate([fn(x[i : i + size], *args) for i in range(0, x.shape[0], size)])


def _input_dilated(x: jax.Array, kernel: jax.Array, pads, dilation) -> jax.Array:
    """``conv(dilate(x, dilation), kernel)``, stride 1: a transposed convolution, a strided one's input gradient.

    On CPUs, where XLA runs this form on about one core, it runs in pieces of the batch.
    """

    def whole(x, kernel):
        return lax.conv_general_dilated(x, kernel, (1, 1), pads, lhs_dilation=dilation, dimension_numbers=_DN)

    if max(dilation) == 1:  # an ordinary convolution
        return whole(x, kernel)
    return lax.platform_dependent(x, kernel, cpu=partial(_in_batch_pieces, whole), default=whole)


def _adjoint_pads(kernel_hw, pads, x_hw, g_hw, strides) -> list[tuple[int, int]]:
    """The pads of :func:`_input_dilated` that make it the adjoint of ``g [g_hw] = conv(x [x_hw], K, strides, pads)``
    (with ``K`` flipped): row ``h`` of the result sums ``g[p] K[a]`` over ``p * s + a - lo = h``."""
    return [(k - 1 - lo, n - (m - 1) * s - 1 + lo) for k, (lo, _), n, m, s in
            zip(kernel_hw, pads, x_hw, g_hw, strides, strict=True)]  # fmt: skip


def _input_grad(g: jax.Array, kernel: jax.Array, x_shape, strides, pads) -> jax.Array:
    """``dL/dx [B, H, W, I]`` of ``y = conv(x, K)`` from ``g = dL/dy``: ``g`` dilated by the stride, ``K`` flipped."""
    adjoint = _adjoint_pads(kernel.shape[:2], pads, x_shape[1:3], g.shape[1:3], strides)
    return _input_dilated(g, _flip_swap(kernel), adjoint, strides)


def _conv(x, kernel, strides, pads):
    return lax.conv_general_dilated(x, kernel, strides, pads, dimension_numbers=_DN)


@partial(jax.custom_vjp, nondiff_argnums=(2, 3))
def _conv_fast_grad(x, kernel, strides, pads):
    return _conv(x, kernel, strides, pads)


def _conv_fwd(x, kernel, strides, pads):
    return _conv(x, kernel, strides, pads), (x, kernel)


def _conv_bwd(strides, pads, res, g):
    # On CPUs the two gradients are written out as convolutions in XLA:CPU's
    # own layout. Outside a loop XLA rewrites autodiff's gradients into these
    # same convolutions by itself (the results are bit for bit the same);
    # inside a while loop (lax.scan) it does not, and runs autodiff's with a
    # generic emitter, orders of magnitude slower for the larger layers.
    # Other platforms keep autodiff's form.
    def autodiff(x, kernel, g):
        return jax.vjp(lambda x, k: _conv(x, k, strides, pads), x, kernel)[1](g)

    def cpu(x, kernel, g):
        return _input_grad(g, kernel, x.shape, strides, pads), _kernel_grad(x, g, kernel.shape, strides, pads)

    return lax.platform_dependent(*res, g, cpu=cpu, default=autodiff)


_conv_fast_grad.defvjp(_conv_fwd, _conv_bwd)


def conv(x: jax.Array, kernel: jax.Array, strides: Sequence[int], padding: str | Sequence[tuple[int, int]]):
    """``lax.conv_general_dilated``, NHWC input, HWIO kernel, with a backward pass XLA:CPU runs fast in loops.

    Args:
      x: ``[B, H, W, I]``.
      kernel: ``[kh, kw, I, O]``.
      strides: ``(sh, sw)``.
      padding: ``"SAME"``, ``"VALID"`` or ``((lo, hi), (lo, hi))``.
    Returns:
      ``[B, H', W', O]``.
    """
    strides = tuple(int(s) for s in strides)
    if isinstance(padding, str):
        padding = lax.padtype_to_pads(x.shape[1:3], kernel.shape[:2], strides, padding)
    pads = tuple((int(lo), int(hi)) for lo, hi in padding)
    xla = partial(_conv_fast_grad, strides=strides, pads=pads)
    return _onednn_on_cpus(x, kernel, partial(onednn.conv, strides=strides, pads=pads), xla)


def _onednn_on_cpus(x: jax.Array, kernel: jax.Array, cpu: Callable, xla: Callable) -> jax.Array:
    """``cpu(x, kernel)`` on CPUs where :mod:`jaxgan.onednn` is enabled and takes these operands, else ``xla``'s."""
    if not (onednn.enabled and x.dtype == kernel.dtype and x.dtype in onednn.DTYPES):
        return xla(x, kernel)
    return lax.platform_dependent(x, kernel, cpu=cpu, default=xla)


def add_bias(y: jax.Array, bias: jax.Array) -> jax.Array:
    """``y + bias`` (``[..., C] + [C]``), whose bias gradient is a matrix product in 16-bit floats.

    XLA:CPU sums a bfloat16 cotangent over the batch and map as a float32
    ``reduce-window`` (its tree reduction), at a few elements per nanosecond:
    D's two conv biases took 5.7 ms of the 74 ms bfloat16 + oneDNN step at
    batch 64 (a profile). ``ones @ g``, with float32 accumulation like JAX's
    bfloat16 sums, made that step 1.03-1.05x faster at batch 64-256
    (``benchmarks/step_variants.py``). float32 keeps the plain sum, which is
    no slower there, and so its bits.
    """
    if jnp.finfo(y.dtype).bits > 16:
        return y + bias
    return _add_bias_16(y, bias)


@jax.custom_vjp
def _add_bias_16(y: jax.Array, bias: jax.Array) -> jax.Array:
    return y + bias


def _add_bias_16_fwd(y, bias):
    return y + bias, None


def _add_bias_16_bwd(_, g):
    rows = g.reshape(-1, g.shape[-1])  # [B * H * W, C]
    ones = jnp.ones(rows.shape[:1], g.dtype)
    bias_grad = lax.dot_general(ones, rows, (((0,), (0,)), ((), ())), preferred_element_type=jnp.float32)  # [C]
    return g, bias_grad.astype(g.dtype)


_add_bias_16.defvjp(_add_bias_16_fwd, _add_bias_16_bwd)


class Conv(nn.Module):
    """Drop-in for ``nn.Conv`` (same parameters, names and initial values) with :func:`conv`'s backward pass."""

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    padding: str | Sequence[tuple[int, int]] = "SAME"
    use_bias: bool = True
    kernel_init: nn.initializers.Initializer = nn.initializers.lecun_normal()
    dtype: jnp.dtype | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (*self.kernel_size, x.shape[-1], self.features), jnp.float32)
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32) if self.use_bias else None
        x, kernel, bias = nn.dtypes.promote_dtype(x, kernel, bias, dtype=self.dtype)
        y = conv(x, kernel, self.strides, self.padding)
        return y if bias is None else add_bias(y, bias)


def _strided_conv(y: jax.Array, kernel: jax.Array, strides) -> jax.Array:
    """The 'SAME' strided convolution whose adjoint is the transposed conv."""
    return _conv(y, kernel, strides, "SAME")


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def _conv_transpose(x: jax.Array, kernel: jax.Array, strides: tuple[int, int]) -> jax.Array:
    # The adjoint of _strided_conv(., flip_swap(K)) on the output's size (see _ct_bwd): what
    # lax.conv_transpose(x, K, strides, "SAME") computes, the same convolution.
    out_hw = [n * s for n, s in zip(x.shape[1:3], strides, strict=True)]
    pads = lax.padtype_to_pads(out_hw, kernel.shape[:2], strides, "SAME")
    return _input_dilated(x, kernel, _adjoint_pads(kernel.shape[:2], pads, out_hw, x.shape[1:3], strides), strides)


def _ct_fwd(x, kernel, strides):
    return _conv_transpose(x, kernel, strides), (x, kernel)


def _ct_bwd(strides, res, g):
    # conv_transpose(., K) is the adjoint of C = _strided_conv(., flip_swap(K)),
    # so <conv_transpose(x, K), g> = <x, C(g)>. Both gradients follow from C,
    # an ordinary strided convolution: dx = C(g), and dK is C's kernel
    # gradient, which XLA:CPU runs on its fast path (unlike the kernel
    # gradient of the input-dilated convolution that conv_transpose is).
    # On CPUs dK is written out as in _conv_bwd (the adjoint of the permutation
    # _flip_swap is _flip_swap).
    def autodiff(x, kernel, g):
        dx, vjp_k = jax.vjp(lambda k: _strided_conv(g, _flip_swap(k), strides), kernel)
        return dx, vjp_k(x)[0]

    def cpu(x, kernel, g):
        flipped = _flip_swap(kernel)
        pads = lax.padtype_to_pads(g.shape[1:3], kernel.shape[:2], strides, "SAME")
        return _strided_conv(g, flipped, strides), _flip_swap(_kernel_grad(g, x, flipped.shape, strides, pads))

    return lax.platform_dependent(*res, g, cpu=cpu, default=autodiff)


_conv_transpose.defvjp(_ct_fwd, _ct_bwd)


def conv_transpose(x: jax.Array, kernel: jax.Array, strides: Sequence[int]) -> jax.Array:
    """'SAME' transposed convolution, NHWC input, HWIO kernel (like nn.ConvTranspose).

    Args:
      x: ``[B, h, w, Cin]``.
      kernel: ``[kh, kw, Cin, Cout]``.
      strides: ``(sh, sw)``.
    Returns:
      ``[B, h * sh, w * sw, Cout]``.
    """
    strides = tuple(int(s) for s in strides)
    out_shape = (x.shape[0], *(n * s for n, s in zip(x.shape[1:3], strides, strict=True)), kernel.shape[3])
    pads = tuple(lax.padtype_to_pads(out_shape[1:3], kernel.shape[:2], strides, "SAME"))

    def cpu(x, kernel):  # the adjoint of a strided convolution, as in _conv_transpose
        return onednn.conv_transpose(x, _flip_swap(kernel), strides, pads, out_shape)

    return _onednn_on_cpus(x, kernel, cpu, partial(_conv_transpose, strides=strides))


class ConvTranspose(nn.Module):
    """Drop-in for ``nn.ConvTranspose`` ('SAME', no bias) with a fast backward pass."""

    features: int
    kernel_size: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    kernel_init: nn.initializers.Initializer = xavier_uniform()
    dtype: jnp.dtype | None = None

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param("kernel", self.kernel_init, (*self.kernel_size, x.shape[-1], self.features), jnp.float32)
        if self.dtype is not None:
            x, kernel = x.astype(self.dtype), kernel.astype(self.dtype)
        return conv_transpose(x, kernel, self.strides)


LABEL_EMBED_DIM = 50  # size of G's label embedding


def check_labels(labels: jax.Array | None, num_classes: int) -> None:
    """ValueError unless ``labels`` are given exactly to a conditional network."""
    if (labels is None) != (num_classes == 0):
        raise ValueError(f"labels must be given exactly when num_classes > 0 (num_classes={num_classes})")


def condition_noise(z: jax.Array, labels: jax.Array | None, num_classes: int) -> jax.Array:
    """``[B, noise_dim]`` noise, with a learned embedding of ``labels [B]`` appended when conditional."""
    check_labels(labels, num_classes)
    if not num_classes:
        return z
    return jnp.concatenate([z, nn.Embed(num_classes, LABEL_EMBED_DIM, name="label_embed")(labels)], axis=-1)


def condition_image(x: jax.Array, labels: jax.Array | None, num_classes: int) -> jax.Array:
    """``[B, H, W, C]`` images, with ``num_classes`` one-hot label planes appended as channels when conditional.

    Concatenation rather than a projection discriminator (Miyato & Koyama 2018): with the
    tutorial's networks and BCE, a projection head let D judge each class by one template,
    and G answered with one image per class whatever the noise (recall 0 within an epoch).
    """
    check_labels(labels, num_classes)
    if not num_classes:
        return x
    planes = jax.nn.one_hot(labels, num_classes, dtype=x.dtype)[:, None, None, :]  # [B, 1, 1, classes]
    return jnp.concatenate([x, jnp.broadcast_to(planes, (*x.shape[:3], num_classes))], axis=-1)


def _FlaxConvTranspose(features, kernel_size, strides, dtype=None):  # noqa: N802
    return nn.ConvTranspose(
        features, kernel_size, strides, use_bias=False, kernel_init=nn.initializers.xavier_uniform(), dtype=dtype
    )


class Generator(nn.Module):
    """TF-tutorial DCGAN generator: noise ``[B, noise_dim]`` -> images ``[B, 28, 28, 1]`` in [-1, 1].

    ``size`` (a multiple of 4) and ``channels`` fit it to other datasets: it
    starts from ``size/4`` x ``size/4`` x ``4 * width`` (7x7x256 for 28).

    ``width`` is the channels of the last inner transposed conv, doubled at each
    layer before it: 64 is the tutorial's 256, 128, 64 (its parameters' names and
    values unchanged), as :class:`DCGANGenerator`'s ``width`` is the paper's.

    Keras defaults are kept where the tutorial relies on them: Glorot-uniform
    kernels, BatchNorm momentum 0.99 and epsilon 1e-3.

    With ``num_classes`` it is class-conditional: ``labels [B]`` are embedded
    and the embedding is concatenated to the noise (Mirza & Osindero 2014).

    ``depth`` adds that many 3x3 stride-1 convs of the stage's width (BatchNorm
    and LeakyReLU each) after each of the two inner transposed convs: G's
    counterpart of :class:`Discriminator`'s ``depth``. One level adds 12.5M
    multiply-adds an image to G's forward pass of 37.5M (taps inside the input,
    as ``benchmarks/flops.py`` counts them). ``depth`` 0 is the tutorial's G,
    its parameters' names and values unchanged.

    ``dtype`` is the compute dtype of the dense and convolution layers
    (``jnp.bfloat16`` for mixed precision); parameters, BatchNorm and the
    output stay float32.
    """

    negative_slope: float = 0.3
    # False swaps in nn.ConvTranspose (same function, slow backward on XLA:CPU);
    # kept for the throughput benchmark and the equivalence tests.
    fast_conv_transpose: bool = True
    dtype: jnp.dtype = jnp.float32
    num_classes: int = 0  # 0: unconditional
    size: int = 28
    channels: int = 1
    depth: int = 0  # 3x3 stride-1 convs after each inner transposed conv (0: the tutorial's G)
    width: int = 64  # channels of the last inner transposed conv, doubled before it (the tutorial's 256, 128, 64)

    @nn.compact
    def __call__(self, z: jax.Array, train: bool, labels: jax.Array | None = None) -> jax.Array:
        if self.size % 4:
            raise ValueError(f"size must be a multiple of 4, got {self.size}")
        z = condition_noise(z, labels, self.num_classes)
        s = self.size // 4
        convt = partial(ConvTranspose if self.fast_conv_transpose else _FlaxConvTranspose, dtype=self.dtype)
        norm = lambda: nn.BatchNorm(  # noqa: E731
            use_running_average=not train, momentum=0.99, epsilon=1e-3, dtype=jnp.float32
        )
        act = lambda h: nn.leaky_relu(h, self.negative_slope)  # noqa: E731
        w = self.width
        dense = nn.Dense(s * s * 4 * w, use_bias=False, kernel_init=xavier_uniform(), dtype=self.dtype)
        h = act(norm()(dense(z)))
        h = h.reshape(z.shape[0], s, s, 4 * w)  # [B, 7, 7, 4 * width]
        for features, strides in ((2 * w, (1, 1)), (w, (2, 2))):  # [B, 7, 7, 2 * width], then [B, 14, 14, width]
            h = act(norm()(convt(features, (5, 5), strides)(h)))
            for _ in range(self.depth):
                conv = Conv(features, (3, 3), use_bias=False, kernel_init=xavier_uniform(), dtype=self.dtype)
                h = act(norm()(conv(h)))
        h = convt(self.channels, (5, 5), (2, 2))(h)  # [B, 28, 28, 1]
        return jnp.tanh(h.astype(jnp.float32))


class Dropout(nn.Module):
    """``flax.linen.Dropout``, the same masks drawn by :func:`jaxgan.prng.bernoulli` (10x faster on CPUs).

    Its class name gives it Flax's module names (``Dropout_0``, ...), so
    ``make_rng`` hands it the key ``flax.linen.Dropout`` would get, and it drops
    the same units and scales by ``1 / (1 - rate)`` as that does: a test
    compares the two, so runs and checkpoints from before it are unchanged.
    """

    rate: float

    @nn.compact
    def __call__(self, x: jax.Array, deterministic: bool) -> jax.Array:
        if deterministic or self.rate == 0.0:
            return x
        if self.rate == 1.0:
            return jnp.zeros_like(x)  # not x / 0: its gradient would be NaN
        keep = 1.0 - self.rate
        mask = prng.bernoulli(self.make_rng("dropout"), keep, x.shape)
        return lax.select(mask, x / keep, jnp.zeros_like(x))


def spectral(layer: nn.Module, on: bool, train: bool) -> Callable[[jax.Array], jax.Array]:
    """``layer``, with each of its weight matrices divided by its largest singular value when ``on``.

    Spectral normalization (Miyato et al. 2018) bounds each layer's Lipschitz
    constant by 1, so D's logit cannot grow sharper than its weights allow: the
    constraint WGAN-GP approximates with a penalty, at the cost of one power
    iteration a layer and a step. Flax's ``nn.SpectralNorm``: a kernel counts as
    a ``[fan_in, features]`` matrix; the iteration's vector persists between
    steps in the ``batch_stats`` collection (which D then has, and a train step
    must let it update: ``train``). The parameters keep their names and shapes,
    not their initial values: flax draws a wrapped layer's from other keys.
    """
    if not on:
        return layer
    return partial(nn.SpectralNorm(layer), update_stats=train)


class Discriminator(nn.Module):
    """TF-tutorial DCGAN discriminator: images ``[B, 28, 28, 1]`` -> one real/fake logit ``[B]``.

    With ``num_classes`` it is class-conditional: one-hot planes of ``labels [B]``
    are appended to the image's channels (:func:`condition_image`). ``depth``
    adds that many 3x3 stride-1 convs (LeakyReLU each) after each strided conv,
    before its dropout: the tutorial's D sees the image through two convs, the
    "standard CNN" D of Miyato et al. (2018) through a 3x3 and a 4x4 strided
    conv at each resolution. ``depth`` 0 is the tutorial's D, its parameters'
    names and values unchanged.
    """

    negative_slope: float = 0.3
    dropout_rate: float = 0.3
    dtype: jnp.dtype = jnp.float32  # compute dtype; parameters and the logit stay float32
    num_classes: int = 0  # 0: unconditional
    width: int = 64  # channels of the first conv, doubled in the second (the tutorial's 64, 128)
    spectral_norm: bool = False  # see spectral
    depth: int = 0  # 3x3 stride-1 convs after each strided conv (0: the tutorial's D)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool, labels: jax.Array | None = None) -> jax.Array:
        init = xavier_uniform()
        h = condition_image(x, labels, self.num_classes)
        for features in (self.width, 2 * self.width):  # [B, 14, 14, width], then [B, 7, 7, 2 * width]
            for size, strides in [((5, 5), (2, 2))] + [((3, 3), (1, 1))] * self.depth:
                conv = Conv(features, size, strides, padding="SAME", kernel_init=init, dtype=self.dtype)
                h = nn.leaky_relu(spectral(conv, self.spectral_norm, train)(h), self.negative_slope)
            h = Dropout(self.dropout_rate)(h, deterministic=not train)
        h = h.reshape(h.shape[0], -1)  # [B, 7 * 7 * 2 * width]
        dense = nn.Dense(1, kernel_init=init, dtype=self.dtype)
        return spectral(dense, self.spectral_norm, train)(h)[:, 0].astype(jnp.float32)


class DCGANGenerator(nn.Module):
    """Radford et al. (2016) generator: noise ``[B, noise_dim]`` -> images ``[B, S, S, channels]`` in [-1, 1].

    A projection to 4x4x(8·width) (the paper's first fractional-strided conv on
    a 1x1 input is this dense layer), then 4x4 stride-2 transposed convs that
    double the size and halve the width, BatchNorm + ReLU between, tanh out;
    N(0, 0.02) weights. ``size`` 64 gives the paper's 4 upsamplings; 128 one more.
    ``num_classes``: conditional, as :class:`Generator`. ``depth``: 3x3 stride-1
    convs (BatchNorm + ReLU) after each inner transposed conv, as :class:`Generator`'s.
    """

    size: int = 64
    channels: int = 1
    width: int = 64
    dtype: jnp.dtype = jnp.float32
    num_classes: int = 0
    depth: int = 0  # 3x3 stride-1 convs after each inner transposed conv (0: the paper's G)

    @nn.compact
    def __call__(self, z: jax.Array, train: bool, labels: jax.Array | None = None) -> jax.Array:
        z = condition_noise(z, labels, self.num_classes)
        init = normal(0.02)
        ups = {64: 4, 128: 5}[self.size]
        features = self.width * 2 ** (ups - 1)
        norm = lambda: nn.BatchNorm(use_running_average=not train, momentum=0.9, epsilon=1e-5, dtype=jnp.float32)  # noqa: E731
        h = nn.Dense(4 * 4 * features, use_bias=False, kernel_init=init, dtype=self.dtype)(z)
        h = nn.relu(norm()(h.reshape(z.shape[0], 4, 4, features)))  # [B, 4, 4, width * 2^(ups-1)]
        for _ in range(ups - 1):
            features //= 2
            h = nn.relu(norm()(ConvTranspose(features, (4, 4), (2, 2), kernel_init=init, dtype=self.dtype)(h)))
            for _ in range(self.depth):
                conv = Conv(features, (3, 3), use_bias=False, kernel_init=init, dtype=self.dtype)
                h = nn.relu(norm()(conv(h)))
        h = ConvTranspose(self.channels, (4, 4), (2, 2), kernel_init=init, dtype=self.dtype)(h)  # [B, S, S, C]
        return jnp.tanh(h.astype(jnp.float32))


class BatchOnlyNorm(nn.Module):
    """BatchNorm that always normalizes with the current batch's moments and keeps no running averages.

    A discriminator is only ever run in training mode (sampling needs only G),
    so running statistics would be dead weight in the state.
    """

    epsilon: float = 1e-5

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        x = x.astype(jnp.float32)
        mean = x.mean(axis=(0, 1, 2))
        var = x.var(axis=(0, 1, 2))
        scale = self.param("scale", nn.initializers.ones, (x.shape[-1],))
        bias = self.param("bias", nn.initializers.zeros, (x.shape[-1],))
        return (x - mean) * jax.lax.rsqrt(var + self.epsilon) * scale + bias


class DCGANDiscriminator(nn.Module):
    """Radford et al. (2016) discriminator: images ``[B, S, S, C]`` -> one logit ``[B]``.

    4x4 stride-2 convs that halve the size and double the width down to 4x4,
    LeakyReLU(0.2), batch normalization (:class:`BatchOnlyNorm`) on every conv
    but the first, then a 4x4 valid conv to one logit; N(0, 0.02) weights.
    ``num_classes``: label planes appended to the image, as :class:`Discriminator`.
    ``depth``: 3x3 stride-1 convs (batch-normalized, LeakyReLU) after each
    strided conv, as :class:`Discriminator`'s.
    """

    width: int = 64
    dtype: jnp.dtype = jnp.float32
    num_classes: int = 0
    spectral_norm: bool = False  # see spectral; the batch normalization stays
    depth: int = 0  # 3x3 stride-1 convs after each strided conv (0: the paper's D)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool, labels: jax.Array | None = None) -> jax.Array:
        init = normal(0.02)
        h, features = condition_image(x, labels, self.num_classes), self.width
        while h.shape[1] > 4:  # [B, S / 2, S / 2, width], ..., [B, 4, 4, width * S / 8]
            for i, (size, strides) in enumerate([((4, 4), (2, 2))] + [((3, 3), (1, 1))] * self.depth):
                conv = Conv(features, size, strides, padding=((1, 1), (1, 1)), use_bias=False, kernel_init=init,
                            dtype=self.dtype)  # fmt: skip
                h = spectral(conv, self.spectral_norm, train)(h)
                if features != self.width or i > 0:
                    h = BatchOnlyNorm()(h)
                h = nn.leaky_relu(h, 0.2)
            features *= 2
        conv = Conv(1, (4, 4), padding="VALID", kernel_init=init, dtype=self.dtype)
        h = spectral(conv, self.spectral_norm, train)(h)  # [B, 1, 1, 1]
        return h.reshape(-1).astype(jnp.float32)
