"""What every compiled module imports: numba, a ``tanh`` the compiler can vectorise, and where
numba keeps its cache. Building blocks only; no cell's formula lives here.

numba's own ``math.tanh`` is a scalar libm call (no SIMD: llvmlite here has no SVML), so a loop
over a row calls it once per value, while NumPy's ``tanh`` runs a SIMD loop. ``tanh`` below is
pure multiply-add, one or two divides and a bit cast, which LLVM's loop vectoriser turns into
AVX code inside the fused per-step loops:

- float32: Eigen's rational approximation (``generic_fast_tanh_float``: odd degree-13 numerator,
  degree-6 denominator in x², the argument clamped to ±7.90531), within a few float32 ulp;
- float64: Cephes' ``tanh`` (a rational form for |x| < 0.625, else (1 - e)/(1 + e) with
  e = exp(-2|x|)), ``exp`` by Cephes' range reduction and rational form, 2**n built from its
  bits; within a few float64 ulp;
- complex: ``cmath.tanh`` (scalar; correct, not vectorised).

Threads: numba's ``numpy.dot`` calls scipy's OpenBLAS, whose pool of threads is not NumPy's.
Inside a compiled time loop each step's product is small and followed by single-threaded
elementwise work, and a second thread there only spins (and fights NumPy's pool between the
loops): ``one_blas_thread`` runs a compiled loop with every BLAS pool at one thread (measured:
the compiled lstm 2.1x faster at (100,32,128,128), no change at small sizes), counting the
loops running in any thread so a pool is never resized under a running product. Products
outside the loops (all steps at once) keep NumPy's threads. (Splitting the batch over two
threads, each running the whole time loop on its half, was tried by hand: slower on this
shared 2-core machine, so not generated.)

Compiled code is cached on disk (``cache=True``) by numba's own rules: ``NUMBA_CACHE_DIR`` when
set, else a ``__pycache__`` folder beside the module when it is writable, else the user's cache
folder (``~/.cache/numba``); a second process loads the machine code instead of compiling.
"""

from __future__ import annotations

import math

import numpy

import functools
import threading

try:
    import numba
    import scipy.linalg.cython_blas  # noqa: F401  (numba's numpy.dot calls it: loaded now)
    from threadpoolctl import ThreadpoolController
except ImportError as error:  # pragma: no cover - exercised by the tests without the extra
    raise ImportError("the compiled target needs numba, scipy and threadpoolctl: "
                      "pip install -e '.[fast]'") from error
from llvmlite import ir as llvm_ir
from numba import types
from numba.extending import intrinsic, overload


JIT = dict(nogil=True, cache=True, fastmath=True, error_model="numpy")
"""Options of every compiled function: no Python lock held, cached on disk, and the float
contract LLVM needs to vectorise a loop (no division-by-zero checks, reassociation allowed)."""


def _tanh_scalar(x):
    """The hyperbolic tangent of one number, in the form of its dtype (overloaded below)."""
    return numpy.tanh(x)


def _sigmoid_scalar(x):
    """The logistic function of one number in its tanh form, 0.5 + 0.5 * tanh(0.5 * x)."""
    return 0.5 + 0.5 * numpy.tanh(0.5 * x)


@intrinsic
def _float64_from_bits(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], llvm_ir.DoubleType())
    return types.float64(types.int64), codegen


_F32 = numpy.float32
_T32_CLAMP, _T32_TINY = _F32(7.90531110763549805), _F32(0.0004)
_T32_P = tuple(_F32(a) for a in (-2.76076847742355e-16, 2.00018790482477e-13,
                                 -8.60467152213735e-11, 5.12229709037114e-08,
                                 1.48572235717979e-05, 6.37261928875436e-04,
                                 4.89352455891786e-03))
_T32_Q = tuple(_F32(b) for b in (1.19825839466702e-06, 1.18534705686654e-04,
                                 2.26843463243900e-03, 4.89352518554385e-03))


def _tanh32(x):
    y = min(max(x, -_T32_CLAMP), _T32_CLAMP)
    y2 = y * y
    p = y2 * _T32_P[0] + _T32_P[1]
    p = y2 * p + _T32_P[2]
    p = y2 * p + _T32_P[3]
    p = y2 * p + _T32_P[4]
    p = y2 * p + _T32_P[5]
    p = y * (y2 * p + _T32_P[6])
    q = y2 * _T32_Q[0] + _T32_Q[1]
    q = y2 * q + _T32_Q[2]
    q = y2 * q + _T32_Q[3]
    return x if abs(x) < _T32_TINY else p / q


_LOG2E, _LN2_HI, _LN2_LO = 1.4426950408889634073599, 6.93145751953125e-1, 1.42860682030941723212e-6
_EXP_P = (1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1)
_EXP_Q = (3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1,
          2.00000000000000000009e0)
_T64_P = (-9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3)
_T64_Q = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)


@numba.njit(**JIT)
def _exp_nonpositive(y):
    """exp(y) for -80 <= y <= 0: y = n ln 2 + r, exp(r) rational, 2**n from its bits."""
    n = numpy.floor(y * _LOG2E + 0.5)
    r = y - n * _LN2_HI - n * _LN2_LO
    r2 = r * r
    pr = r * ((_EXP_P[0] * r2 + _EXP_P[1]) * r2 + _EXP_P[2])
    e = pr / ((((_EXP_Q[0] * r2 + _EXP_Q[1]) * r2 + _EXP_Q[2]) * r2 + _EXP_Q[3]) - pr)
    return (1.0 + 2.0 * e) * _float64_from_bits((numpy.int64(n) + 1023) << 52)


def _tanh64(x):
    ax = abs(x)
    x2 = x * x
    small = x + x * x2 * ((_T64_P[0] * x2 + _T64_P[1]) * x2 + _T64_P[2]) / (
        ((x2 + _T64_Q[0]) * x2 + _T64_Q[1]) * x2 + _T64_Q[2])
    e = _exp_nonpositive(-2.0 * min(ax, 40.0))
    large = math.copysign((1.0 - e) / (1.0 + e), x)
    return small if ax < 0.625 else large


def _sigmoid_of(kind):
    half = numpy.float32(0.5) if kind is types.float32 else 0.5
    return lambda x: half + half * _tanh_scalar(half * x)


@overload(_tanh_scalar, jit_options=JIT)
def _overload_tanh(x):
    if x is types.float32:
        return _tanh32
    if x is types.float64:
        return _tanh64
    if isinstance(x, types.Complex):
        return lambda x: numpy.tanh(x)
    return None


@overload(_sigmoid_scalar, jit_options=JIT)
def _overload_sigmoid(x):
    if x in (types.float32, types.float64) or isinstance(x, types.Complex):
        return _sigmoid_of(x)
    return None


_BLAS_POOLS = tuple(ThreadpoolController().select(user_api="blas").lib_controllers)


class _OneBlasThread:
    """While any compiled loop runs (in any thread), every BLAS pool has one thread; the
    threads are set when the first loop starts and restored when the last one ends, never while
    another loop is inside a product (OpenBLAS must not be resized under a running call)."""

    def __init__(self):
        self.lock, self.running, self.saved = threading.Lock(), 0, ()

    def __enter__(self):
        with self.lock:
            if self.running == 0:
                self.saved = tuple(pool.get_num_threads() for pool in _BLAS_POOLS)
                for pool in _BLAS_POOLS:
                    pool.set_num_threads(1)
            self.running += 1

    def __exit__(self, *exc):
        with self.lock:
            self.running -= 1
            if self.running == 0:
                for pool, count in zip(_BLAS_POOLS, self.saved):
                    pool.set_num_threads(count)


_ONE_BLAS_THREAD = _OneBlasThread()


def one_blas_thread(loop):
    """``loop`` (a compiled function) run with every BLAS pool at one thread (direct calls to
    the pools, a few µs; threadpoolctl's ``limit`` took 25)."""
    @functools.wraps(loop)
    def call(*args):
        with _ONE_BLAS_THREAD:
            return loop(*args)
    return call


SIGNATURES = ["float32(float32)", "float64(float64)", "complex128(complex128)"]
"""The dtypes a compiled module runs in; arrays of others are refused by its argument checks."""


@numba.vectorize(SIGNATURES, cache=True, fastmath=True)
def tanh(x):
    """tanh as a ufunc: elementwise over arrays in NumPy or compiled code, fused by numba into
    the array expression that calls it."""
    return _tanh_scalar(x)


@numba.vectorize(SIGNATURES, cache=True, fastmath=True)
def sigmoid(x):
    """The logistic function 1/(1+exp(-x)) as 0.5 + 0.5 * tanh(0.5 * x), as a ufunc."""
    return _sigmoid_scalar(x)
