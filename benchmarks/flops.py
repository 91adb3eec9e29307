"""FLOPs of one training image of the DCGAN step, counted by hand, beside XLA's cost analysis.

    python benchmarks/flops.py

Each convolution's multiply-adds are the window taps that land inside the
(unpadded) input, times input and output channels; a transposed convolution
costs what its adjoint strided convolution does. For ``y = conv(x, K)`` the
input gradient and the kernel gradient each cost the forward's multiply-adds.
Which of them a step needs follows ``jaxgan.steps.train_step``: G's forward, D
on the real and the generated batch, then two backward passes (XLA drops what
neither uses): D's parameter gradients of its loss on both batches (no gradient
of the images), and G's parameter gradients of its loss, through D on the
generated batch (no gradient of D's parameters, nor of the noise).
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from throughput import jaxgan_runner  # noqa: E402


def taps(size: int, kernel: int, stride: int) -> int:
    """Window taps inside the input along one axis of a 'SAME' conv, summed over its outputs."""
    out = -(-size // stride)
    low = max((out - 1) * stride + kernel - size, 0) // 2
    return sum(sum(0 <= p * stride - low + a < size for a in range(kernel)) for p in range(out))


def conv_macs(size: int, kernel: int, stride: int, c_in: int, c_out: int) -> int:
    """Multiply-adds of a square 'SAME' conv on ``size x size`` (of a transposed conv: of its adjoint)."""
    return taps(size, kernel, stride) ** 2 * c_in * c_out


def count() -> dict[str, int]:
    """Multiply-adds per training image, by pass, of the TF-tutorial pair on 28x28x1."""
    g_dense = 100 * 7 * 7 * 256
    g_ct = [conv_macs(7, 5, 1, 128, 256), conv_macs(14, 5, 2, 64, 128), conv_macs(28, 5, 2, 1, 64)]
    d_conv = [conv_macs(28, 5, 2, 1, 64), conv_macs(14, 5, 2, 64, 128)]
    d_dense = 7 * 7 * 128
    d_forward = sum(d_conv) + d_dense
    return {
        "G forward": g_dense + sum(g_ct),
        "D forward, real and generated": 2 * d_forward,
        "D's gradients (kernels; inputs down to conv 2), both batches": 2 * (d_forward + d_conv[1] + d_dense),
        "G's gradients through D (inputs only)": d_dense + sum(d_conv),
        "G's gradients (kernels; inputs down to the dense layer)": g_dense + 2 * sum(g_ct),
    }


def xla_flops(batch_size: int = 64) -> float:
    """FLOPs per image of the compiled ``train_step`` (XLA's cost analysis: every op, Adam included)."""
    return jaxgan_runner(batch_size)[1]


def main() -> None:
    parts = count()
    for name, macs in parts.items():
        print(f"{2 * macs / 1e6:8.2f} MFLOP  {name}")
    total = 2 * sum(parts.values())
    xla = xla_flops()
    print(f"{total / 1e6:8.2f} MFLOP  counted (convolutions and dense layers)")
    print(f"{xla / 1e6:8.2f} MFLOP  XLA's cost analysis of the step at batch 64 (the rest: elementwise, Adam)")


if __name__ == "__main__":
    main()
