"""The benchmark compares like with like: its hand-written baseline computes what the generated
lstm computes (the baseline is for timing only and never checks anything itself)."""

import numpy

from conftest import generated
from verify.bench import handwritten_lstm, lstm_flops


def test_handwritten_baseline_computes_the_same_gradients():
    module = generated("lstm")
    rng = numpy.random.default_rng(0)
    params = module.init_params(5, 4, rng=rng)
    x, dy = rng.standard_normal((6, 3, 5)), rng.standard_normal((6, 3, 4))
    _, _, cache = module.forward(params, x)
    grads, dx, _ = module.backward(params, cache, dy)
    hand_grads, hand_dx = handwritten_lstm(params, x, dy)
    numpy.testing.assert_allclose(hand_dx, dx, rtol=1e-10, atol=1e-12)
    for k in params:
        numpy.testing.assert_allclose(hand_grads[k], grads[k], rtol=1e-10, atol=1e-12)


def test_flop_count_is_the_matrix_products():
    # forward: 4 gates × (D×(M+D)) multiply-adds per sample and step; backward twice that
    assert lstm_flops(T=1, B=1, M=2, D=3) == 3 * 2 * 4 * 3 * 5
