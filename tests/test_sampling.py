"""The one frame sampler (cgexplain.data.sampling) that every stage picks its frames with."""

import numpy as np
import pytest
from cgexplain.data.sampling import evenly_spaced, split_indices


def test_unseeded_takes_first_last_and_even_steps():
    np.testing.assert_array_equal(evenly_spaced(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(evenly_spaced(101, 5), [0, 25, 50, 75, 100])


@pytest.mark.parametrize("n", [None, 0, 7, 50])
def test_all_frames_when_n_is_unset_or_too_large(n):
    np.testing.assert_array_equal(evenly_spaced(7, n), np.arange(7))
    np.testing.assert_array_equal(evenly_spaced(7, n, seed=3), np.arange(7))


def test_seeded_picks_one_frame_per_stratum_reproducibly():
    f = evenly_spaced(100, 10, seed=1)
    assert len(f) == 10 and np.all(np.diff(f) == 10)          # one frame in each stratum of 10, same offset
    assert np.all(f // 10 == np.arange(10))
    np.testing.assert_array_equal(f, evenly_spaced(100, 10, seed=1))
    offsets = {int(evenly_spaced(100, 10, seed=s)[0]) for s in range(20)}
    assert len(offsets) > 3                                      # the seed moves the offset


def test_unseeded_indices_are_distinct_and_increasing():
    for total in (5, 17, 1000):
        for n in range(2, total):
            f = evenly_spaced(total, n)
            assert len(f) == n and np.all(np.diff(f) > 0) and f[0] == 0 and f[-1] == total - 1


def test_split_indices_is_a_partition():
    tr, va = split_indices(100, 0.1, 3)
    assert len(va) == 10 and len(np.intersect1d(tr, va)) == 0
    np.testing.assert_array_equal(np.sort(np.concatenate([tr, va])), np.arange(100))
