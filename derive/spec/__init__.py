"""Spec text -> Cell: the TOML fields (``reader``) and the equation grammar (``equations``)."""

from derive.spec.reader import parse_spec, parse_spec_text, unused_params

__all__ = ["parse_spec", "parse_spec_text", "unused_params"]
