"""The experiments: short scripts over jaxgan, each a frozen config whose fields are its flags.

Importing the package (``python -m experiments.X`` does) sets XLA:CPU's
convolutions before JAX computes anything: see :mod:`jaxgan.xla_flags`.
"""

from jaxgan import xla_flags

xla_flags.use_xla_cpu_convolutions()
