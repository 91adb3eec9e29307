"""bfloat16 on an AMX / AVX-512-BF16 CPU: XLA's matrix products use it, its convolutions do not.

    python benchmarks/cpu_bf16.py [--repeats 7] [--json out.json]

Times, each compiled alone (medians, the programs taking turns; ``transposed_conv.timed``):

- a 2048³ matrix product, float32 and bfloat16 (float32 accumulation and
  output, ``preferred_element_type``);
- the tutorial step's largest layer, G's 256→128 5x5 stride-1 transposed
  convolution on 7x7 maps at batch 64 (a 'SAME' convolution with the kernel
  flipped), as XLA's convolution in float32 and bfloat16, and as its patches
  (the 25 shifted windows side by side, ``[B, 7, 7, 6400]``) times the
  ``[6400, 128]`` kernel: the patches alone, the product alone, and both.

The patches are moved as 16-bit integers: XLA:CPU otherwise converts each
bfloat16 window to float32 and back. On an AVX2-only CPU the bfloat16
product has no hardware to run on, and this says so in its numbers.
"""

import argparse
import json
import sys
from pathlib import Path

from jaxgan import xla_flags

xla_flags.use_xla_cpu_convolutions()

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
from jax import lax  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_step import machine  # noqa: E402
from transposed_conv import timed  # noqa: E402

BATCH, SIDE, CIN, COUT, K = 64, 7, 256, 128, 5
PADS = ((K // 2, K // 2), (K // 2, K // 2))


def patches(x: jax.Array) -> jax.Array:
    """``[B, H, W, C]`` -> ``[B, H, W, K*K*C]``: the 'SAME' windows of every output position."""
    x = jnp.pad(x, ((0, 0), *PADS, (0, 0)))
    return jnp.concatenate([x[:, a : a + SIDE, b : b + SIDE] for a in range(K) for b in range(K)], -1)


def bf16_patches(x: jax.Array) -> jax.Array:
    """:func:`patches` of a bfloat16 map, moved as uint16 (the same bits)."""
    return lax.bitcast_convert_type(patches(lax.bitcast_convert_type(x, jnp.uint16)), jnp.bfloat16)


def float32_out_dot(a: jax.Array, b: jax.Array) -> jax.Array:
    return jnp.dot(a, b, preferred_element_type=jnp.float32)


def product(p: jax.Array, kernel: jax.Array) -> jax.Array:
    """``[B*H*W, K*K*C] @ [K*K*C, O]``, float32 out."""
    return float32_out_dot(p.reshape(-1, K * K * CIN), kernel.reshape(-1, COUT))


def conv(x: jax.Array, kernel: jax.Array) -> jax.Array:
    return lax.conv_general_dilated(x, kernel, (1, 1), PADS, dimension_numbers=("NHWC", "HWIO", "NHWC"))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--json", default="")
    args = parser.parse_args()

    key_x, key_k = jax.random.split(jax.random.key(0))
    x = jax.random.normal(key_x, (BATCH, SIDE, SIDE, CIN))  # [B, H, W, C]
    kernel = jax.random.normal(key_k, (K, K, CIN, COUT)) / np.sqrt(K * K * CIN)
    xb, kb = x.astype(jnp.bfloat16), kernel.astype(jnp.bfloat16)
    n = 2048
    a32 = jnp.ones((n, n))
    layer_flops = 2 * BATCH * SIDE * SIDE * K * K * CIN * COUT  # every tap, the padding's too
    programs = {  # name -> (function, arguments, FLOPs)
        "matmul 2048³ float32": (jnp.dot, (a32, a32), 2 * n**3),
        "matmul 2048³ bfloat16": (float32_out_dot, (a32.astype(jnp.bfloat16),) * 2, 2 * n**3),
        "layer: XLA conv float32": (conv, (x, kernel), layer_flops),
        "layer: XLA conv bfloat16": (conv, (xb, kb), layer_flops),
        "layer: bfloat16 patches alone": (bf16_patches, (xb,), 0),
        "layer: bfloat16 product alone": (product, (bf16_patches(xb), kb), layer_flops),
        "layer: bfloat16 patches x product": (lambda x, k: product(bf16_patches(x), k), (xb, kb), layer_flops),
    }
    compiled = {name: jax.jit(fn).lower(*a).compile() for name, (fn, a, _) in programs.items()}
    inputs = {name: a for name, (_, a, _) in programs.items()}
    for name, fn in compiled.items():
        jax.block_until_ready(fn(*inputs[name]))
    seconds, _ = timed(compiled, inputs, args.repeats, calls=1)
    reference = conv(x, kernel)
    via_patches = product(bf16_patches(xb), kb).reshape(reference.shape)
    error = float(jnp.max(jnp.abs(via_patches - reference)) / jnp.max(jnp.abs(reference)))

    results = {"machine": machine(), "jax": jax.__version__, "patches_max_rel_error": error, "programs": {}}
    print(results["machine"])
    for name, (_, _, flops) in programs.items():
        ms = seconds[name] * 1e3
        gflops = flops / ms / 1e6 if flops else None
        results["programs"][name] = {"ms": ms, "gflops": gflops}
        print(f"  {name:<36} {ms:8.2f} ms" + (f"  {gflops:6.0f} GFLOP/s" if gflops else ""))
    print(f"bfloat16 patches x product vs the float32 convolution: max relative error {error:.1e}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return results


if __name__ == "__main__":
    main()
