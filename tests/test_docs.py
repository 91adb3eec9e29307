"""The documentation's code runs as written."""

import dataclasses
import re

import pytest

from experiments import fashion_dcgan
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


def test_the_readme_lists_every_flag_of_the_trainer():
    """The README's "Flags" paragraph names each field of the trainer's config, and nothing else."""
    paragraph = re.search(r"Flags \(`--help`[^:]*: `(.*?)`\.", (REPO / "README.md").read_text(), re.DOTALL)
    listed = paragraph.group(1).split()
    expected = ["--" + f.name.replace("_", "-") for f in dataclasses.fields(fashion_dcgan.Config)]
    assert listed == expected
