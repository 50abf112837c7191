"""Systems as data: one module per simulated system behind one small contract, and a registry.

The workflow names no system. A config block ``systems.<name>`` says which registered system it runs
(``system:``, default ``<name>``) and carries that system's own keys; the rules, the schema's checks
and the figure targets are derived from the registry entry. A system tells the workflow:

* **where its reference data comes from** — optionally fetched first (:meth:`System.needs_fetch`,
  :meth:`System.fetch`); :meth:`System.route` returns ``"md"`` (all-atom MD with
  OpenMM: :meth:`System.n_replicas` independent runs, each built by :meth:`System.build`, optionally
  prepared by :meth:`System.prepare_replica` before equilibration) or ``"import"`` (a published CG
  dataset turned into the project's dataset by :meth:`System.import_dataset`);
* **its CG map** — :meth:`System.cg_map` turns the all-atom tables of the reference trajectory into
  bead atoms, a force map (which atoms' forces add up to which bead's), bead types and masses;
* **where CG simulations start** — :meth:`System.start_frames` picks dataset frames;
* **what applies to it** — ``periodic``, :meth:`System.box_A` (for parse-time checks of cutoffs against
  the box), ``figures`` (figure families, see :data:`FIGURE_FAMILIES`)
  and ``config_schema`` (JSON schema of its own keys in ``systems.<name>``) with
  :meth:`System.config_errors` (what the schema cannot express), both checked at parse time;
* **whether its energy is known term by term** (ground-truth systems) — :meth:`System.truth_model`
  returns the model that :func:`cgexplain.systems.groundtruth.decompose` splits into exact per-pair and
  per-triplet energies, None (the default) for a system with no known truth. The workflow compares the
  relevance with the truth (``cgexplain truth``) for the systems whose module implements it
  (:func:`has_truth`).

Adding a system is one module that subclasses :class:`System` and decorates it with :func:`register`,
plus a config block. Modules inside this package are found by name; any other importable module can
be named with a dotted path (``system: my_package.my_liquid``) and is imported when the config is read.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np

#: Figure families a system can declare; the rules build each family's figures for the systems
#: that declare it.
FIGURE_FAMILIES = ("fluid_structure", "fluid_relevance", "imc", "manybody", "protein")

REGISTRY: dict[str, type["System"]] = {}


@dataclass
class AtomTable:
    """Per-atom tables of an all-atom reference trajectory (see :mod:`cgexplain.reference.reference_md`)."""

    masses: np.ndarray          # (n_atoms,) amu
    elements: np.ndarray        # (n_atoms,) element symbols (str)
    residue: np.ndarray         # (n_atoms,) residue (molecule) index, 0-based
    atom_names: np.ndarray | None = None     # (n_atoms,) str
    residue_names: np.ndarray | None = None  # (n_atoms,) str
    bonds: np.ndarray | None = None          # (n_bonds, 2) atom index pairs


@dataclass
class CGMap:
    """A linear CG map: bead positions are atoms' positions, bead forces sums of atoms' forces."""

    bead_atom: np.ndarray       # (N,) the atom whose position is the bead's
    force_bead: np.ndarray      # (n_atoms,) bead that each atom's force adds to; -1: not mapped
    z: np.ndarray               # (N,) bead types
    bead_names: np.ndarray | None = None   # (N,) residue names (proteins)
    bonds: np.ndarray | None = None        # (n_bonds, 2) bonded bead pairs

    def bead_masses(self, masses: np.ndarray) -> np.ndarray:
        """Bead mass = summed mass of the atoms whose forces map to the bead (amu)."""
        keep = self.force_bead >= 0
        m = np.zeros(len(self.bead_atom))
        np.add.at(m, self.force_bead[keep], np.asarray(masses, np.float64)[keep])
        return m


class System:
    """The contract of one simulated system. Subclass, set the class attributes, implement the
    methods of the routes it offers, and decorate with :func:`register`."""

    name: ClassVar[str] = ""
    periodic: ClassVar[bool] = True
    figures: ClassVar[tuple[str, ...]] = ()
    #: JSON schema of the system's own keys in ``systems.<name>`` (``{"properties": {...}, "required": [...]}``)
    config_schema: ClassVar[dict] = {"properties": {}}
    #: own keys that only analyses read: changing them does not touch the reference data
    analysis_keys: ClassVar[tuple[str, ...]] = ()

    # -- reference data -----------------------------------------------------------------------
    def route(self, cfg: dict) -> str:
        """``"md"`` (OpenMM reference MD + :meth:`cg_map`) or ``"import"`` (:meth:`import_dataset`)."""
        return "md"

    def n_replicas(self, cfg: dict) -> int:
        """Number of independent reference MD runs (md route)."""
        return 1

    def needs_fetch(self, cfg: dict) -> bool:
        """Whether the route needs files fetched over the network first (see :meth:`fetch`)."""
        return False

    def fetch(self, cfg: dict, dest: Path) -> None:
        """Download what the route needs into folder ``dest`` (a rule of its own, before the route)."""

    def build(self, cfg: dict, replica: int, seed: int, source: Path | None = None):
        """(openmm.app.Topology, openmm.System, positions) of reference MD run ``replica`` (md route).

        ``cfg`` is the whole ``systems.<name>`` block with ``md`` merged over the common ``md`` keys;
        ``source`` is the :meth:`fetch` folder when :meth:`needs_fetch` is true.
        """
        raise NotImplementedError(f"system {self.name!r} has no all-atom MD route")

    def prepare_replica(self, sim, cfg: dict, replica: int, seed: int) -> None:
        """Hook after energy minimisation and before equilibration (e.g. unfold at high temperature)."""

    def import_dataset(self, cfg: dict, source: Path, out: Path, val_fraction: float, seed: int) -> dict:
        """Write the CG dataset from published data in folder ``source`` (import route)."""
        raise NotImplementedError(f"system {self.name!r} has no import route")

    def structure_path(self, cfg: dict, source: Path | None = None) -> Path | None:
        """A folded all-atom structure of the system (proteins: secondary structure and native
        contacts for the ``protein`` figure family); None if the system has none."""
        return None

    def config_errors(self, cfg: dict) -> list[tuple[str, str]]:
        """Problems of the system's block that its schema cannot express, as (key path inside the block,
        message); checked when the config is read."""
        return []

    def box_A(self, cfg: dict) -> np.ndarray | None:
        """Orthorhombic box lengths (Å) known from the config alone, for parse-time checks; None if not."""
        return None

    def label(self, cfg: dict) -> str:
        """A short name of what the block runs, for figure titles (e.g. which NTL9); default the
        system's name."""
        return self.name

    def truth_model(self, cfg: dict, n_beads: int | None = None, box=None):
        """The system's ground-truth model (an object with ``term_sets(x, box)``, see
        :mod:`cgexplain.systems.groundtruth`), wild type, built from its config block ``cfg``; ``n_beads``
        and ``box`` (Å, of the frames compared) where the model depends on them. None: no known truth."""
        return None

    # -- CG map and simulation ----------------------------------------------------------------
    def cg_map(self, atoms: AtomTable) -> CGMap:
        raise NotImplementedError

    def start_frames(self, data: dict, n: int, rng: np.random.Generator) -> np.ndarray:
        """Dataset frames the ``n`` CG replicas start from (default: random training frames)."""
        idx = data["train_idx"]
        return rng.choice(idx, size=n, replace=n > len(idx))


def register(cls: type[System]) -> type[System]:
    """Class decorator: make ``cls`` available under ``cls.name``."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a non-empty class attribute 'name'")
    unknown = set(cls.figures) - set(FIGURE_FAMILIES)
    if unknown:
        raise ValueError(f"system {cls.name!r} declares unknown figure families {sorted(unknown)}; "
                         f"known: {FIGURE_FAMILIES}")
    REGISTRY[cls.name] = cls
    return cls


def get_system(name: str) -> System:
    """The registered system ``name``: a module of this package, or a dotted module path."""
    if name not in REGISTRY:
        module = name if "." in name else f"{__name__}.{name}"
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as e:
            if e.name not in (module, f"{__name__}.{name}"):
                raise
            raise KeyError(f"unknown system {name!r}: no module {module} (registered: {sorted(REGISTRY)})") from None
        if name not in REGISTRY:  # a dotted path registers under its own class name
            found = [c for c in REGISTRY.values() if c.__module__ == mod.__name__]
            if len(found) != 1:
                raise KeyError(f"module {module} registers {len(found)} systems; expected exactly one")
            REGISTRY[name] = found[0]
    return REGISTRY[name]()


def has_truth(system: System) -> bool:
    """Whether ``system``'s class (or a base class other than :class:`System`) defines
    :meth:`System.truth_model`. Looked up by name in the classes' own namespaces, never called: the
    workflow asks while reading the rules, where building a model (a second, and mdtraj for the Gō NTL9)
    has no place."""
    return any("truth_model" in vars(c) for c in type(system).__mro__ if c is not System and c is not object)


def system_of(cfg: dict, key: str) -> System:
    """The system that config block ``systems.<key>`` runs."""
    return get_system(cfg["systems"][key].get("system", key))
