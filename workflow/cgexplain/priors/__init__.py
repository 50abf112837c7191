"""Prior energies for delta learning, ``E(R) = U_net(R) + U_prior(R)``, as a registry of kinds.

Only the protein stage (NTL9) uses a prior; the fluids store ``None``. The network is trained on
the residual forces ``F_ref − F_prior`` (see :func:`prior_energy_forces`) and the model file keeps
the prior next to the network weights (``prior_to_dict`` / ``prior_from_dict``, used by
:mod:`cgexplain.nn.models`).

The contract a prior kind fulfils (one :class:`Prior` subclass, decorated with :func:`register`):

* ``kind`` (class attribute) → the registry key, e.g. ``"protein_ca"``; it is what the config
  block ``systems.<name>.prior.kind`` names and what model files store.
* ``forward(pos, box)`` → energies ``(B,)`` in kcal/mol for positions ``pos`` of shape
  ``(B, N, 3)`` in Å; differentiable in ``pos`` (forces by autograd), vectorised over the batch
  (it runs at every step of a Langevin simulation). ``box`` is ``None`` for open boundaries; a kind
  that does not support periodic boxes raises ``ValueError`` for any other value.
* ``to_dict()`` → the fitted parameters as JSON-serialisable data (dicts, lists, floats, ints,
  strings); ``from_dict(d)`` (classmethod) rebuilds an identical prior from it (also after the
  dict went through ``torch.save``/``torch.load``).
* ``fit(data, params, temperature_K)`` (classmethod) → a prior fitted on a loaded CG dataset
  (:func:`cgexplain.data.dataset.load_dataset`: ``coords`` (F, N, 3) Å, ``z`` (N,), ``train_idx``,
  ``bonds`` (n_bonds, 2), …), using the training frames ``coords[train_idx]`` only. ``params`` is
  the config block ``systems.<name>.prior`` without its ``kind`` key; unknown keys are an error.
* ``describe()`` → one row per fitted parameter set, ``{"term": "bond" | "angle" | "dihedral" |
  "repulsion" | …, "types": "MET-LYS", "params": {...}, "n_samples": int}`` (for tables and
  reports; bead-type names from :func:`cgexplain.core.residues.type_names`).

Parameters live in registered buffers, so ``.to(device, dtype)`` moves and casts a prior with the
model it belongs to. A new kind is one module in this package (imported below so that it is always registered) or any
module that imports :func:`register` from :mod:`cgexplain.priors.base`.
"""

from . import protein  # noqa: E402,F401  (registers "protein_ca")
from .base import (  # noqa: F401
                   PRIOR_FORMAT,
                   REGISTRY,
                   Prior,
                   fit_prior,
                   prior_energy_forces,
                   prior_from_dict,
                   prior_to_dict,
                   read_prior_file,
                   register,
                   write_prior_file,
)
