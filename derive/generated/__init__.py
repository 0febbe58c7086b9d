"""Generated modules of the built-in cells (python -m derive regen). Do not edit."""
