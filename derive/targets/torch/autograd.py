"""The parts of a generated torch module that read only the module's constants (PARAMS, STATE,
SIZES, ...), never a cell's equations: ``init_params``, the argument checks, the
``torch.autograd.Function`` that runs the printed ``forward``/``backward`` as one node, and the
``nn.Module``. No gradient formula is here: ``SequenceFunction.backward`` calls the printed
derived ``backward``.
"""

from __future__ import annotations

import textwrap

from derive.ad.cell import Cell, prev_name
from derive.errors import GenerationError

# attributes of torch.nn.Module (torch 2.13) and of the generated Cell: a parameter is an
# attribute of the Cell, so it must not be named like one of them
MODULE_ATTRIBUTES = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double
dump_patches eval extra_repr float forward get_buffer get_extra_state get_parameter
get_submodule half ipu load_state_dict modules mtia named_buffers named_children named_modules
named_parameters parameters register_backward_hook register_buffer register_forward_hook
register_forward_pre_hook register_full_backward_hook register_full_backward_pre_hook
register_load_state_dict_post_hook register_load_state_dict_pre_hook register_module
register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory state_dict to to_empty train type xpu zero_grad
training reset_parameters batch_first recompute sizes input_size hidden_size
""".split())


def check_names(cell: Cell) -> None:
    """Refuse a cell whose parameter would clash with an attribute of the generated Cell."""
    for p in cell.params:
        if p.name in MODULE_ATTRIBUTES or p.name.startswith("_") or p.name in dict(
                cell.sizes).values():
            raise GenerationError(f"{cell.path}: parameter {p.name!r} cannot be an attribute of "
                                  f"the torch Cell (torch.nn.Module uses that name); rename it")


def _signature(cell: Cell) -> tuple[list[str], list[str]]:
    """(positional, keyword-only) size keywords, as init_params takes them."""
    positional = [kw for kw in ("input_size", "hidden_size") if kw in dict(cell.sizes).values()]
    return positional, [kw for _, kw in cell.sizes if kw not in positional]


def init_params(cell: Cell) -> str:
    positional, keyword_only = _signature(cell)
    signature = ", ".join(positional + ["*"] + keyword_only
                          + ["generator=None", "dtype=torch.float64", "device=None"])
    sizes = ", ".join(f"{dim!r}: {kw}" for dim, kw in cell.sizes)
    return f'''def init_params({signature}):
    """Parameters {{name: tensor}} shaped as PARAMS; INIT values where the spec gives them, the
    rest uniform in ±1/sqrt(hidden_size), drawn in float64 from generator, then cast."""
    sizes = {{{sizes}}}
    scale = hidden_size ** -0.5
    params = {{}}
    for name, dims in PARAMS.items():
        shape = tuple(sizes[dim] for dim in dims)
        if name in INIT:
            value = torch.full(shape, INIT[name], dtype=torch.float64)
        else:
            value = torch.rand(shape, generator=generator, dtype=torch.float64)
            value = value * (2 * scale) - scale
        params[name] = value.to(dtype=dtype, device=device)
    return params
'''


CHECKS = '''def _check_tensor(what, tensor, dims, sizes):
    """Refuse a tensor of the wrong rank, sizes or dtype kind; record the sizes it fixes."""
    shape = tuple(tensor.shape) if isinstance(tensor, torch.Tensor) else None
    expected = "(" + ", ".join(f"{d}={sizes[d]}" if d in sizes else d for d in dims) + ")"
    if shape is None or len(shape) != len(dims):
        got = shape if shape is not None else type(tensor).__name__
        raise ValueError(f"{what}: expected a tensor of shape {expected}, got {got}")
    if not (tensor.is_floating_point() or tensor.is_complex()):
        raise TypeError(f"{what}: expected a floating-point or complex tensor {expected}, "
                        f"got dtype {tensor.dtype}")
    for dim, size in zip(dims, shape):
        if sizes.setdefault(dim, size) != size:
            raise ValueError(f"{what}: expected shape {expected}, got {shape}")


def _check_alike(named):
    """One device and one dtype for every (what, tensor) of a call, the first the reference."""
    first_what, first = named[0]
    for what, tensor in named[1:]:
        if tensor.device != first.device:
            raise ValueError(f"{what} is on {tensor.device} but {first_what} is on "
                             f"{first.device}: parameters, input and states must be on one device")
        if tensor.dtype != first.dtype:
            raise TypeError(f"{what} is {tensor.dtype} but {first_what} is {first.dtype}: "
                            "parameters, input and states must share one dtype")


def _check_params(params):
    """The sizes the parameters give, {dimension: size}; refuses missing, extra or misshapen."""
    if not isinstance(params, dict):
        raise TypeError("params: expected a dict {name: tensor} with the keys of PARAMS")
    missing = [name for name in PARAMS if name not in params]
    extra = [name for name in params if name not in PARAMS]
    if missing or extra:
        raise ValueError(f"params: missing {missing}, unexpected {extra}; expected the keys "
                         f"{list(PARAMS)}")
    sizes = {}
    for name, dims in PARAMS.items():
        _check_tensor(f"params[{name!r}]", params[name], dims, sizes)
    return sizes


def _check_states(what, states, sizes):
    """A dict of (B, size) tensors over state names (None: {}); refuses unknown names."""
    if states is None:
        return {}
    if not isinstance(states, dict):
        raise TypeError(f"{what}: expected a dict {{state name: (B, size) tensor}} or None, "
                        f"got {type(states).__name__}")
    unknown = [name for name in states if name not in STATE_DIMS]
    if unknown:
        raise ValueError(f"{what}: unknown state(s) {unknown}; the states are {list(STATE_DIMS)}")
    for name, value in states.items():
        _check_tensor(f"{what}[{name!r}]", value, ("B", STATE_DIMS[name]), sizes)
    return states


def _check_forward(params, x, state0):
    """-> (steps, batch, dtype, state0) after checking every argument of forward."""
    sizes = _check_params(params)
    _check_tensor("x", x, ("T", "B", INPUT_DIM), sizes)
    state0 = _check_states("state0", state0, sizes)
    _check_alike([(f"params[{k!r}]", v) for k, v in params.items()] + [("x", x)]
                 + [(f"state0[{k!r}]", v) for k, v in state0.items()])
    return x.shape[0], x.shape[1], x.dtype, state0


def _check_backward(params, cache, dy, d_state_T):
    """-> (steps, batch, dtype, d_state_T) after checking every argument of backward."""
    sizes = _check_params(params)
    if not isinstance(cache, dict) or not {"kept", "xs", "dtype"} <= set(cache):
        raise TypeError("cache: expected the cache forward returned")
    xs = cache["xs"]
    _check_tensor("cache['xs']", xs, ("T", "B", INPUT_DIM), sizes)
    if dy is not None:
        _check_tensor("dy", dy, ("T", "B", STATE_DIMS[OUTPUT]), sizes)
    d_state_T = _check_states("d_state_T", d_state_T, sizes)
    _check_alike([(f"params[{k!r}]", v) for k, v in params.items()] + [("cache['xs']", xs)]
                 + ([] if dy is None else [("dy", dy)])
                 + [(f"d_state_T[{k!r}]", v) for k, v in d_state_T.items()])
    return xs.shape[0], xs.shape[1], xs.dtype, d_state_T


def _check_recompute(params, xs, states):
    """-> (steps, batch, dtype) after checking every argument of recompute."""
    sizes = _check_params(params)
    _check_tensor("xs", xs, ("T", "B", INPUT_DIM), sizes)
    if not isinstance(states, dict) or not set(RECOMPUTE_READS) <= set(states):
        raise TypeError(f"states: expected a dict with the keys {list(RECOMPUTE_READS)}")
    dims = {**STATE_DIMS, **{PREVIOUS[s]: dim for s, dim in STATE_DIMS.items()}}
    for name in RECOMPUTE_READS:
        _check_tensor(f"states[{name!r}]", states[name], ("T", "B", dims[name]), sizes)
    _check_alike([(f"params[{k!r}]", v) for k, v in params.items()] + [("xs", xs)]
                 + [(f"states[{k!r}]", states[k]) for k in RECOMPUTE_READS])
    return xs.shape[0], xs.shape[1], xs.dtype
'''


def function(cell: Cell, reads: tuple[str, ...]) -> str:
    """The autograd.Function; ``reads``: the state values the printed ``recompute`` reads."""
    previous = {s: prev_name(s) for s in cell.state_names}
    return (f"PREVIOUS = {previous!r}  # each state's name before a step, as CACHE names it\n"
            "# the values of CACHE recompute reads (states before or after each step): views of\n"
            "# the forward's state sequences, so keeping them costs no memory of its own\n"
            f"RECOMPUTE_READS = {reads!r}\n" + FUNCTION)


FUNCTION = '''

class SequenceFunction(torch.autograd.Function):
    """The whole sequence as one autograd node. Inputs: recompute (a bool), x (T, B, M), each
    initial state in STATE order (None: zeros), each parameter in PARAMS order; outputs: y and
    each final state. The forward saves only what the derived backward reads (cache["kept"],
    the input, the parameters), or with recompute only the states, the input and the parameters
    (the backward then recomputes the rest first: less memory, one more forward's products).
    The backward is the derived one (backward above). Its own derivative is not derived:
    double backward raises."""

    @staticmethod
    def forward(ctx, recompute, x, *tensors):
        state0 = {s: v for s, v in zip(STATE, tensors) if v is not None}
        params = dict(zip(PARAMS, tensors[len(STATE):]))
        y, state_T, cache = forward(params, x, state0)
        kept = cache["kept"]
        saved = {name: kept[name] for name in RECOMPUTE_READS} if recompute else kept
        ctx.recompute, ctx.saved_names = recompute, tuple(saved)
        ctx.save_for_backward(cache["xs"], *saved.values(), *params.values())
        return (y, *[state_T[s] for s in STATE])

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, dy, *d_state_T):
        xs, *values = ctx.saved_tensors
        saved = dict(zip(ctx.saved_names, values))
        params = dict(zip(PARAMS, values[len(saved):]))
        kept = recompute(params, xs, saved) if ctx.recompute else saved
        cache = {"kept": kept, "xs": xs, "dtype": xs.dtype}
        # complex: the derived backward gives the holomorphic derivative's transpose; torch's
        # convention is its conjugate, so the adjoints are conjugated in and out
        flip = torch.conj if xs.is_complex() else (lambda tensor: tensor)
        grads, dx, d_state0 = backward(params, cache, flip(dy),
                                       {s: flip(d) for s, d in zip(STATE, d_state_T)})
        grads, dx, d_state0 = ({k: flip(v) for k, v in grads.items()}, flip(dx),
                               {s: flip(v) for s, v in d_state0.items()})
        wanted = ctx.needs_input_grad
        d_states = [d_state0[s] if wanted[2 + k] else None for k, s in enumerate(STATE)]
        return (None, dx if wanted[1] else None, *d_states, *[grads[k] for k in PARAMS])
'''


def cell_module(cell: Cell) -> str:
    positional, keyword_only = _signature(cell)
    signature = ", ".join(["self", *positional, "*", *keyword_only, "batch_first=False",
                           "recompute=False", "device=None", "dtype=None"])
    sizes = ", ".join(f"{kw}={kw}" for _, kw in cell.sizes)
    input_dim = cell.input[1]
    doc = textwrap.fill(
        f"{cell.title}, as an nn.Module: forward(x, state0=None) -> (y, state_T), on any "
        f"device, in float32, float64 or complex. x is (T, B, {input_dim}), or (B, T, "
        f"{input_dim}) when batch_first (and then y is (B, T, size)); state0 and state_T map "
        "state names to (B, size) tensors, a missing name in state0 meaning zeros. Parameters "
        "are named as in the spec and initialised as init_params does; gradients come from the "
        "derived backward, through SequenceFunction; with recompute, the forward keeps only the "
        "states and the backward recomputes the gates (less memory, more time).", 92,
        initial_indent="    ",
        subsequent_indent="    ").lstrip()
    return f'''class Cell(torch.nn.Module):
    """{doc}"""

    def __init__({signature}):
        super().__init__()
        self.sizes = dict({sizes})
        if recompute and not set(RECOMPUTE_READS) <= set(CACHE):
            raise ValueError(f"recompute=True: {{CELL}} recomputes from state values its forward "
                             f"does not keep ({{sorted(set(RECOMPUTE_READS) - set(CACHE))}}); "
                             "use recompute=False")
        self.batch_first, self.recompute = batch_first, recompute
        dtype = torch.get_default_dtype() if dtype is None else dtype
        for name, value in init_params(**self.sizes, dtype=dtype, device=device).items():
            self.register_parameter(name, torch.nn.Parameter(value))

    def reset_parameters(self, generator=None):
        """Draw the parameters again, as init_params does."""
        fresh = init_params(**self.sizes, generator=generator)
        with torch.no_grad():
            for name, value in fresh.items():
                getattr(self, name).copy_(value)

    def forward(self, x, state0=None):
        params = {{name: getattr(self, name) for name in PARAMS}}
        if self.batch_first:
            _check_tensor("x", x, ("B", "T", INPUT_DIM), _check_params(params))
            x = x.transpose(0, 1)
        steps, batch, dtype, state0 = _check_forward(params, x, state0)
        outputs = SequenceFunction.apply(self.recompute, x, *[state0.get(s) for s in STATE],
                                         *params.values())
        y, state_T = outputs[0], dict(zip(STATE, outputs[1:]))
        return (y.transpose(0, 1) if self.batch_first else y), state_T

    def extra_repr(self):
        sizes = ", ".join(f"{{k}}={{v}}" for k, v in self.sizes.items())
        return (sizes + (", batch_first=True" if self.batch_first else "")
                + (", recompute=True" if self.recompute else ""))
'''
