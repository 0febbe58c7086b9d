"""Bad input to the generated torch nn.Module and functions: a clear error naming the argument
and the expected shape (or device, or dtype), before any work."""

import pytest

torch = pytest.importorskip("torch", reason="needs the torch extra: pip install -e '.[torch]'")

from torch_targets import torch_generated  # noqa: E402


@pytest.fixture
def lstmp():
    module = torch_generated("lstmp")
    torch.manual_seed(0)
    return module.Cell(3, 5, proj_size=2).double()


def _x(*shape, dtype=torch.float64):
    return torch.randn(shape, dtype=dtype)


@pytest.mark.parametrize("shape", [(6, 3), (2, 6, 4, 3), ()])
def test_input_of_the_wrong_rank(lstmp, shape):
    with pytest.raises(ValueError, match=r"x: expected a tensor of shape \(T, B, M=3\), got"):
        lstmp(_x(*shape))


def test_input_of_the_wrong_size(lstmp):
    with pytest.raises(ValueError, match=r"x: expected shape \(T, B, M=3\), got \(6, 2, 4\)"):
        lstmp(_x(6, 2, 4))


def test_input_of_the_wrong_size_batch_first():
    module = torch_generated("gru")
    cell = module.Cell(3, 4, batch_first=True)
    with pytest.raises(ValueError, match=r"x: expected shape \(B, T, M=3\), got \(2, 6, 4\)"):
        cell(torch.randn(2, 6, 4))


@pytest.mark.parametrize("state, message", [
    ({"c": _x(2, 2)}, r"state0\['c'\]: expected shape \(B=2, D=5\), got \(2, 2\)"),
    ({"h": _x(3, 2)}, r"state0\['h'\]: expected shape \(B=2, P=2\), got \(3, 2\)"),
    ({"h": _x(2)}, r"state0\['h'\]: expected a tensor of shape \(B=2, P=2\), got \(2,\)"),
    ({"q": _x(2, 2)}, r"state0: unknown state\(s\) \['q'\]; the states are \['h', 'c'\]"),
])
def test_state_of_the_wrong_shape_or_name(lstmp, state, message):
    with pytest.raises(ValueError, match=message):
        lstmp(_x(6, 2, 3), state)


def test_state_that_is_not_a_dict(lstmp):
    message = r"state0: expected a dict \{state name: \(B, size\) tensor\} or None, got tuple"
    with pytest.raises(TypeError, match=message):
        lstmp(_x(6, 2, 3), (_x(2, 2), _x(2, 5)))


def test_parameters_of_different_dtypes(lstmp):
    with torch.no_grad():
        lstmp.W_c.data = lstmp.W_c.data.float()
    message = r"params\['W_c'\] is torch.float32 but params\['W_i'\] is torch.float64"
    with pytest.raises(TypeError, match=message):
        lstmp(_x(6, 2, 3))


def test_input_of_another_dtype_than_the_parameters(lstmp):
    with pytest.raises(TypeError, match=r"x is torch.float32 but params\['W_i'\] is torch.float64"):
        lstmp(_x(6, 2, 3, dtype=torch.float32))


def test_integer_input(lstmp):
    message = r"x: expected a floating-point or complex tensor \(T, B, M=3\), got dtype torch.int64"
    with pytest.raises(TypeError, match=message):
        lstmp(torch.ones(6, 2, 3, dtype=torch.int64))


def test_parameters_on_different_devices(lstmp):
    """The meta device stands in for a GPU: the check compares devices, whatever they are."""
    lstmp.U_o = torch.nn.Parameter(torch.zeros(5, 2, dtype=torch.float64, device="meta"))
    message = r"params\['U_o'\] is on meta but params\['W_i'\] is on cpu"
    with pytest.raises(ValueError, match=message):
        lstmp(_x(6, 2, 3))


def test_state_on_another_device(lstmp):
    with pytest.raises(ValueError, match=r"state0\['c'\] is on meta but params\['W_i'\] is on cpu"):
        lstmp(_x(6, 2, 3), {"c": torch.zeros(2, 5, dtype=torch.float64, device="meta")})


def test_the_functions_check_their_arguments_too():
    module = torch_generated("lstm")
    params = module.init_params(3, 4)
    with pytest.raises(ValueError, match=r"x: expected shape \(T, B, M=3\), got \(5, 2, 2\)"):
        module.forward(params, torch.randn(5, 2, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match=r"params: missing \['U_i'\], unexpected \[\]"):
        module.forward({k: v for k, v in params.items() if k != "U_i"}, torch.randn(5, 2, 3))
