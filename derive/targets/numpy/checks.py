"""The argument checks every generated NumPy module carries (cell-independent: they read the
module's PARAMS, STATE_DIMS, INPUT_DIM and OUTPUT). Shapes are checked once per call."""

CHECKS = '''def _check_array(what, array, dims, sizes):
    """Refuse an array of the wrong rank, sizes or dtype; record the sizes it fixes."""
    shape = getattr(array, "shape", None)
    expected = "(" + ", ".join(f"{d}={sizes[d]}" if d in sizes else d for d in dims) + ")"
    if shape is None or len(shape) != len(dims):
        raise ValueError(f"{what}: expected an array of shape {expected}, got {shape}")
    if not numpy.issubdtype(array.dtype, numpy.inexact):
        raise TypeError(f"{what}: expected a float or complex array {expected}, "
                        f"got dtype {array.dtype}")
    for dim, size in zip(dims, shape):
        if sizes.setdefault(dim, size) != size:
            raise ValueError(f"{what}: expected shape {expected}, got {tuple(shape)}")


def _check_params(params):
    """The sizes the parameters give, {dimension: size}; refuses missing, extra or misshapen."""
    if not isinstance(params, dict):
        raise TypeError("params: expected a dict {name: array} with the keys of PARAMS")
    missing = [name for name in PARAMS if name not in params]
    extra = [name for name in params if name not in PARAMS]
    if missing or extra:
        raise ValueError(f"params: missing {missing}, unexpected {extra}; expected the keys "
                         f"{list(PARAMS)}")
    votes = {}  # each dimension's size: the one most parameters agree on, so the odd one is named
    for name, dims in PARAMS.items():
        for dim, size in zip(dims, getattr(params[name], "shape", ())):
            votes.setdefault(dim, []).append(size)
    sizes = {dim: max(set(seen), key=seen.count) for dim, seen in votes.items()}
    for name, dims in PARAMS.items():
        _check_array(f"params[{name!r}]", params[name], dims, sizes)
    return sizes


def _check_states(what, states, sizes):
    """A dict of (B, size) arrays over state names (None: {}); refuses unknown names."""
    if states is None:
        return {}
    if not isinstance(states, dict):
        raise TypeError(f"{what}: expected a dict {{state name: (B, size) array}} or None")
    unknown = [name for name in states if name not in STATE_DIMS]
    if unknown:
        raise ValueError(f"{what}: unknown state(s) {unknown}; the states are {list(STATE_DIMS)}")
    for name, value in states.items():
        _check_array(f"{what}[{name!r}]", value, ("B", STATE_DIMS[name]), sizes)
    return states


def _check_forward(params, x, state0):
    """-> (steps, batch, dtype, state0) after checking every argument of forward."""
    sizes = _check_params(params)
    _check_array("x", x, ("T", "B", INPUT_DIM), sizes)
    state0 = _check_states("state0", state0, sizes)
    dtype = numpy.result_type(x, *params.values(), *state0.values())
    return x.shape[0], x.shape[1], dtype, state0


def _check_backward(params, cache, dy, d_state_T):
    """-> (steps, batch, dtype, d_state_T) after checking every argument of backward."""
    sizes = _check_params(params)
    if not isinstance(cache, dict) or not {"kept", "xs", "dtype"} <= set(cache):
        raise TypeError("cache: expected the cache forward returned")
    xs = cache["xs"]
    _check_array("cache['xs']", xs, ("T", "B", INPUT_DIM), sizes)
    if dy is not None:
        _check_array("dy", dy, ("T", "B", STATE_DIMS[OUTPUT]), sizes)
    d_state_T = _check_states("d_state_T", d_state_T, sizes)
    dtype = numpy.result_type(cache["dtype"], *d_state_T.values(), *([] if dy is None else [dy]))
    return xs.shape[0], xs.shape[1], dtype, d_state_T
'''
