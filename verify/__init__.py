"""gatecalc verification: checks generated code numerically and reports the results."""
