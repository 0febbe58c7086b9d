"""Generating the torch target needs no torch: its printer covers every building block, and a
parameter that would clash with an attribute of the torch Cell is refused with one line."""

import pytest

from derive.ad.blocks import BLOCKS
from derive.errors import GenerationError, SpecError
from derive.io import pipeline
from derive.targets.torch.module import generate_module
from derive.targets.torch.printer import FUNCTIONS, FUNCTIONS_OUT


def test_every_building_block_has_a_torch_call():
    assert set(FUNCTIONS) == set(FUNCTIONS_OUT) == set(BLOCKS)
    assert all("{a}" in call for call in FUNCTIONS.values())
    assert all("out={out}" in call for call in FUNCTIONS_OUT.values())


@pytest.mark.parametrize("name", ["train", "batch_first"])
def test_a_parameter_named_like_a_cell_attribute_is_refused(write_spec, name):
    text = (pipeline.CELLS / "lstm.toml").read_text("utf-8").replace("b_o", name)
    spec = write_spec(text, "odd.toml")
    with pytest.raises(GenerationError, match=f"parameter '{name}' cannot be an attribute"):
        generate_module(pipeline.derivation_of(spec))


@pytest.mark.parametrize("name", ["forward", "hidden_size", "recompute"])
def test_a_parameter_named_like_a_module_name_is_refused_by_the_spec_check(write_spec, name):
    """Names every target's module binds are refused earlier, by the spec's one check."""
    text = (pipeline.CELLS / "lstm.toml").read_text("utf-8").replace("b_o", name)
    spec = write_spec(text, "odd.toml")
    with pytest.raises(SpecError, match=f"parameter '{name}' is reserved by the generated code"):
        pipeline.derivation_of(spec)
