"""NTL9 (K12M, residues 1–39): a folded Cα protein, all-atom in implicit solvent or imported.

Two routes to reference data (``data.route``):

* ``openmm`` (:meth:`NTL9.route` ``"md"``): all-atom MD with ``amber14-all.xml`` and OpenMM's
  implicit solvent (``implicit/gbn2.xml`` or ``implicit/obc2.xml``), non-periodic, HBonds constrained.
  The folded starting structure is ``data.structure`` (default: the shipped
  ``resources/ntl9/ntl9_folded.pdb``) or, with ``data.pdb_id``, the PDB entry fetched from RCSB,
  cut to chain A and ``data.residues`` and completed with pdbfixer (:func:`prepare_pdb_entry`).
  ``md.n_folded`` replicas start from the folded structure, ``md.n_unfolded`` more from structures
  unfolded at ``md.unfold_temperature_K`` for ``md.unfold_ps`` (:meth:`NTL9.prepare_replica`).
* ``majewski`` (``"import"``): the published Cα dataset of Majewski et al. 2023, converted by
  :mod:`cgexplain.data.majewski`.

Structure files with a CHARMM-style amidated C-terminus (an atom ``NT`` with its two hydrogens
inside the last residue) are repaired when read (:func:`fix_charmm_amide_cterm`): the three atoms
become an ``NHE`` cap residue (``N``, ``HN1``, ``HN2``), which Amber's templates accept.

CG map: one bead per residue on its Cα; the bead force is the Cα force plus the forces of the
hydrogens bonded to the Cα (see :meth:`NTL9.cg_map`).
"""

from __future__ import annotations

import functools
import io
import math
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from ..core.residues import ONE_LETTER, chain_bonds, residue_type, type_names
from . import AtomTable, CGMap, System, register

RCSB_URL = "https://files.rcsb.org/download/{}.pdb"
SOLVENTS = ("gbn2", "obc2")
#: Residues without a Cα that end a protein chain (Amber caps and their PDB aliases)
CAPS = ("ACE", "NHE", "NH2", "NME")
#: k-centres on at most this many (evenly spaced) training frames
MAX_KCENTER_FRAMES = 5000

DEFAULT_DATA = {
    "route": "openmm",
    "structure": "resources/ntl9/ntl9_folded.pdb",
    "pdb_id": None,
    "residues": [1, 39],
    "local_dir": None,
    "urls": {},
    "max_frames": None,
}
DEFAULT_MD = {
    "implicit_solvent": "gbn2",
    "nonbonded_cutoff_nm": None,
    "timestep_fs": 2.0,
    "n_folded": 1,
    "n_unfolded": 1,
    "unfold_temperature_K": 800.0,
    "unfold_ps": 100.0,
}

#: Smallest non-periodic nonbonded cutoff accepted (nm; chosen: a shorter one cuts into the first
#: neighbour shell, and is most likely a unit slip)
MIN_CUTOFF_NM = 0.5
_POS = {"type": "number", "exclusiveMinimum": 0}
_NONNEG = {"type": "number", "minimum": 0}


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def _data(cfg: dict) -> dict:
    return {**DEFAULT_DATA, **(cfg.get("data") or {})}


def _md(cfg: dict) -> dict:
    return {**DEFAULT_MD, **(cfg.get("md") or {})}


def _temperature(cfg: dict) -> float:
    """The reference temperature: ``cfg["temperature_K"]`` (or the merged ``md.temperature_K``)."""
    t = cfg.get("temperature_K", (cfg.get("md") or {}).get("temperature_K"))
    if t is None:
        raise ValueError("systems.ntl9: no temperature_K given")
    return float(t)


def _seed(seed: int, phase: int) -> int:
    """A positive 31-bit seed for OpenMM, different for each phase of one replica."""
    return (int(seed) * 7919 + 1_000_003 * phase) % (2**31 - 2) + 1


# -- structure files -------------------------------------------------------------------------

def fix_charmm_amide_cterm(text: str) -> tuple[str, int]:
    """Move a CHARMM-style C-terminal amide (atom ``NT`` and the two hydrogens bonded to it, all in
    the last amino-acid residue) into an ``NHE`` cap residue (atoms ``N``, ``HN1``, ``HN2``)
    numbered one after that residue. Returns the new PDB text and the number of caps made.

    The hydrogens are found by distance (< 1.3 Å from ``NT``), not by name: such files name them
    like the backbone amide hydrogen (``H``), and OpenMM's reader drops duplicate names.
    """
    lines = text.splitlines()
    groups: dict[tuple, list[int]] = {}
    model = 0
    for i, line in enumerate(lines):
        rec = line[:6]
        if rec.startswith("MODEL"):
            model += 1
        elif rec in ("ATOM  ", "HETATM"):
            groups.setdefault((model, line[21], line[22:27], line[17:20]), []).append(i)
    existing = {(k[0], k[1], k[2]) for k in groups}

    def element(line: str) -> str:
        e = line[76:78].strip() if len(line) >= 78 else ""
        return (e or line[12:16].strip().lstrip("0123456789")[:1]).upper()

    def xyz(line: str) -> np.ndarray:
        return np.array([float(line[30:38]), float(line[38:46]), float(line[46:54])])

    moved: dict[int, str] = {}     # line index -> replacement line
    insert_after: dict[int, list[int]] = {}
    n_caps = 0
    for key, idx in groups.items():
        nt = [i for i in idx if lines[i][12:16].strip() == "NT" and element(lines[i]) == "N"]
        if not nt:
            continue
        if len(nt) > 1:
            raise ValueError(f"residue {key[3]} {key[2].strip()} of chain {key[1]!r} has {len(nt)} NT atoms")
        nt = nt[0]
        x = xyz(lines[nt])
        hs = [i for i in idx if i != nt and element(lines[i]) == "H" and np.linalg.norm(xyz(lines[i]) - x) < 1.3]
        if len(hs) != 2:
            raise ValueError(f"CHARMM C-terminal amide in residue {key[3]} {key[2].strip()} of chain {key[1]!r}: "
                             f"expected 2 hydrogens bonded to NT, found {len(hs)}")
        try:
            new_seq = int(key[2][:4]) + 1
        except ValueError:
            raise ValueError(f"cannot number an NHE cap after residue {key[2]!r}") from None
        seq_field = f"{new_seq:4d} "
        if (key[0], key[1], seq_field) in existing:
            raise ValueError(f"residue with NT atom {key[3]} {key[2].strip()} of chain {key[1]!r} is not the "
                             f"chain's last residue (residue {new_seq} exists)")
        for i, name in zip([nt] + hs, (" N  ", " HN1", " HN2")):
            ln = lines[i].ljust(54)
            moved[i] = ln[:12] + name + ln[16] + "NHE" + ln[20:22] + seq_field + ln[27:]
        rest = set(idx) - {nt, *hs}
        if not rest:
            raise ValueError(f"residue {key[3]} {key[2].strip()} of chain {key[1]!r} holds only the NT amide")
        insert_after.setdefault(max(rest), []).extend([nt] + hs)
        n_caps += 1
    if not n_caps:
        return text, 0
    out = []
    for i, line in enumerate(lines):
        if i in moved:
            continue
        out.append(line)
        out.extend(moved[j] for j in insert_after.get(i, ()))
    return "\n".join(out) + "\n", n_caps


def load_structure(path: str | Path):
    """(topology, positions) of a PDB file, C-terminal amides fixed, no periodic box (nm Quantity)."""
    from openmm import app

    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"NTL9 structure {path} does not exist")
    text, n_caps = fix_charmm_amide_cterm(path.read_text())
    if n_caps:
        _log(f"{path}: moved {n_caps} CHARMM C-terminal amide(s) (NT) into NHE cap residue(s)")
    pdb = app.PDBFile(io.StringIO(text))
    top = pdb.topology
    top.setPeriodicBoxVectors(None)
    return top, pdb.getPositions(asNumpy=True)


def _one_letter(name: str) -> str:
    try:
        return ONE_LETTER[residue_type(name) - 1]
    except ValueError:
        return "X"


def structure_sequence(topology) -> str:
    """One-letter sequence of the residues with a Cα (caps, water and ions are left out)."""
    return "".join(_one_letter(r.name) for r in topology.residues()
                   if r.name not in CAPS and any(a.name == "CA" and a.element is not None
                                                 and a.element.symbol == "C" for a in r.atoms()))


def check_sequence(topology, sequence: str, where: str | Path) -> None:
    """One-line ValueError when the structure's residues are not ``sequence``."""
    have, want = structure_sequence(topology), sequence.strip().upper()
    if have != want:
        k = next((i for i, (a, b) in enumerate(zip(have, want)) if a != b), min(len(have), len(want)))
        raise ValueError(f"{where}: residue sequence {have} ({len(have)} residues) differs from the configured "
                         f"sequence {want} ({len(want)} residues) at residue {k + 1}")


def prepare_pdb_entry(raw: str | Path, out: str | Path, chain: str = "A", residues=(1, 39), ph: float = 7.0) -> Path:
    """Cut a PDB entry to ``chain`` and residue numbers ``residues`` (inclusive), then with pdbfixer:
    fill internal gaps (no residues are added beyond the kept range), replace non-standard residues
    (e.g. MSE -> MET), drop water and heterogens, add missing heavy atoms (incl. the terminal OXT) and
    hydrogens at ``ph``; write ``out``."""
    from openmm import app
    from pdbfixer import PDBFixer

    lo, hi = int(residues[0]), int(residues[1])
    fixer = PDBFixer(filename=str(raw))
    top = fixer.topology
    if not any(c.id == chain for c in top.chains()):
        raise ValueError(f"{raw}: no chain {chain!r} (chains: {sorted({c.id for c in top.chains()})})")
    drop = []
    for c in fixer.topology.chains():
        for r in c.residues():
            if c.id != chain or r.name in ("HOH", "WAT", "DOD") or not lo <= int(r.id) <= hi:
                drop.append(r)
    mod = app.Modeller(fixer.topology, fixer.positions)
    mod.delete(drop)
    fixer.topology, fixer.positions = mod.topology, mod.positions
    kept = [c for c in fixer.topology.chains() if len(list(c.residues()))]
    if not kept:
        raise ValueError(f"{raw}: chain {chain!r} has no residues in [{lo}, {hi}]")
    fixer.findMissingResidues()
    lengths = {c.index: len(list(c.residues())) for c in fixer.topology.chains()}
    # fill internal gaps only: residues outside the kept range stay out
    fixer.missingResidues = {k: v for k, v in fixer.missingResidues.items() if 0 < k[1] < lengths[k[0]]}
    fixer.findNonstandardResidues()
    fixer.replaceNonstandardResidues()
    fixer.removeHeterogens(keepWater=False)
    fixer.findMissingAtoms()
    fixer.addMissingAtoms()
    fixer.addMissingHydrogens(ph)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as f:
        app.PDBFile.writeFile(fixer.topology, fixer.positions, f, keepIds=True)
    return out


def _download(url: str, path: Path, timeout: float = 60.0) -> Path:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            data = r.read()
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"could not download {url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, OSError) as e:
        raise RuntimeError(f"could not download {url}: {getattr(e, 'reason', e)}") from None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@functools.lru_cache(maxsize=None)
def _forcefield(solvent: str):
    from openmm import app

    return app.ForceField("amber14-all.xml", f"implicit/{solvent}.xml")


def _kabsch_rmsd(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean(0)
    b = b - b.mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    d = np.sign(np.linalg.det(u @ vt))
    s[-1] *= d
    return float(np.sqrt(max(((a**2).sum() + (b**2).sum() - 2 * s.sum()) / len(a), 0.0)))


def pair_distance_features(coords: np.ndarray, min_sep: int = 3) -> np.ndarray:
    """(F, P) Cα–Cα distances of pairs i < j with j - i >= ``min_sep`` (all pairs if there are none)."""
    n = coords.shape[1]
    i, j = np.triu_indices(n, k=min_sep)
    if not len(i):
        i, j = np.triu_indices(n, k=1)
    return np.linalg.norm(coords[:, i] - coords[:, j], axis=-1)


def k_centres(features: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """Greedy farthest-point k-centres: ``k`` distinct row indices, the first drawn with ``rng``."""
    n = len(features)
    k = min(k, n)
    x = np.asarray(features, np.float64)
    chosen = [int(rng.integers(n))]
    mind = np.linalg.norm(x - x[chosen[0]], axis=1)
    mind[chosen[0]] = -np.inf
    for _ in range(k - 1):
        c = int(np.argmax(mind))
        chosen.append(c)
        mind = np.minimum(mind, np.linalg.norm(x - x[c], axis=1))
        mind[chosen] = -np.inf
    return np.array(chosen, dtype=np.int64)


@register
class NTL9(System):
    """NTL9 (K12M) with Cα beads, one bead type per amino acid (:mod:`cgexplain.core.residues`)."""

    name = "ntl9"
    periodic = False
    figures = ("protein",)
    analysis_keys = ("mutations",)
    config_schema = {
        "properties": {
            "mutations": {"type": "array", "uniqueItems": True,
                          "items": {"type": "string", "pattern": "^[A-Z]{3}[0-9]+[A-Z]{3}$"},
                          "description": "bead-type mutations explained on the folded frames, e.g. LEU30PHE"},
            "sequence": {"type": "string", "pattern": "^[ACDEFGHIKLMNPQRSTVWY]+$",
                         "description": "one-letter sequence, checked against the structure's residues"},
            "data": {
                "type": "object",
                "additionalProperties": False,
                "required": ["route"],
                "properties": {
                    "route": {"enum": ["openmm", "majewski"], "default": "openmm"},
                    "structure": {"type": "string", "default": DEFAULT_DATA["structure"]},
                    "pdb_id": {"type": ["string", "null"], "pattern": "^[0-9][A-Za-z0-9]{3}$", "default": None},
                    "residues": {"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 2,
                                 "default": [1, 39]},
                    "local_dir": {"type": ["string", "null"], "default": None},
                    "urls": {"type": "object", "additionalProperties": {"type": "string"}, "default": {}},
                    "max_frames": {"type": ["integer", "null"], "minimum": 1, "default": None},
                },
            },
            "md": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    "implicit_solvent": {"enum": list(SOLVENTS), "default": "gbn2"},
                    "nonbonded_cutoff_nm": {"type": ["number", "null"], "minimum": MIN_CUTOFF_NM, "default": None},
                    "timestep_fs": {**_POS, "default": 2.0},
                    "save_interval_ps": _POS,
                    "equilibration_ps": _NONNEG,
                    "production_ps": _POS,
                    "n_folded": {"type": "integer", "minimum": 0, "default": 1},
                    "n_unfolded": {"type": "integer", "minimum": 0, "default": 1},
                    "unfold_temperature_K": {**_POS, "default": 800.0},
                    "unfold_ps": {**_NONNEG, "default": 100.0},
                },
            },
        },
        "required": ["sequence", "data"],
    }

    # -- reference data -----------------------------------------------------------------------
    def route(self, cfg: dict) -> str:
        r = _data(cfg)["route"]
        if r not in ("openmm", "majewski"):
            raise ValueError(f"systems.ntl9.data.route must be 'openmm' or 'majewski', got {r!r}")
        return "md" if r == "openmm" else "import"

    def label(self, cfg: dict) -> str:
        if _data(cfg)["route"] == "majewski":
            return "NTL9 (published Cα data, Majewski et al. 2023)"
        solvent = str(_md(cfg).get("implicit_solvent", "gbn2")).upper()
        return f"NTL9 (own amber14 + {solvent} implicit-solvent MD)"

    def n_replicas(self, cfg: dict) -> int:
        md = _md(cfg)
        n = int(md["n_folded"]) + int(md["n_unfolded"])
        if n < 1:
            raise ValueError("systems.ntl9.md: n_folded + n_unfolded must be at least 1")
        return n

    def needs_fetch(self, cfg: dict) -> bool:
        d = _data(cfg)
        if self.route(cfg) == "md":
            return bool(d["pdb_id"])
        return not d["local_dir"]

    def fetch(self, cfg: dict, dest: Path) -> None:
        d = _data(cfg)
        dest = Path(dest)
        if self.route(cfg) == "import":
            from ..data import majewski

            majewski.fetch(d["urls"], dest, name="ntl9")
            return
        if not d["pdb_id"]:
            return
        pdb_id = str(d["pdb_id"]).upper()
        raw = _download(RCSB_URL.format(pdb_id), dest / f"{pdb_id}.pdb")
        out = prepare_pdb_entry(raw, dest / "structure.pdb", chain="A", residues=d["residues"])
        _log(f"fetched PDB {pdb_id}, chain A residues {d['residues'][0]}-{d['residues'][1]}, "
             f"protonated at pH 7 -> {out}")

    def config_errors(self, cfg: dict) -> list[tuple[str, str]]:
        """Each mutation must name the residue the sequence has at that position; ``data.residues`` is
        an ordered range; the openmm route runs at least one replica."""
        from ..core.residues import parse_mutation

        names = type_names(np.array([residue_type(c) for c in cfg["sequence"]]))
        errors = []
        lo, hi = _data(cfg)["residues"]
        if lo > hi:
            errors.append(("data.residues", f"[{lo}, {hi}] is not a range: the first residue comes after the last"))
        md = _md(cfg)
        if _data(cfg)["route"] == "openmm" and int(md["n_folded"]) + int(md["n_unfolded"]) < 1:
            errors.append(("md.n_folded", "n_folded + n_unfolded is 0: the openmm route needs at least one replica"))
        for k, m in enumerate(cfg.get("mutations", [])):
            try:
                parse_mutation(m, names)
            except ValueError as e:
                errors.append((f"mutations.{k}", str(e)))
        return errors

    def structure_path(self, cfg: dict, source: Path | None = None) -> Path:
        """The folded all-atom structure: the MD start, and the reference for DSSP and native contacts."""
        d = _data(cfg)
        if d["pdb_id"]:
            if source is None:
                raise ValueError("systems.ntl9.data.pdb_id is set but no fetched folder was given")
            return Path(source) / "structure.pdb"
        return Path(d["structure"])

    def build(self, cfg: dict, replica: int, seed: int, source: Path | None = None):
        """(topology, system, positions) of the folded structure; the same for every replica (the
        unfolded replicas are made by :meth:`prepare_replica`)."""
        from openmm import app, unit

        path = self.structure_path(cfg, source)
        top, pos = load_structure(path)
        check_sequence(top, cfg["sequence"], path)
        md = _md(cfg)
        solvent = md["implicit_solvent"]
        if solvent not in SOLVENTS:
            raise ValueError(f"systems.ntl9.md.implicit_solvent must be one of {SOLVENTS}, got {solvent!r}")
        cutoff = md["nonbonded_cutoff_nm"]
        kw = ({"nonbondedMethod": app.NoCutoff} if cutoff is None else
              {"nonbondedMethod": app.CutoffNonPeriodic, "nonbondedCutoff": float(cutoff) * unit.nanometer})
        try:
            system = _forcefield(solvent).createSystem(top, constraints=app.HBonds, **kw)
        except ValueError as e:
            raise ValueError(f"{path}: amber14-all.xml + implicit/{solvent}.xml do not accept the structure: "
                             f"{str(e).splitlines()[0]}") from None
        return top, system, pos

    def prepare_replica(self, sim, cfg: dict, replica: int, seed: int) -> None:
        """Replicas ``>= n_folded``: unfold at ``unfold_temperature_K`` for ``unfold_ps`` (velocities
        drawn there), then return to ``temperature_K`` with fresh velocities. The simulation's step
        counter and time are restored, so equilibration starts at step 0 as for a folded replica."""
        from openmm import unit

        md = _md(cfg)
        if replica < int(md["n_folded"]):
            return
        T, Tu, ps = _temperature(cfg), float(md["unfold_temperature_K"]), float(md["unfold_ps"])
        integ = sim.integrator
        dt_ps = integ.getStepSize().value_in_unit(unit.picosecond)
        n_steps = int(round(ps / dt_ps))
        step0, time0 = sim.currentStep, sim.context.getTime()
        ca = [a.index for a in sim.topology.atoms() if a.name == "CA"]
        x0 = sim.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)[ca]
        _log(f"ntl9 replica {replica}: unfolding at {Tu:g} K for {ps:g} ps ({n_steps} steps)")
        integ.setTemperature(Tu * unit.kelvin)
        sim.context.setVelocitiesToTemperature(Tu * unit.kelvin, _seed(seed, 1))
        sim.step(n_steps)
        st = sim.context.getState(getPositions=True, getEnergy=True)
        e = st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole)
        if not math.isfinite(e):
            raise RuntimeError(f"ntl9 replica {replica}: energy is {e} after unfolding at {Tu:g} K; "
                               f"lower md.unfold_temperature_K or md.timestep_fs")
        rmsd = _kabsch_rmsd(st.getPositions(asNumpy=True).value_in_unit(unit.angstrom)[ca], x0)
        integ.setTemperature(T * unit.kelvin)
        sim.context.setVelocitiesToTemperature(T * unit.kelvin, _seed(seed, 2))
        sim.currentStep = step0
        sim.context.setTime(time0)
        _log(f"ntl9 replica {replica}: unfolded (Cα RMSD {rmsd:.2f} Å from the folded start); "
             f"back to {T:g} K with new velocities")

    def import_dataset(self, cfg: dict, source: Path, out: Path, val_fraction: float, seed: int) -> dict:
        """The Majewski et al. Cα dataset in ``data.local_dir`` (or the fetched folder ``source``)."""
        from ..data import majewski

        d = _data(cfg)
        src = Path(d["local_dir"]) if d["local_dir"] else source
        if src is None:
            raise ValueError("systems.ntl9.data: neither local_dir nor a fetched folder for the majewski route")
        return majewski.import_dataset(src, out, name="ntl9", sequence=cfg["sequence"],
                                       temperature_K=_temperature(cfg), val_fraction=val_fraction, seed=seed,
                                       max_frames=d.get("max_frames"))

    # -- CG map and simulation ----------------------------------------------------------------
    def cg_map(self, atoms: AtomTable) -> CGMap:
        """Cα beads in residue order; each bead's force is the Cα force plus the forces of the
        hydrogens bonded to the Cα (HA; HA2 and HA3 on glycine), found through ``atoms.bonds``.

        Those hydrogens are exactly the atoms HBonds constraints tie to the Cα, so every constraint
        joins two atoms of one bead or two unmapped atoms: the equal and opposite constraint forces
        cancel within a bead, and the mapped forces are consistent with the constrained dynamics
        (force matching). All other atoms (side chains, backbone N/C/O and their hydrogens, caps)
        map to no bead (-1); caps (ACE, NHE, NME) have no Cα and are no beads. Bonds join Cα beads
        of consecutive residues linked by a peptide bond (one chain: ``chain_bonds(N)``).
        """
        if atoms.atom_names is None or atoms.residue_names is None or atoms.bonds is None:
            raise ValueError("the NTL9 CG map needs atom_names, residue_names and bonds in the atom table")
        names = np.char.strip(np.asarray(atoms.atom_names).astype(str))
        elements = np.char.strip(np.char.upper(np.asarray([e.decode() if isinstance(e, bytes) else str(e)
                                                           for e in atoms.elements])))
        res = np.asarray(atoms.residue, np.int64)
        resnames = np.char.strip(np.asarray(atoms.residue_names).astype(str))
        n_atoms = len(names)
        ca = np.flatnonzero((names == "CA") & (elements == "C"))
        if not len(ca):
            raise ValueError("no Cα atoms (name CA, element C) in the atom table")
        ca = ca[np.lexsort((ca, res[ca]))]
        if len(np.unique(res[ca])) != len(ca):
            raise ValueError("more than one Cα atom in a residue")
        n = len(ca)
        force_bead = np.full(n_atoms, -1, np.int64)
        force_bead[ca] = np.arange(n)
        bonds = np.asarray(atoms.bonds, np.int64).reshape(-1, 2)
        if not len(bonds):
            raise ValueError("the atom table has no bonds: the NTL9 CG map needs them to find the Cα hydrogens")
        for a, b in ((bonds[:, 0], bonds[:, 1]), (bonds[:, 1], bonds[:, 0])):
            sel = (names[a] == "CA") & (elements[a] == "C") & (elements[b] == "H")
            force_bead[b[sel]] = force_bead[a[sel]]
        z = np.array([residue_type(resnames[i]) for i in ca], np.int64)
        # consecutive Cα beads are bonded when a peptide bond links them: CA_i - C - N - CA_{i+1}
        nbr: dict[int, set[int]] = {}
        for a, b in bonds:
            nbr.setdefault(int(a), set()).add(int(b))
            nbr.setdefault(int(b), set()).add(int(a))
        linked = [any(nbr.get(c, set()) & nbr.get(int(ca[k + 1]), set()) for c in nbr.get(int(ca[k]), ()))
                  for k in range(n - 1)]
        cg_bonds = chain_bonds(n)[np.asarray(linked, bool)] if n > 1 else chain_bonds(n)
        return CGMap(bead_atom=ca, force_bead=force_bead, z=z, bead_names=type_names(z), bonds=cg_bonds)

    def start_frames(self, data: dict, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` diverse training frames: greedy k-centres on the Cα–Cα distances (pairs at least 3
        apart in sequence) of at most ~5000 evenly spaced training frames, the first centre drawn
        with ``rng``; more replicas than frames cycle through the centres."""
        train = np.asarray(data["train_idx"], np.int64)
        if not len(train) or n < 1:
            raise ValueError(f"cannot pick {n} start frames from {len(train)} training frames")
        sub = train[::max(1, math.ceil(len(train) / MAX_KCENTER_FRAMES))]
        feats = pair_distance_features(np.asarray(data["coords"][sub], np.float64))
        picks = sub[k_centres(feats, n, rng)]
        return np.resize(picks, n) if n > len(picks) else picks
