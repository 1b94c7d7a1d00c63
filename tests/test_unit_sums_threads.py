"""The unit sums' parallel kernels (wgf.unit_sums) run on one thread below wgf.jit.PARALLEL_WORK (a parallel region
costs more than such a call; under load a time slice), with the same result on any number of threads."""

import numba
import numpy as np
import pytest

import wgf
from wgf import jit


@pytest.mark.skipif(numba.config.NUMBA_NUM_THREADS < 2, reason="needs 2 numba threads")
@pytest.mark.parametrize("n", [100, 3000])
def test_sums_are_the_same_on_one_and_two_threads_and_small_calls_take_one(n, monkeypatch):
    unit = wgf.make_unit("sigmoid_matrix", 2, 2)
    rng = np.random.default_rng(3)
    x, Z = rng.normal(size=(16, 2)), np.ascontiguousarray(rng.normal(size=(4, n)))
    w, r = np.full(n, 1.0 / n), rng.normal(size=(16, 2))
    work = 16 * 4 * n
    assert (work < jit.PARALLEL_WORK) == (n == 100)
    seen = []
    real = jit.call_on

    def spy(threads, kernel, *args):
        seen.append(threads)
        return real(threads, kernel, *args)

    monkeypatch.setattr("wgf.unit_sums.call_on", spy)
    saved = numba.get_num_threads()
    results = []
    try:
        for threads in (2, 1):
            numba.set_num_threads(threads)
            out, dual = np.empty((16, 2)), np.empty(n)
            unit.sums.weighted_output(x, Z, w, out)
            unit.sums.dual(x, r, Z, dual)
            assert numba.get_num_threads() == threads  # restored after a call on one thread
            results.append((out, dual))
    finally:
        numba.set_num_threads(saved)
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    assert seen[:2] == ([1, 1] if n == 100 else [2, 2]) and seen[2:] == [1, 1]
    assert np.isclose(results[0][0].sum(), unit.value(x, Z.T).mean(axis=1).sum(), rtol=1e-13)
