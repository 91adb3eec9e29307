from functools import partial

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from jaxgan import losses, models
from tests.helpers import assert_trees_equal


def count(tree) -> int:
    return sum(x.size for x in jax.tree.leaves(tree))


@pytest.fixture(scope="module")
def gen_vars():
    return models.Generator().init(jax.random.key(0), jnp.zeros((1, 100)), train=False)


@pytest.fixture(scope="module")
def disc_vars():
    return models.Discriminator().init(jax.random.key(0), jnp.zeros((1, 28, 28, 1)), train=False)


@pytest.mark.parametrize("shape", [(5, 5, 1, 64), (5, 5, 128, 64), (4, 4, 1024, 512), (4, 4, 64, 1), (100, 12544)])
def test_initializers_draw_flaxs_values_bit_for_bit(shape):
    """The flat draws only compile faster: checkpoints and runs from Flax's initializers stay valid."""
    key = jax.random.key(5)
    for ours, flax_init in [(models.xavier_uniform(), nn.initializers.xavier_uniform()),
                            (models.normal(0.02), nn.initializers.normal(0.02))]:  # fmt: skip
        a, b = ours(key, shape), flax_init(key, shape)
        assert a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b)


def test_generator_parameter_count(gen_vars):
    dense = 100 * 7 * 7 * 256  # no bias
    bn = 2 * (7 * 7 * 256 + 128 + 64)  # scale and bias
    convs = 5 * 5 * (256 * 128 + 128 * 64 + 64 * 1)  # no bias
    assert count(gen_vars["params"]) == dense + bn + convs == 2_305_472
    assert count(gen_vars["batch_stats"]) == 2 * (7 * 7 * 256 + 128 + 64)


def test_discriminator_parameter_count(disc_vars):
    conv1 = 5 * 5 * 1 * 64 + 64
    conv2 = 5 * 5 * 64 * 128 + 128
    dense = 7 * 7 * 128 + 1
    assert count(disc_vars["params"]) == conv1 + conv2 + dense == 212_865


@pytest.mark.parametrize("disc", [models.Discriminator(width=96), models.DCGANDiscriminator(width=96)])
def test_discriminator_width_sets_every_conv(disc):
    """``width`` is the first conv's channels, doubled at each conv after it; the rest of D is unchanged."""
    variables = disc.init(jax.random.key(0), jnp.zeros((1, 64, 64, 1)), train=False)
    kernels = [p["kernel"].shape for p in variables["params"].values() if "kernel" in p]
    if isinstance(disc, models.Discriminator):
        assert kernels == [(5, 5, 1, 96), (5, 5, 96, 192), (16 * 16 * 192, 1)]
    else:
        assert kernels == [(4, 4, 1, 96), (4, 4, 96, 192), (4, 4, 192, 384), (4, 4, 384, 768), (4, 4, 768, 1)]


@pytest.mark.parametrize("gen", [models.Generator(width=32), models.DCGANGenerator(width=32)])
def test_generator_width_sets_every_layer(gen):
    """``width`` is the last inner transposed conv's channels, doubled at each layer before it; the output
    layer still draws one channel at the full size."""
    variables = gen.init(jax.random.key(0), jnp.zeros((1, 100)), train=False)
    kernels = [p["kernel"].shape for p in variables["params"].values() if "kernel" in p]
    if isinstance(gen, models.Generator):
        assert kernels == [(100, 7 * 7 * 128), (5, 5, 128, 64), (5, 5, 64, 32), (5, 5, 32, 1)]
    else:
        assert kernels == [(100, 4 * 4 * 256), (4, 4, 256, 128), (4, 4, 128, 64), (4, 4, 64, 32), (4, 4, 32, 1)]
    images = gen.apply(variables, jnp.zeros((2, 100)), train=False)
    assert images.shape == ((2, 28, 28, 1) if isinstance(gen, models.Generator) else (2, 64, 64, 1))


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("disc,side", [(models.Discriminator, 28), (models.DCGANDiscriminator, 64)])
def test_discriminator_depth_adds_3x3_convs_after_each_strided_one(disc, side, depth):
    """``depth`` convs of 3x3, stride 1 and the stage's width follow each strided conv; the map sizes, the
    head and (in the DCGAN D) the batch normalization of every added conv follow from the paper's D."""
    x = jax.random.uniform(jax.random.key(1), (2, side, side, 1), minval=-1, maxval=1)
    variables = disc(depth=depth).init(jax.random.key(0), x, train=False)
    params = variables["params"]
    kernels = [p["kernel"].shape for p in params.values() if "kernel" in p]
    if disc is models.Discriminator:
        strided, head = [(5, 5, 1, 64), (5, 5, 64, 128)], (7 * 7 * 128, 1)
    else:
        strided, head = [(4, 4, 1, 64), (4, 4, 64, 128), (4, 4, 128, 256), (4, 4, 256, 512)], (4, 4, 512, 1)
    expected = []
    for k in strided:
        expected += [k] + [(3, 3, k[3], k[3])] * depth
    assert kernels == expected + [head]
    if disc is models.DCGANDiscriminator:  # every conv but the very first is batch-normalized
        assert sum(name.startswith("BatchOnlyNorm") for name in params) == len(expected) - 1
    logits = disc(depth=depth).apply(variables, x, train=True, rngs={"dropout": jax.random.key(2)})
    assert logits.shape == (2,) and logits.dtype == jnp.float32 and np.isfinite(logits).all()


@pytest.mark.parametrize("depth", [1, 2])
@pytest.mark.parametrize("gen,side", [(models.Generator, 28), (models.DCGANGenerator, 64)])
def test_generator_depth_adds_normalized_3x3_convs_after_each_inner_transposed_one(gen, side, depth):
    """``depth`` batch-normalized convs of 3x3, stride 1 and the stage's width follow each transposed conv
    but the last; the images keep their shape and range, and the batch statistics cover the added convs."""
    z = jax.random.normal(jax.random.key(1), (3, 100))
    variables = gen(depth=depth).init(jax.random.key(0), z, train=False)
    params = variables["params"]
    kernels = [p["kernel"].shape for p in params.values() if "kernel" in p]
    if gen is models.Generator:
        first, inner, last = (100, 7 * 7 * 256), [(5, 5, 256, 128), (5, 5, 128, 64)], (5, 5, 64, 1)
    else:
        first, inner = (100, 4 * 4 * 512), [(4, 4, 512, 256), (4, 4, 256, 128), (4, 4, 128, 64)]
        last = (4, 4, 64, 1)
    expected = [first]
    for k in inner:
        expected += [k] + [(3, 3, k[3], k[3])] * depth
    assert kernels == expected + [last]
    norms = [name for name in params if name.startswith("BatchNorm")]
    assert len(norms) == len(expected) and sorted(variables["batch_stats"]) == sorted(norms)
    images, updates = gen(depth=depth).apply(variables, z, train=True, mutable=["batch_stats"])
    assert images.shape == (3, side, side, 1) and images.dtype == jnp.float32
    assert np.isfinite(images).all() and np.abs(images).max() <= 1
    for name in norms:  # every norm, the added ones too, saw this batch
        assert not np.array_equal(updates["batch_stats"][name]["mean"], variables["batch_stats"][name]["mean"])


@pytest.mark.parametrize("disc,side", [(models.Discriminator, 28), (models.DCGANDiscriminator, 64)])
def test_spectral_norm_divides_every_kernel_by_its_power_iteration_estimate(disc, side):
    """With ``spectral_norm`` D is the plain D whose every kernel, as a ``[fan_in, features]`` matrix
    W, is divided by sigma = v W u' (one power iteration from the stored u: v = u W^T / |.|,
    u' = v W / |.|); biases and batch-norm scales are left alone. A training call stores u' and sigma."""
    x = jax.random.normal(jax.random.key(1), (3, side, side, 1))
    variables = disc(spectral_norm=True).init(jax.random.key(0), x[:1], train=False)
    params, stats = variables["params"], variables["batch_stats"]
    kernels = [name for name, p in params.items() if "kernel" in p]
    assert sorted(f"{name}/kernel/u" for name in kernels) == sorted(k for s in stats.values() for k in s if "/u" in k)
    u_of = {k[: -len("/kernel/u")]: u for s in stats.values() for k, u in s.items() if k.endswith("/u")}

    def one_iteration(name):
        w = np.asarray(params[name]["kernel"], np.float64)
        w = w.reshape(-1, w.shape[-1])  # [fan_in, features]
        v = np.asarray(u_of[name], np.float64) @ w.T
        v /= np.linalg.norm(v)
        u = v @ w
        u /= np.linalg.norm(u)
        return (v @ w @ u.T).item(), u

    normalized = {name: {**p} for name, p in params.items()}
    for name in kernels:
        normalized[name]["kernel"] = params[name]["kernel"] / one_iteration(name)[0]
    sn_logits = disc(spectral_norm=True).apply(variables, x, train=False)
    plain_logits = disc().apply({"params": normalized}, x, train=False)
    np.testing.assert_allclose(sn_logits, plain_logits, rtol=1e-4, atol=1e-5)

    rngs = {"dropout": jax.random.key(2)}
    _, updated = disc(spectral_norm=True).apply(variables, x, train=True, rngs=rngs, mutable=["batch_stats"])
    for s in updated["batch_stats"].values():
        for key, value in s.items():
            sigma, u = one_iteration(key.split("/")[0])
            expected = sigma if key.endswith("/sigma") else u
            np.testing.assert_allclose(value, expected, rtol=1e-4, atol=1e-6)


def test_shapes_and_range(gen_vars, disc_vars):
    z = jax.random.normal(jax.random.key(1), (5, 100))
    images = models.Generator().apply(gen_vars, z, train=False)
    assert images.shape == (5, 28, 28, 1)
    assert float(jnp.abs(images).max()) <= 1.0
    logits = models.Discriminator().apply(disc_vars, images, train=False)
    assert logits.shape == (5,)


@pytest.mark.parametrize(
    "x_shape,k_shape,strides",
    [
        ((3, 7, 7, 16), (5, 5, 16, 8), (1, 1)),
        ((3, 7, 7, 16), (5, 5, 16, 8), (2, 2)),
        ((2, 14, 14, 4), (5, 5, 4, 1), (2, 2)),
        ((20, 7, 7, 16), (5, 5, 16, 8), (2, 2)),  # in pieces of 8, 8 and 4 images on CPUs
    ],
)
def test_conv_transpose_matches_lax_and_its_gradients(x_shape, k_shape, strides):
    kx, kk, kg = jax.random.split(jax.random.key(0), 3)
    x, kernel = jax.random.normal(kx, x_shape), jax.random.normal(kk, k_shape)

    def ref(x, k):
        return lax.conv_transpose(x, k, strides, "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))

    y = models.conv_transpose(x, kernel, strides)
    np.testing.assert_array_equal(y, ref(x, kernel))
    assert y.shape == (x_shape[0], x_shape[1] * strides[0], x_shape[2] * strides[1], k_shape[3])
    g = jax.random.normal(kg, y.shape)
    ours = jax.grad(lambda x, k: jnp.sum(models.conv_transpose(x, k, strides) * g), (0, 1))(x, kernel)
    theirs = jax.grad(lambda x, k: jnp.sum(ref(x, k) * g), (0, 1))(x, kernel)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize(
    "x_shape,k_shape,strides,padding",
    [
        ((20, 7, 7, 6), (5, 5, 6, 4), (1, 1), "SAME"),
        ((20, 28, 28, 1), (5, 5, 1, 3), (2, 2), "SAME"),
        ((20, 14, 14, 3), (5, 5, 3, 4), (2, 2), "SAME"),
        ((20, 16, 16, 3), (4, 4, 3, 5), (2, 2), ((1, 1), (1, 1))),  # the Radford discriminator's
        ((2, 4, 4, 3), (4, 4, 3, 1), (1, 1), "VALID"),  # its last conv
        ((20, 8, 8, 3), (3, 3, 3, 2), (2, 2), "VALID"),  # the last input row unused
        ((2, 7, 9, 3), (5, 3, 3, 2), (2, 3), "SAME"),
    ],
)
def test_conv_and_both_its_gradients_equal_lax_bit_for_bit(x_shape, k_shape, strides, padding):
    # The explicit CPU gradients are the convolutions XLA:CPU makes of autodiff's outside a loop; a
    # strided conv's input gradient runs in pieces of the batch (batch 20: 8, 8 and 4 images).
    kx, kk, kg = jax.random.split(jax.random.key(0), 3)
    x, kernel = jax.random.normal(kx, x_shape), jax.random.normal(kk, k_shape)

    def ref(x, k):
        return lax.conv_general_dilated(x, k, strides, padding, dimension_numbers=("NHWC", "HWIO", "NHWC"))

    y = jax.jit(lambda x, k: models.conv(x, k, strides, padding))(x, kernel)
    np.testing.assert_array_equal(y, ref(x, kernel))
    g = jax.random.normal(kg, y.shape)
    ours = jax.jit(jax.grad(lambda x, k: jnp.sum(models.conv(x, k, strides, padding) * g), (0, 1)))(x, kernel)
    theirs = jax.jit(jax.grad(lambda x, k: jnp.sum(ref(x, k) * g), (0, 1)))(x, kernel)
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("kwargs", [{}, {"strides": (2, 2), "padding": ((1, 1), (1, 1)), "use_bias": False}])
def test_conv_module_matches_flax(kwargs):
    x = jax.random.normal(jax.random.key(0), (2, 9, 9, 3))
    flax_conv = nn.Conv(4, (5, 5), **kwargs)
    params = flax_conv.init(jax.random.key(1), x)
    ours = models.Conv(4, (5, 5), **kwargs)
    assert_trees_equal(ours.init(jax.random.key(1), x), params)  # same names, shapes and initial values
    np.testing.assert_array_equal(ours.apply(params, x), flax_conv.apply(params, x))


def test_conv_transpose_module_matches_flax():
    x = jax.random.normal(jax.random.key(0), (2, 7, 7, 8))
    flax_ct = nn.ConvTranspose(4, (5, 5), (2, 2), use_bias=False)
    params = flax_ct.init(jax.random.key(1), x)
    ours = models.ConvTranspose(4, (5, 5), (2, 2)).apply(params, x)
    np.testing.assert_array_equal(ours, flax_ct.apply(params, x))


def test_generator_gradients_match_the_flax_conv_transpose(gen_vars):
    z = jax.random.normal(jax.random.key(2), (4, 100))

    def loss(params, fast):
        out, _ = models.Generator(fast_conv_transpose=fast).apply(
            {"params": params, "batch_stats": gen_vars["batch_stats"]}, z, train=True, mutable=["batch_stats"]
        )
        return jnp.sum(out**2)

    fast = jax.grad(loss)(gen_vars["params"], True)
    slow = jax.grad(loss)(gen_vars["params"], False)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-5), fast, slow)


def test_dropout_is_active_only_in_training(disc_vars):
    x = jax.random.normal(jax.random.key(3), (2, 28, 28, 1))
    d = models.Discriminator()
    a = d.apply(disc_vars, x, train=True, rngs={"dropout": jax.random.key(0)})
    b = d.apply(disc_vars, x, train=True, rngs={"dropout": jax.random.key(1)})
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(d.apply(disc_vars, x, train=False), d.apply(disc_vars, x, train=False))


def test_dropout_drops_what_flaxs_drops_bit_for_bit(disc_vars, monkeypatch):
    """The faster masks leave every run as it was: the logits and their gradients equal Flax's Dropout's."""
    x = jax.random.normal(jax.random.key(3), (8, 28, 28, 1))

    def logits_and_grads():
        def loss(params, x):
            rngs = {"dropout": jax.random.key(7)}
            logits = models.Discriminator().apply({"params": params}, x, train=True, rngs=rngs)
            return jnp.sum(logits * jnp.arange(8.0)), logits

        return jax.jit(jax.grad(loss, argnums=(0, 1), has_aux=True))(disc_vars["params"], x)

    ours = logits_and_grads()
    monkeypatch.setattr(models, "Dropout", nn.Dropout)
    assert_trees_equal(ours, logits_and_grads())


@pytest.mark.parametrize("dtype", [jnp.float32, jnp.bfloat16])
def test_add_bias_sums_16_bit_bias_gradients_as_a_product(dtype):
    """The bias gradient is the cotangent's sum either way; in bfloat16 it is a dot (XLA:CPU's sum was slow)."""
    y = jax.random.normal(jax.random.key(0), (4, 7, 7, 32), dtype)
    bias = jax.random.normal(jax.random.key(1), (32,), dtype)
    w = jax.random.normal(jax.random.key(2), y.shape, dtype)

    def loss(add):
        return lambda y, bias: jnp.sum((add(y, bias) * w).astype(jnp.float32))

    grads = jax.grad(loss(models.add_bias), argnums=(0, 1))
    ours, plain = grads(y, bias), jax.grad(loss(jnp.add), argnums=(0, 1))(y, bias)
    np.testing.assert_array_equal(ours[0], plain[0])
    assert ours[1].dtype == dtype
    exact = np.float32(w).sum(axis=(0, 1, 2))  # the cotangent is w
    tolerance = {"rtol": 2**-8} if dtype == jnp.bfloat16 else {"rtol": 1e-6, "atol": 1e-5}  # float32: the order
    np.testing.assert_allclose(np.float32(ours[1]), exact, **tolerance)
    assert ("dot_general" in str(jax.make_jaxpr(grads)(y, bias))) == (dtype == jnp.bfloat16)


@pytest.mark.parametrize("rate", [0.0, 0.3, 1.0])
def test_dropout_keeps_the_expected_share_and_scales_it(rate):
    x, rngs = jnp.ones((100_000,)), {"dropout": jax.random.key(0)}

    def dropout(x):
        return models.Dropout(rate).apply({}, x, deterministic=False, rngs=rngs)

    y = dropout(x)
    kept = y != 0
    assert abs(float(kept.mean()) - (1 - rate)) < 0.005
    np.testing.assert_allclose(y[kept], np.float32(1) / np.float32(1 - rate) if rate < 1 else [])
    assert np.isfinite(jax.grad(lambda x: dropout(x).sum())(x)).all()
    np.testing.assert_array_equal(models.Dropout(rate).apply({}, x, deterministic=True), x)


@pytest.mark.parametrize(
    "size,gen_params",
    [
        # G: dense 100 -> 4*4*512, BN; ConvT 4x4 512->256->128->64 with BN, ->1; no biases.
        (64, 100 * 16 * 512 + 16 * (512 * 256 + 256 * 128 + 128 * 64 + 64) + 2 * (512 + 256 + 128 + 64)),
        (128, 100 * 16 * 1024 + 16 * (1024 * 512 + 512 * 256 + 256 * 128 + 128 * 64 + 64)
         + 2 * (1024 + 512 + 256 + 128 + 64)),
    ],
)  # fmt: skip
def test_radford_dcgan_shapes_and_parameter_counts(size, gen_params):
    gen, disc = models.DCGANGenerator(size=size), models.DCGANDiscriminator()
    z = jax.random.normal(jax.random.key(0), (2, 100))
    g_vars = gen.init(jax.random.key(1), z, train=False)
    images = gen.apply(g_vars, z, train=False)
    assert images.shape == (2, size, size, 1) and float(jnp.abs(images).max()) <= 1.0
    d_vars = disc.init(jax.random.key(2), images, train=False)
    assert disc.apply(d_vars, images, train=False).shape == (2,)
    assert count(g_vars["params"]) == gen_params
    # D: Conv 4x4 s2 1->64 (no BN), then 64->128->...->512 (or 1024) with BN, then a 4x4 valid conv to 1 logit.
    widths = [64 * 2**i for i in range({64: 4, 128: 5}[size])]
    convs = 16 * (1 * 64 + sum(a * b for a, b in zip(widths, widths[1:], strict=False)))
    expected_disc = convs + 2 * sum(widths[1:]) + 16 * widths[-1] + 1
    assert count(d_vars["params"]) == expected_disc
    kernel = np.asarray(g_vars["params"]["ConvTranspose_0"]["kernel"])
    assert abs(kernel.std() - 0.02) < 0.002  # N(0, 0.02) initialization


def test_conditional_networks_add_exactly_the_label_embeddings():
    z, x, labels = jnp.zeros((2, 100)), jnp.zeros((2, 28, 28, 1)), jnp.array([3, 7])
    plain_g = models.Generator().init(jax.random.key(0), z, train=False)["params"]
    cond_g = models.Generator(num_classes=10).init(jax.random.key(0), z, train=False, labels=labels)["params"]
    # G: a 10 x 50 embedding, and its first layer reads 100 + 50 inputs.
    assert cond_g["label_embed"]["embedding"].shape == (10, models.LABEL_EMBED_DIM)
    assert cond_g["Dense_0"]["kernel"].shape == (100 + models.LABEL_EMBED_DIM, 7 * 7 * 256)
    assert count(cond_g) - count(plain_g) == 10 * 50 + 50 * 7 * 7 * 256
    plain_d = models.Discriminator().init(jax.random.key(0), x, train=False)["params"]
    cond_d = models.Discriminator(num_classes=10).init(jax.random.key(0), x, train=False, labels=labels)["params"]
    # D: its first 5x5 conv to 64 channels reads 10 label planes more.
    assert count(cond_d) - count(plain_d) == 5 * 5 * 10 * 64


@pytest.mark.parametrize("gen_cls, disc_cls, size", [
    (models.Generator, models.Discriminator, 28),
    (partial(models.DCGANGenerator, size=64, width=8), partial(models.DCGANDiscriminator, width=8), 64),
])  # fmt: skip
def test_conditional_outputs_depend_on_the_class(gen_cls, disc_cls, size):
    gen, disc = gen_cls(num_classes=10), disc_cls(num_classes=10)
    z = jnp.tile(jax.random.normal(jax.random.key(1), (1, 100)), (2, 1))  # the same noise twice
    labels = jnp.array([0, 9])
    g_vars = gen.init(jax.random.key(0), z, train=False, labels=labels)
    images = gen.apply(g_vars, z, train=False, labels=labels)
    assert images.shape == (2, size, size, 1)
    assert not np.allclose(images[0], images[1])  # same noise, other class: another image
    d_vars = disc.init(jax.random.key(0), images, train=False, labels=labels)
    same = jnp.tile(images[:1], (2, 1, 1, 1))
    logits = disc.apply(d_vars, same, train=False, labels=labels)
    assert logits.shape == (2,) and logits[0] != logits[1]  # same image, other class: another logit


def test_labels_must_match_the_network():
    z = jnp.zeros((2, 100))
    with pytest.raises(ValueError, match="labels"):
        models.Generator(num_classes=10).init(jax.random.key(0), z, train=False)
    with pytest.raises(ValueError, match="labels"):
        models.Discriminator().init(jax.random.key(0), jnp.zeros((2, 28, 28, 1)), train=False, labels=jnp.zeros(2))


@pytest.mark.parametrize(
    "disc,shape",
    [(models.Discriminator(dropout_rate=0.0), (4, 28, 28, 1)), (models.DCGANDiscriminator(width=8), (4, 64, 64, 1))],
)
def test_gradient_penalty_differentiates_through_conv_as_through_flax(disc, shape, monkeypatch):
    # WGAN-GP's parameter gradient is a second derivative: it differentiates models.conv's backward pass.
    real, fake = (jax.random.uniform(jax.random.key(i), shape, minval=-1, maxval=1) for i in (1, 2))

    def penalty_grads():
        params = disc.init(jax.random.key(0), real, train=False)["params"]

        def penalty(params):
            critic = lambda x: disc.apply({"params": params}, x, train=True)  # noqa: E731
            return losses.gradient_penalty(critic, real, fake, jax.random.key(3))

        return jax.jit(jax.grad(penalty))(params)

    ours = penalty_grads()
    monkeypatch.setattr(models, "Conv", nn.Conv)  # the same parameters, Flax's layer
    flax = penalty_grads()
    kernels = [k for path, k in jax.tree_util.tree_leaves_with_path(flax) if "kernel" in jax.tree_util.keystr(path)]
    assert len(kernels) >= 3 and all(np.abs(k).max() > 0 for k in kernels)  # (the last bias gets none)
    for a, b in zip(jax.tree.leaves(ours), jax.tree.leaves(flax), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
