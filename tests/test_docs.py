"""The documentation's code runs as written."""

import re

import pytest

from tests.conftest import REPO


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.DOTALL)


@pytest.mark.parametrize("page", ["docs/research_variants.md"])
def test_code_blocks_run(page, capsys):
    blocks = python_blocks(REPO / page)
    assert len(blocks) >= 2
    namespace = {}
    for block in blocks:  # one namespace: later blocks use what earlier ones defined
        exec(compile(block, page, "exec"), namespace)
    assert "disc/loss" in capsys.readouterr().out
