"""The batched torch neighbour list against matscipy (the list SchNetPack uses)."""

import numpy as np
import pytest
import torch
from ase import Atoms
from cgexplain.nn.neighbors import neighbor_list, wrap
from matscipy.neighbours import neighbour_list


@pytest.mark.parametrize("box", [(12.0, 13.0, 11.0), None])
def test_matches_matscipy(box):
    rng = np.random.default_rng(4)
    pos = rng.uniform(0, 11.0, size=(3, 40, 3))
    cutoff = 5.0
    g = neighbor_list(torch.tensor(pos), None if box is None else torch.tensor(box), cutoff)
    for b in range(3):
        if box is None:
            at = Atoms("C40", positions=pos[b], cell=[100, 100, 100], pbc=False)
        else:
            at = Atoms("C40", positions=pos[b], cell=np.diag(box), pbc=True)
        i, j, S = neighbour_list("ijS", at, cutoff)
        ref = {(a, c, *s) for a, c, s in zip(i, j, S)}
        sel = (g.idx_i // 40) == b
        ii, jj = (g.idx_i[sel] % 40).numpy(), (g.idx_j[sel] % 40).numpy()
        shifts = np.zeros((len(ii), 3)) if box is None else g.offsets[sel].numpy() / np.asarray(box)
        got = {(a, c, *np.round(s).astype(int)) for a, c, s in zip(ii, jj, shifts)}
        assert got == ref
        rij = pos[b][jj] - pos[b][ii] + g.offsets[sel].numpy()
        assert (np.linalg.norm(rij, axis=1) < cutoff).all()


def test_cutoff_larger_than_half_box_is_rejected():
    with pytest.raises(ValueError, match="half the smallest box"):
        neighbor_list(torch.zeros(1, 2, 3), torch.tensor([8.0, 20.0, 20.0]), 5.0)


def test_wrap():
    x = torch.tensor([[[-1.0, 25.0, 3.0]]])
    np.testing.assert_allclose(wrap(x, torch.tensor([10.0, 10.0, 10.0])).numpy(), [[[9.0, 5.0, 3.0]]])
