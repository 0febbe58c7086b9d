"""The argument checks every generated NumPy module carries (cell-independent: they read the
module's PARAMS, STATE_DIMS, INPUT_DIM and OUTPUT). Shapes are checked once per call, on a fast
path of tuple comparisons; only a bad argument pays for finding and describing what is wrong."""

CHECKS = '''# where each size is read (a parameter and an axis), and every parameter's dimensions
_SIZE_AT = {}
for _name, _dims in PARAMS.items():
    for _axis, _dim in enumerate(_dims):
        _SIZE_AT.setdefault(_dim, (_name, _axis))
_PARAM_DIMS = tuple(PARAMS.items())


def _check_params(params):
    """The sizes the parameters give, {dimension: size}; refuses missing, extra or misshapen."""
    if not isinstance(params, dict):
        raise TypeError("params: expected a dict {name: array} with the keys of PARAMS")
    try:
        sizes = {dim: params[name].shape[axis] for dim, (name, axis) in _SIZE_AT.items()}
        shapes = {dims: tuple([sizes[dim] for dim in dims]) for dims in set(PARAMS.values())}
        if len(params) == len(PARAMS):
            for name, dims in _PARAM_DIMS:
                array = params[name]
                if array.shape != shapes[dims] or array.dtype.kind not in "fc":
                    break
            else:
                return sizes
    except (KeyError, AttributeError, IndexError):
        pass
    _explain_params(params)


def _explain_params(params):
    """Raise the error that names what is wrong with ``params``."""
    missing = [name for name in PARAMS if name not in params]
    extra = [name for name in params if name not in PARAMS]
    if missing or extra:
        raise ValueError(f"params: missing {missing}, unexpected {extra}; expected the keys "
                         f"{list(PARAMS)}")
    votes = {}  # each dimension's size: the one most parameters agree on, so the odd one is named
    for name, dims in PARAMS.items():
        for dim, size in zip(dims, getattr(params[name], "shape", ())):
            votes.setdefault(dim, []).append(size)
    sizes = {dim: max(sorted(set(seen)), key=seen.count) for dim, seen in votes.items()}
    for name, dims in PARAMS.items():
        _check_array(f"params[{name!r}]", params[name], dims, sizes)


def _check_array(what, array, dims, sizes):
    """Refuse an array of the wrong rank, sizes or dtype; record the sizes it fixes."""
    shape = getattr(array, "shape", None)
    if (shape is not None and len(shape) == len(dims) and array.dtype.kind in "fc"
            and all(sizes.setdefault(dim, size) == size for dim, size in zip(dims, shape))):
        return
    expected = "(" + ", ".join(f"{d}={sizes[d]}" if d in sizes else d for d in dims) + ")"
    if shape is None or len(shape) != len(dims):
        raise ValueError(f"{what}: expected an array of shape {expected}, got {shape}")
    if array.dtype.kind not in "fc":
        raise TypeError(f"{what}: expected a float or complex array {expected}, "
                        f"got dtype {array.dtype}")
    raise ValueError(f"{what}: expected shape {expected}, got {tuple(shape)}")


def _check_states(what, states, sizes):
    """A dict of (B, size) arrays over state names (None: {}); refuses unknown names."""
    if states is None:
        return {}
    if not isinstance(states, dict):
        raise TypeError(f"{what}: expected a dict {{state name: (B, size) array}} or None")
    for name, value in states.items():
        if name not in STATE_DIMS:
            unknown = [name for name in states if name not in STATE_DIMS]
            raise ValueError(f"{what}: unknown state(s) {unknown}; the states are "
                             f"{list(STATE_DIMS)}")
        _check_array(f"{what}[{name!r}]", value, ("B", STATE_DIMS[name]), sizes)
    return states


def _check_forward(params, x, state0):
    """-> (steps, batch, dtype, state0) after checking every argument of forward."""
    sizes = dict(_check_params(params))
    _check_array("x", x, ("T", "B", INPUT_DIM), sizes)
    state0 = _check_states("state0", state0, sizes)
    dtype = numpy.result_type(x, *params.values(), *state0.values())
    return x.shape[0], x.shape[1], dtype, state0


def _check_backward(params, cache, dy, d_state_T):
    """-> (steps, batch, dtype, d_state_T) after checking every argument of backward."""
    sizes = dict(_check_params(params))
    if not isinstance(cache, dict) or not {"kept", "xs", "dtype"} <= cache.keys():
        raise TypeError("cache: expected the cache forward returned")
    xs = cache["xs"]
    _check_array("cache['xs']", xs, ("T", "B", INPUT_DIM), sizes)
    if dy is not None:
        _check_array("dy", dy, ("T", "B", STATE_DIMS[OUTPUT]), sizes)
    d_state_T = _check_states("d_state_T", d_state_T, sizes)
    dtype = numpy.result_type(cache["dtype"], *d_state_T.values(), *([] if dy is None else [dy]))
    return xs.shape[0], xs.shape[1], dtype, d_state_T
'''
