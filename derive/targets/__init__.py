"""Code targets: name -> how to generate a module, where built-in cells' modules go, and the
pip extra the target needs. Adding a target is one ``register`` line below (plus its printer).

The generators are named by import path and imported only when used, so this module stays
cheap to import and a target whose extra is missing fails with one line naming the extra.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from derive.targets.bound import BOUND_NAMES  # noqa: F401  (re-exported for the spec's checks)
from derive.errors import UsageError


@dataclass(frozen=True)
class Target:
    name: str
    generator: str  # "package.module:function", the function maps a Derivation to source text
    folder: str  # where built-in cells' modules go, relative to derive/generated/ ("" : there)
    extra: str | None = None  # the pip extra the target needs (pip install -e '.[extra]')
    requires: tuple[str, ...] = ()  # modules that must import for the target to work

    def generate(self) -> Callable:
        missing = [name for name in self.requires if not _importable(name)]
        if missing:
            raise MissingExtra(f"target '{self.name}' needs {', '.join(missing)}: "
                               f"pip install -e '.[{self.extra}]'")
        module, _, function = self.generator.partition(":")
        return getattr(importlib.import_module(module), function)

    @property
    def available(self) -> bool:
        return all(_importable(name) for name in self.requires)


class MissingExtra(UsageError):
    """A target's optional dependencies are not installed (bad input: exit 2)."""


TARGETS: dict[str, Target] = {}


def register(target: Target) -> None:
    TARGETS[target.name] = target


def target(name: str) -> Target:
    if name not in TARGETS:
        raise MissingExtra(f"unknown target '{name}' (known: {', '.join(TARGETS)})")
    return TARGETS[name]


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True


register(Target("numpy", "derive.targets.numpy.module:generate_module", ""))
# generating torch code needs no torch (the modules are text); running them needs the extra
register(Target("torch", "derive.targets.torch.module:generate_module", "torch", "torch"))
# printing needs no numba; importing a compiled module does (it says: pip install -e '.[fast]')
register(Target("compiled", "derive.targets.compiled.module:generate_module", "compiled", "fast"))
