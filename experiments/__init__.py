"""The experiments: short scripts over jaxgan, each a frozen config whose fields are its flags.

Importing the package (``python -m experiments.X`` does) sets JAX up before it
computes anything:

- XLA:CPU's own convolutions instead of YNNPACK's, and deterministic GPU programs
  (:mod:`jaxgan.xla_flags`), so that two GPU runs of one command agree bit for bit;
- a persistent compilation cache in ``~/.cache/jaxgan/xla`` (in ``JAXGAN_CACHE_DIR``
  when set, beside the FID statistics; at most 2 GB, the
  least recently used programs dropped first), so that a resumed or repeated run
  loads its compiled programs instead of compiling them again (BENCHMARKS.md,
  "Start-up"). ``JAX_COMPILATION_CACHE_DIR`` picks another folder and
  ``JAX_ENABLE_COMPILATION_CACHE=false`` turns it off. Executables from the cache
  compute the same bits as freshly compiled ones (the resume tests run from it).
"""

import jax

from jaxgan import files, xla_flags

xla_flags.use_xla_cpu_convolutions()
xla_flags.use_deterministic_gpu_ops()
if jax.config.jax_compilation_cache_dir is None:
    jax.config.update("jax_compilation_cache_dir", str(files.cache_dir() / "xla"))
    jax.config.update("jax_compilation_cache_max_size", 2 * 1024**3)
