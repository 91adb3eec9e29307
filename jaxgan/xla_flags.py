"""XLA flags: XLA's own convolutions instead of YNNPACK's; a serial schedule beside oneDNN's; GPU determinism.

jaxlib 0.10's XLA:CPU hands every convolution to YNNPACK by default. For these
networks, on the 2-core AVX2 development machine, XLA's own (Eigen) convolutions
are faster: the tutorial DCGAN's training step 1.4x, the Radford 64x64 step
1.25x, the FID Inception network 2.5x (``benchmarks/cpu_convolutions.py``,
``BENCHMARKS.md``). The flag concerns the CPU backend only: GPU and TPU programs
do not change. The option exists in the pinned jaxlib 0.10.2 and in 0.11.2 (the
GPU runs' version); XLA refuses to start on a flag it does not know, so check it
when upgrading.

XLA reads ``XLA_FLAGS`` once, when JAX first compiles or computes, so
:func:`use_xla_cpu_convolutions` must run before that: the ``experiments``
package calls it when imported, and a script of your own can do the same.
Arithmetic differs in the last bits between the two kinds of convolution, so a
run and its resumption should use the same (a run only ever compares with runs
of the same settings).
"""

import os

YNN_FUSIONS = "xla_cpu_experimental_ynn_fusion_type"
XLA_CPU_CONVOLUTIONS = f"--{YNN_FUSIONS}=-individual_convolution"


def use_xla_cpu_convolutions() -> None:
    """Adds :data:`XLA_CPU_CONVOLUTIONS` to ``XLA_FLAGS``, unless they already choose YNNPACK's fusions.

    To keep YNNPACK's convolutions, set
    ``XLA_FLAGS=--xla_cpu_experimental_ynn_fusion_type=+individual_convolution``.
    """
    _add(YNN_FUSIONS, XLA_CPU_CONVOLUTIONS)


def _add(option: str, flag: str) -> None:
    """Appends ``flag`` to ``XLA_FLAGS`` unless they already set ``option`` (a user's choice stands)."""
    flags = os.environ.get("XLA_FLAGS", "")
    if option not in flags:
        os.environ["XLA_FLAGS"] = f"{flags} {flag}".strip()


SCHEDULER = "xla_cpu_enable_concurrency_optimized_scheduler"
SERIAL_SCHEDULE = f"--{SCHEDULER}=false"


def use_serial_schedule() -> None:
    """Adds :data:`SERIAL_SCHEDULE` to ``XLA_FLAGS``: for ``--convolutions onednn``.

    XLA:CPU's default scheduler orders a program so that independent work can
    run side by side on its threads. Beside a oneDNN convolution, whose OpenMP
    threads already use every core, that work takes cores from it: the
    bfloat16 + oneDNN step ran 1.32x faster at batch 64 with the serial
    schedule, 1.09x and 1.02x at 128 and 256 (``benchmarks/step_variants.py``).
    XLA's own convolutions are better off with the concurrent one (the float32
    step ran 3-4% slower without it), so it stays the default. The schedule
    changes the order of the work, never its arithmetic: both give the same
    bits (a test). Like every flag here it must be set before JAX starts its
    backend; ``fashion_dcgan.train`` does so.
    """
    _add(SCHEDULER, SERIAL_SCHEDULE)


GPU_DETERMINISM = "xla_gpu_deterministic_ops"
DETERMINISTIC_GPU_OPS = f"--{GPU_DETERMINISM}=true"


def use_deterministic_gpu_ops() -> None:
    """Adds :data:`DETERMINISTIC_GPU_OPS` to ``XLA_FLAGS``: GPU runs of one command then compute the same bits.

    Without it XLA:GPU and cuDNN pick some reductions and convolution gradients
    whose float sums run in a varying order, and a GAN amplifies the last-bit
    differences: two runs of the default recipe on an H200 ended 50 epochs at
    FCD 105.5 and 77.6. With it, three runs agreed record for record, at 9-15%
    of the epochs' time (BENCHMARKS.md, "One H200: deterministic by default").
    CPU and TPU programs do not change. To trade the guarantee for the speed,
    set ``XLA_FLAGS=--xla_gpu_deterministic_ops=false``.
    """
    _add(GPU_DETERMINISM, DETERMINISTIC_GPU_OPS)
