"""gatecalc's derivation side: cell spec -> symbolic cell -> derivation -> (NumPy code, LaTeX)."""

__version__ = "0.1.0"
