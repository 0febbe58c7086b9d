"""Checked derivation steps: each rewrite a page displays is confirmed by SymPy when it is built.

For a local derivative ∂v/∂s the page shows two forms: SymPy's own derivative of the equation
written in built-ins (``sigmoid`` as 1/(1+e^{-a})), and the derivation's form in terms of cached
values (``i ⊙ (1 − i)``). They are shown as equal only after SymPy confirms it, with every name
expanded into its definition; an unconfirmed step raises ``UncheckedStep`` and no page is written.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import sympy

from derive.ad.adjoint import Derivation
from derive.ad.blocks import block_of, to_builtin


class UncheckedStep(Exception):
    pass


@dataclass(frozen=True)
class CheckedStep:
    target: str
    wrt: str
    builtin: sympy.Expr  # SymPy's derivative of the equation in built-in functions
    derived: sympy.Expr  # the derivation's form, over cached names


def checked_steps(derivation: Derivation) -> tuple[CheckedStep, ...]:
    """Every local derivative of the derivation, each confirmed equal to SymPy's own."""
    definitions = {sympy.Symbol(s.target): to_builtin(s.expr) for s in derivation.forward
                   if s.expr is not None and block_of(s.expr) is not None}
    steps = []
    for local in derivation.local_derivatives:
        statement = next(s for s in derivation.forward if s.target == local.target)
        wrt = sympy.Symbol(local.wrt)
        builtin = sympy.diff(to_builtin(statement.expr), wrt)
        if not _equal(builtin.xreplace(definitions), to_builtin(local.expr).xreplace(definitions)):
            raise UncheckedStep(f"d{local.target}/d{local.wrt}: SymPy could not confirm "
                                f"{builtin} = {local.expr}")
        steps.append(CheckedStep(local.target, local.wrt, builtin, local.expr))
    return tuple(steps)


@lru_cache(maxsize=None)
def _equal(a: sympy.Expr, b: sympy.Expr) -> bool:
    difference = a - b
    if difference == 0 or sympy.expand(difference) == 0:
        return True
    rewritten = sympy.cancel(sympy.together(difference.rewrite(sympy.exp)))
    return rewritten == 0 or sympy.simplify(difference) == 0
