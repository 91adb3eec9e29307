import os
import subprocess
import sys

import pytest

from jaxgan import xla_flags
from tests.conftest import REPO

CONV = (
    "import jax, jax.numpy as jnp; "
    "conv = lambda x, k: jax.lax.conv_general_dilated(x, k, (1, 1), 'SAME', "
    "dimension_numbers=('NHWC', 'HWIO', 'NHWC')); "
    "hlo = jax.jit(conv).lower(jnp.ones((8, 7, 7, 64)), jnp.ones((5, 5, 64, 32))).compile().as_text(); "
    "print('__ynn_fusion' in hlo)"
)


def test_the_flag_joins_other_flags_once_and_leaves_a_users_choice(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    xla_flags.use_xla_cpu_convolutions()
    assert os.environ["XLA_FLAGS"] == xla_flags.XLA_CPU_CONVOLUTIONS
    monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
    xla_flags.use_xla_cpu_convolutions()
    xla_flags.use_xla_cpu_convolutions()
    assert os.environ["XLA_FLAGS"] == f"--xla_force_host_platform_device_count=8 {xla_flags.XLA_CPU_CONVOLUTIONS}"
    mine = "--xla_cpu_experimental_ynn_fusion_type=+individual_convolution"
    monkeypatch.setenv("XLA_FLAGS", mine)
    xla_flags.use_xla_cpu_convolutions()
    assert os.environ["XLA_FLAGS"] == mine


@pytest.mark.parametrize(
    "use,flag,option",
    [
        (xla_flags.use_serial_schedule, xla_flags.SERIAL_SCHEDULE, xla_flags.SCHEDULER),
        (xla_flags.use_deterministic_gpu_ops, xla_flags.DETERMINISTIC_GPU_OPS, xla_flags.GPU_DETERMINISM),
    ],
)
def test_a_flag_joins_other_flags_once_and_leaves_a_users_choice(monkeypatch, use, flag, option):
    monkeypatch.setenv("XLA_FLAGS", xla_flags.XLA_CPU_CONVOLUTIONS)
    use()
    use()
    assert os.environ["XLA_FLAGS"] == f"{xla_flags.XLA_CPU_CONVOLUTIONS} {flag}"
    mine = f"--{option}={'false' if flag.endswith('true') else 'true'}"
    monkeypatch.setenv("XLA_FLAGS", mine)
    use()
    assert os.environ["XLA_FLAGS"] == mine


def python_stdout(code: str, **env: str) -> list[str]:
    """The words a fresh interpreter prints for ``code``, with the experiments' JAX settings left unset."""
    unset = ("XLA_FLAGS", "JAX_COMPILATION_CACHE_DIR", "JAXGAN_CACHE_DIR")
    env = {**{k: v for k, v in os.environ.items() if k not in unset}, **env}
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_the_experiments_keep_compiled_programs_in_a_persistent_cache(tmp_path):
    code = (
        "import experiments, jax, jax.numpy as jnp; jax.jit(lambda x: x * 2)(jnp.ones(3)).block_until_ready(); "
        "print(jax.config.jax_compilation_cache_dir, jax.config.jax_compilation_cache_max_size)"
    )
    tiny = {"JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}  # cache even this tiny program
    default = tmp_path / ".cache" / "jaxgan" / "xla"
    assert python_stdout(code, HOME=str(tmp_path), **tiny) == [str(default), str(2 * 1024**3)]
    assert any(default.iterdir()), "nothing was cached"
    moved = python_stdout(code, JAXGAN_CACHE_DIR=str(tmp_path / "jaxgan"), **tiny)
    assert moved == [str(tmp_path / "jaxgan" / "xla"), str(2 * 1024**3)]
    mine = python_stdout(code, JAX_COMPILATION_CACHE_DIR=str(tmp_path / "mine"), **tiny)
    assert mine == [str(tmp_path / "mine"), "-1"]


def test_the_experiments_compile_convolutions_with_xla_instead_of_ynnpack():
    assert python_stdout(CONV) == ["True"]  # jaxlib's default, which the flag turns off
    assert python_stdout("import experiments; " + CONV) == ["False"]


def test_the_experiments_ask_for_deterministic_gpu_programs():
    # XLA refuses to start on a flag it does not know: the computation checks this jaxlib takes it.
    code = "import experiments, jax.numpy as jnp, os; jnp.ones(3).block_until_ready(); print(os.environ['XLA_FLAGS'])"
    assert xla_flags.DETERMINISTIC_GPU_OPS in python_stdout(code)
