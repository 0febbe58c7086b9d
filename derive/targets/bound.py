"""Names every generated module binds for itself, whatever the target (imports nothing of derive,
so ``derive/naming.py`` can refuse them in a spec without an import cycle).

A cell's own names never collide with the names lowering invents (``Names.fresh`` avoids them),
and a size whose name equals one of the cell's values is bound under a fresh name; but the
module's globals, the functions' fixed arguments and fixed locals below are fixed, so a spec
must not use them as names.
"""

from __future__ import annotations

# module-level names: constants, helper functions, imports (of every target)
MODULE_NAMES = frozenset({
    "numpy", "math", "torch", "numba", "PARAMS", "SIZES", "CELL", "INPUT", "INPUT_DIM", "STATE",
    "STATE_DIMS", "OUTPUT", "INIT", "CACHE", "SPEC_SHA256", "GATECALC_VERSION", "BLOCK_VALUES",
    "init_params", "step_forward", "step_backward", "forward", "backward", "zero_state",
    "sigmoid", "tanh", "exp", "log",
    # the torch target's module and the compiled target's signatures
    "Cell", "PREVIOUS", "RECOMPUTE_READS", "recompute", "SequenceFunction", "DTYPES", "JIT",
    "SIGNATURES", "signature", "STEPPED_FROM", "one_blas_thread",
    # the torch target's fused kernels
    "FUSED", "FUSED_BLOCK_VALUES", "KERNELS", "KERNEL_FLAGS", "KERNEL_NAMES", "STALE_LOCK_SECONDS",
})
# arguments and fixed locals of the generated functions
LOCAL_NAMES = frozenset({
    "params", "state", "state_new", "cache", "grads", "d_state", "d_state_new", "x_t",
    "step_cache", "rng", "dtype", "T", "B", "t", "y", "xs", "kept", "flat", "steps", "batch", "dx",
    "dy", "state0", "state_T", "d_state_T", "d_state0", "sizes", "scale", "value", "name",
    "shape", "dims", "dim", "axis", "array", "expected", "known", "key", "device", "generator",
    "states", "fused",
})
# Python built-ins the generated code calls
BUILTIN_NAMES = frozenset({"range", "reversed", "dict", "tuple", "len", "zip", "sum", "float",
                           "max", "min", "isinstance", "sorted", "set", "str", "int", "complex",
                           "enumerate", "iter", "next"})
BOUND_NAMES = MODULE_NAMES | LOCAL_NAMES | BUILTIN_NAMES
# prefixes of the names lowering invents for its own arrays
BOUND_PREFIXES = ("maps_", "stack_", "seq_", "d_", "flat_", "sum_", "_")
