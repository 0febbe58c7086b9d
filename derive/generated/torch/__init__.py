"""Generated PyTorch modules of the built-in cells (python -m derive regen)."""
