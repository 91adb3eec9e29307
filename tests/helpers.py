"""Leaf-by-leaf comparisons of pytrees that may hold typed PRNG keys."""

import jax
import numpy as np


def raw(x):
    """Key arrays as their uint32 data; other arrays as they are."""
    return jax.random.key_data(x) if jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key) else x


def assert_trees_equal(a, b) -> None:
    """Same structure, same dtypes, same bits, leaf by leaf (the message names the leaf)."""
    leaves_a, leaves_b = jax.tree.leaves_with_path(a), jax.tree.leaves_with_path(b)
    assert [p for p, _ in leaves_a] == [p for p, _ in leaves_b]
    for (path, x), (_, y) in zip(leaves_a, leaves_b, strict=True):
        assert x.dtype == y.dtype, path
        np.testing.assert_array_equal(raw(x), raw(y), err_msg=jax.tree_util.keystr(path))


def changed_leaves(a, b) -> list[bool]:
    """For each leaf, whether it differs between ``a`` and ``b``."""
    pairs = zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True)
    return [not np.array_equal(raw(x), raw(y)) for x, y in pairs]
