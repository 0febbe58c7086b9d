"""The built-in cell specs, as data."""
