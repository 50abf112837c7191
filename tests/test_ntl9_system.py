"""The NTL9 system: C-terminus repair, build, Cα force map, unfolding replicas, k-centre start frames."""

import io
import urllib.error
import urllib.request
from pathlib import Path

import jsonschema
import numpy as np
import openmm
import pytest
from cgexplain.core.residues import ca_bead_mass, chain_bonds, sequence_types
from cgexplain.systems import AtomTable, get_system
from cgexplain.systems import ntl9 as ntl9_mod
from openmm import app, unit

REPO = Path(__file__).resolve().parents[1]
STRUCTURE = REPO / "resources" / "ntl9" / "ntl9_folded.pdb"
SEQ = "MKVIFLKDVKGMGKKGEIKNVADGYANNFLFKQGLAIEA"
KJ_NM = unit.kilojoule_per_mole / unit.nanometer
#: the fastest implicit-solvent setting on the CPU platform (the MD tests' system; the default is gbn2, NoCutoff)
FAST = {"implicit_solvent": "obc2", "nonbonded_cutoff_nm": 1.0}


def make_cfg(data=None, **md):
    return {"sequence": SEQ, "temperature_K": 350.0,
            "data": {"route": "openmm", "structure": str(STRUCTURE), **(data or {})},
            "md": {"friction_per_ps": 1.0, "platform": "CPU", "timestep_fs": 2.0, **md}}


def atom_table(topology, system) -> AtomTable:
    atoms = list(topology.atoms())
    return AtomTable(
        masses=np.array([system.getParticleMass(a.index).value_in_unit(unit.dalton) for a in atoms]),
        elements=np.array([a.element.symbol for a in atoms]),
        residue=np.array([a.residue.index for a in atoms]),
        atom_names=np.array([a.name for a in atoms]),
        residue_names=np.array([a.residue.name for a in atoms]),
        bonds=np.array([[b[0].index, b[1].index] for b in topology.bonds()]))


def cpu_simulation(top, system, positions, seed=1, temperature=350.0):
    integ = openmm.LangevinMiddleIntegrator(temperature * unit.kelvin, 1.0 / unit.picosecond,
                                            2.0 * unit.femtosecond)
    integ.setRandomNumberSeed(seed)
    sim = app.Simulation(top, system, integ, openmm.Platform.getPlatformByName("CPU"), {"Threads": "2"})
    sim.context.setPositions(positions)
    return sim


def kinetic_temperature(sim) -> float:
    st = sim.context.getState(getEnergy=True)
    dof = 3 * sim.system.getNumParticles() - sim.system.getNumConstraints() - 3
    ke = st.getKineticEnergy().value_in_unit(unit.kilojoule_per_mole)
    return 2 * ke / (dof * unit.MOLAR_GAS_CONSTANT_R.value_in_unit(unit.kilojoule_per_mole / unit.kelvin))


def gb_parameters(system) -> list[str]:
    """Per-particle parameters of the implicit-solvent force (GBn2 has the neck parameters, OBC2 not)."""
    gb = next(f for f in system.getForces() if isinstance(f, openmm.CustomGBForce))
    return [gb.getPerParticleParameterName(i) for i in range(gb.getNumPerParticleParameters())]


def heavy_atom_pdb(path):
    """The shipped structure without hydrogens (like an X-ray PDB entry), as PDB text."""
    top, pos = ntl9_mod.load_structure(STRUCTURE)
    m = app.Modeller(top, pos)
    m.delete([a for a in m.topology.atoms() if a.element.symbol == "H"])
    with open(path, "w") as f:
        app.PDBFile.writeFile(m.topology, m.positions, f, keepIds=True)
    return path


def fake_entry(path):
    """A PDB-entry-like file: SEQRES longer than the coordinates (a disordered tail), a second chain,
    crystal water, no hydrogens."""
    heavy = heavy_atom_pdb(path).read_text().splitlines()
    atoms = [ln for ln in heavy if ln.startswith("ATOM")]
    three = [r.name for r in app.PDBFile(str(path)).topology.residues()][:39] + ["GLY", "SER", "ALA"]
    seqres = [f"SEQRES {k + 1:3d} A {len(three):4d}  " + " ".join(three[i:i + 13])
              for k, i in enumerate(range(0, len(three), 13))]
    chain_b = [ln[:21] + "B" + ln[22:30] + f"{float(ln[30:38]) + 40:8.3f}" + ln[38:] for ln in atoms]
    water = "HETATM 9000  O   HOH A 101      10.000  10.000  10.000  1.00  0.00           O  "
    path.write_text("\n".join(seqres + atoms + ["TER"] + chain_b + ["TER", water, "END"]) + "\n")
    return path


@pytest.fixture(scope="module")
def ntl9():
    system = get_system("ntl9")
    top, sys_, pos = system.build(make_cfg(**FAST), replica=0, seed=1)
    sim = cpu_simulation(top, sys_, pos)
    sim.minimizeEnergy(maxIterations=20)
    minimised = sim.context.getState(getPositions=True).getPositions(asNumpy=True)
    return system, top, sys_, minimised


# -- structure and build ------------------------------------------------------------------------

def test_charmm_amide_cterm_is_moved_into_an_nhe_cap():
    text = STRUCTURE.read_text()
    with pytest.warns(UserWarning, match="duplicate atom"):
        raw = app.PDBFile(io.StringIO(text))       # OpenMM drops the amide H named like the backbone H
    assert raw.topology.getNumAtoms() == 623
    with pytest.raises(ValueError, match="template"):
        ntl9_mod._forcefield("gbn2").createSystem(raw.topology, constraints=app.HBonds)

    fixed, n = ntl9_mod.fix_charmm_amide_cterm(text)
    assert n == 1
    assert ntl9_mod.fix_charmm_amide_cterm(fixed) == (fixed, 0)
    top, pos = ntl9_mod.load_structure(STRUCTURE)
    res = list(top.residues())
    assert top.getNumAtoms() == 624 and len(res) == 40
    assert res[-2].name == "ALA" and sorted(a.name for a in res[-2].atoms()) == sorted(
        ["N", "H", "CA", "HA", "CB", "HB1", "HB2", "HB3", "C", "O"])
    assert res[-1].name in ("NHE", "NH2") and sorted(a.name for a in res[-1].atoms()) == ["HN1", "HN2", "N"]
    assert top.getPeriodicBoxVectors() is None
    # the cap is peptide-bonded to ALA 39 and carries both amide hydrogens
    bonded = {frozenset((a.name + a.residue.id, b.name + b.residue.id)) for a, b in top.bonds()}
    assert {frozenset(("C39", "N40")), frozenset(("N40", "HN140")), frozenset(("N40", "HN240"))} <= bonded
    x = pos.value_in_unit(unit.angstrom)
    n_cap = [a.index for a in res[-1].atoms()]
    assert np.all(np.linalg.norm(x[n_cap[1:]] - x[n_cap[0]], axis=1) < 1.1)


def test_build_ntl9_maps_39_calpha_and_runs_at_350K(ntl9):
    system, top, sys_, pos = ntl9
    assert not sys_.usesPeriodicBoundaryConditions()
    assert sys_.getNumParticles() == 624

    atoms = atom_table(top, sys_)
    cg = system.cg_map(atoms)
    assert len(cg.bead_atom) == 39
    np.testing.assert_array_equal(cg.z, sequence_types(SEQ))
    np.testing.assert_array_equal(cg.bonds, chain_bonds(39))
    assert cg.bead_names[0] == "MET" and cg.bead_names[-1] == "ALA"
    # amber14's carbon is 12.01 amu, protein.CA_MASS 12.011
    np.testing.assert_allclose(cg.bead_masses(atoms.masses), [ca_bead_mass(n) for n in cg.bead_names], atol=2e-3)
    cap = [a.index for a in list(top.residues())[-1].atoms()]
    assert np.all(cg.force_bead[cap] == -1)
    # constrained pairs never straddle a bead: constraint forces cancel in the mapped forces
    for k in range(sys_.getNumConstraints()):
        i, j, _ = sys_.getConstraintParameters(k)
        assert cg.force_bead[i] == cg.force_bead[j]

    sim = cpu_simulation(top, sys_, pos, seed=3)
    sim.context.setVelocitiesToTemperature(350 * unit.kelvin, 3)
    sim.step(200)
    st = sim.context.getState(getPositions=True, getEnergy=True)
    assert np.isfinite(st.getPotentialEnergy().value_in_unit(unit.kilojoule_per_mole))
    assert np.all(np.isfinite(st.getPositions(asNumpy=True).value_in_unit(unit.nanometer)))
    assert 150 < kinetic_temperature(sim) < 550


def test_build_options_and_sequence_check():
    system = get_system("ntl9")
    _, sys_, _ = system.build(make_cfg(), 0, 1)           # defaults: GBn2, no cutoff
    assert gb_parameters(sys_) == ["charge", "or", "sr", "alpha", "beta", "gamma", "radindex"]
    nb = next(f for f in sys_.getForces() if isinstance(f, openmm.NonbondedForce))
    assert nb.getNonbondedMethod() == openmm.NonbondedForce.NoCutoff
    assert sys_.getNumConstraints() == 323 and not sys_.usesPeriodicBoundaryConditions()
    _, sys_, _ = system.build(make_cfg(implicit_solvent="obc2", nonbonded_cutoff_nm=1.5), 0, 1)
    assert gb_parameters(sys_) == ["charge", "or", "sr"]     # OBC2
    nb = next(f for f in sys_.getForces() if isinstance(f, openmm.NonbondedForce))
    assert nb.getNonbondedMethod() == openmm.NonbondedForce.CutoffNonPeriodic
    assert nb.getCutoffDistance().value_in_unit(unit.nanometer) == pytest.approx(1.5)

    wrong = make_cfg()
    wrong["sequence"] = SEQ.replace("MKVIF", "MKVAF")
    with pytest.raises(ValueError) as e:
        system.build(wrong, 0, 1)
    assert "\n" not in str(e.value) and "at residue 4" in str(e.value)
    wrong["sequence"] = SEQ[:-1]
    with pytest.raises(ValueError, match="39 residues"):
        system.build(wrong, 0, 1)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        system.build(make_cfg({"structure": str(REPO / "nope.pdb")}), 0, 1)


# -- the Cα force map on a small peptide --------------------------------------------------------

def test_calpha_force_map_on_a_peptide(tmp_path):
    raw = heavy_atom_pdb(tmp_path / "heavy.pdb")
    path = ntl9_mod.prepare_pdb_entry(raw, tmp_path / "kgmgk.pdb", chain="A", residues=(10, 14))
    pdb = app.PDBFile(str(path))
    top = pdb.topology
    assert ntl9_mod.structure_sequence(top) == "KGMGK"
    sys_ = ntl9_mod._forcefield("gbn2").createSystem(top, nonbondedMethod=app.NoCutoff, constraints=app.HBonds)
    ctx = openmm.Context(sys_, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(pdb.positions)
    f = ctx.getState(getForces=True).getForces(asNumpy=True).value_in_unit(KJ_NM)
    x = np.asarray(pdb.getPositions(asNumpy=True).value_in_unit(unit.angstrom))

    atoms = atom_table(top, sys_)
    cg = get_system("ntl9").cg_map(atoms)
    np.testing.assert_array_equal(cg.z, sequence_types("KGMGK"))
    np.testing.assert_array_equal(cg.bead_names, ["LYS", "GLY", "MET", "GLY", "LYS"])
    np.testing.assert_array_equal(cg.bonds, chain_bonds(5))
    np.testing.assert_allclose(cg.bead_masses(atoms.masses), [12.01 + 1.008 * (2 if r == "GLY" else 1)
                                                              for r in cg.bead_names])
    bonded = {frozenset((a.index, b.index)) for a, b in top.bonds()}
    mapped_f = np.zeros((5, 3))
    np.add.at(mapped_f, cg.force_bead[cg.force_bead >= 0], f[cg.force_bead >= 0])
    for k, res in enumerate(top.residues()):
        by_name = {a.name: a.index for a in res.atoms()}
        ca = by_name["CA"]
        has = ["HA2", "HA3"] if res.name == "GLY" else ["HA"]
        assert cg.bead_atom[k] == ca
        members = set(np.flatnonzero(cg.force_bead == k))
        assert members == {ca, *(by_name[h] for h in has)}
        for h in has:
            assert frozenset((ca, by_name[h])) in bonded
            assert 0.9 < np.linalg.norm(x[by_name[h]] - x[ca]) < 1.3   # pdbfixer-placed: ~1.09-1.21 Å
        expected = f[ca] + sum(f[by_name[h]] for h in has)
        np.testing.assert_allclose(mapped_f[k], expected, rtol=1e-12, atol=1e-9)
        assert np.linalg.norm(expected - f[ca]) > 1e-3        # the HA forces are really added
    assert (cg.force_bead >= 0).sum() == 5 + 7                  # 5 Cα, 3 HA, 2 × (HA2, HA3)
    names = np.array([a.name for a in top.atoms()])
    assert np.all(cg.force_bead[np.isin(names, ["N", "H", "H1", "H2", "H3", "C", "O", "OXT", "CB"])] == -1)
    for k in range(sys_.getNumConstraints()):
        i, j, _ = sys_.getConstraintParameters(k)
        assert cg.force_bead[i] == cg.force_bead[j]

    with pytest.raises(ValueError, match="bonds"):
        get_system("ntl9").cg_map(AtomTable(atoms.masses, atoms.elements, atoms.residue, atoms.atom_names,
                                            atoms.residue_names, None))


# -- unfolded replicas ---------------------------------------------------------------------------

def _ca_rmsd(sim, ca, x0):
    x = sim.context.getState(getPositions=True).getPositions(asNumpy=True).value_in_unit(unit.angstrom)[ca]
    return ntl9_mod._kabsch_rmsd(x, x0)


def test_prepare_replica_unfolds_only_the_unfolded_replicas(ntl9, capsys):
    system, top, sys_, pos = ntl9
    cfg = make_cfg(n_folded=1, n_unfolded=1, unfold_temperature_K=1500.0, unfold_ps=0.1, **FAST)
    assert system.n_replicas(cfg) == 2
    ca = [a.index for a in top.atoms() if a.name == "CA"]
    x0 = pos.value_in_unit(unit.angstrom)[ca]
    rmsd = {}
    for replica in (0, 1):
        sim = cpu_simulation(top, sys_, pos, seed=11)
        sim.context.setVelocitiesToTemperature(350 * unit.kelvin, 11)
        system.prepare_replica(sim, cfg, replica=replica, seed=11)
        assert sim.currentStep == 0 and sim.context.getTime().value_in_unit(unit.picosecond) == 0
        assert sim.integrator.getTemperature().value_in_unit(unit.kelvin) == pytest.approx(350.0)
        assert 250 < kinetic_temperature(sim) < 460          # velocities drawn at 350 K again (not 1500 K)
        if replica == 0:                                     # folded: untouched, then the same 0.1 ps at 350 K
            assert _ca_rmsd(sim, ca, x0) < 1e-6
            sim.step(50)
        rmsd[replica] = _ca_rmsd(sim, ca, x0)
    err = capsys.readouterr().err
    assert "unfolding at 1500 K for 0.1 ps (50 steps)" in err and "back to 350 K" in err
    assert rmsd[1] > 1.3 * rmsd[0], rmsd


# -- start frames --------------------------------------------------------------------------------

def _chain(n, scale, rng, noise=0.05):
    x = np.zeros((n, 3))
    x[:, 0] = np.arange(n) * 3.8 * scale
    return x + rng.normal(scale=noise, size=x.shape)


def test_start_frames_pick_the_outliers_with_kcentres():
    rng = np.random.default_rng(0)
    n_beads = 12
    frames = [_chain(n_beads, 1.0, rng) for _ in range(300)]
    outliers = {40: 0.3, 150: 2.0, 260: 3.5}                    # compact and stretched conformations
    for i, s in outliers.items():
        frames[i] = _chain(n_beads, s, rng)
    frames.append(_chain(n_beads, 6.0, rng))                    # frame 300: the most extreme, validation only
    data = {"coords": np.array(frames, np.float32), "train_idx": np.arange(300), "val_idx": np.array([300])}
    system = get_system("ntl9")
    for seed in range(5):
        picks = system.start_frames(data, 4, np.random.default_rng(seed))
        assert len(picks) == 4 and len(set(picks.tolist())) == 4
        assert set(outliers) <= set(picks.tolist())
        assert 300 not in picks
    # more replicas than frames: every frame, then repeated
    small = {"coords": data["coords"][:3], "train_idx": np.arange(3), "val_idx": np.array([], int)}
    picks = system.start_frames(small, 7, np.random.default_rng(1))
    assert len(picks) == 7 and set(picks.tolist()) == {0, 1, 2}
    # large sets are subsampled evenly before the k-centres
    big = {"coords": np.repeat(data["coords"][:300], 40, axis=0), "train_idx": np.arange(12000)}
    picks = system.start_frames(big, 8, np.random.default_rng(2))
    assert len(set(picks.tolist())) == 8 and np.all(picks % 3 == 0)


# -- config, routes, fetch -----------------------------------------------------------------------

def test_config_schema_and_routes():
    system = get_system("ntl9")
    schema = {"type": "object", "additionalProperties": False, **system.config_schema}
    block = {"sequence": SEQ,
             "data": {"route": "openmm", "structure": "resources/ntl9/ntl9_folded.pdb", "pdb_id": None,
                      "residues": [1, 39], "local_dir": None, "urls": {}, "max_frames": None},
             "md": {"implicit_solvent": "gbn2", "nonbonded_cutoff_nm": None, "timestep_fs": 2.0,
                    "save_interval_ps": 1.0, "equilibration_ps": 10.0, "production_ps": 100.0,
                    "n_folded": 1, "n_unfolded": 1, "unfold_temperature_K": 800.0, "unfold_ps": 100.0}}
    jsonschema.validate(block, schema)
    for bad in ({"data": {"route": "gromacs"}}, {"md": {"implicit_solvent": "gbsa"}},
                {"data": {"route": "openmm", "pdb_id": "XYZ"}}, {"data": {"route": "openmm", "typo": 1}},
                {"sequence": "MKB"}):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate({**block, **bad}, schema)

    assert system.route(block) == "md" and system.n_replicas(block) == 2 and not system.needs_fetch(block)
    assert system.needs_fetch({**block, "data": {"route": "openmm", "pdb_id": "2HBA"}})
    maj = {**block, "data": {"route": "majewski", "urls": {"coords": "https://example.org/c.npy"}}}
    assert system.route(maj) == "import" and system.needs_fetch(maj)
    assert not system.needs_fetch({**block, "data": {"route": "majewski", "local_dir": "/data/ntl9"}})
    assert system.periodic is False and system.figures == ("protein",)


def test_fetch_pdb_entry_offline(tmp_path, monkeypatch):
    raw = fake_entry(tmp_path / "raw.pdb").read_bytes()
    urls = []

    def fake_urlopen(url, timeout=None):
        urls.append(url)
        return io.BytesIO(raw)

    monkeypatch.setattr(urllib.request, "urlopen", fake_urlopen)
    system = get_system("ntl9")
    cfg = make_cfg({"pdb_id": "2hba", "residues": [1, 39]})
    dest = tmp_path / "fetched"
    system.fetch(cfg, dest)
    assert urls == ["https://files.rcsb.org/download/2HBA.pdb"]
    top, sys_, _ = system.build(cfg, 0, 1, source=dest)
    assert ntl9_mod.structure_sequence(top) == SEQ
    assert top.getNumResidues() == 39 and top.getNumChains() == 1   # no tail, cap, chain B or water
    assert top.getNumAtoms() == 622                            # 624 - amide NH2 + OXT + H3 (free termini)
    assert "OXT" in {a.name for a in list(top.residues())[-1].atoms()}
    assert len(get_system("ntl9").cg_map(atom_table(top, sys_)).bead_atom) == 39

    def offline(url, timeout=None):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError) as e:
        system.fetch(cfg, tmp_path / "again")
    assert "\n" not in str(e.value) and "2HBA.pdb" in str(e.value) and e.value.__suppress_context__


def test_majewski_route_delegates(tmp_path, monkeypatch):
    import sys
    import types

    import cgexplain.data

    calls = []
    fake = types.ModuleType("cgexplain.data.majewski")
    fake.fetch = lambda urls, dest, name="ntl9": calls.append(("fetch", urls, dest, name)) or dest
    fake.import_dataset = lambda source, out, **kw: calls.append(("import", source, out, kw)) or {"n_frames": 1}
    monkeypatch.setitem(sys.modules, "cgexplain.data.majewski", fake)
    monkeypatch.setattr(cgexplain.data, "majewski", fake, raising=False)   # in case the real one was imported
    system = get_system("ntl9")
    urls = {"coords": "https://example.org/ntl9_ca_coords.npy"}
    cfg = {"sequence": SEQ, "temperature_K": 350.0,
           "data": {"route": "majewski", "urls": urls, "max_frames": 1000}, "md": {}}
    system.fetch(cfg, tmp_path / "src")
    assert calls.pop() == ("fetch", urls, tmp_path / "src", "ntl9")
    assert system.import_dataset(cfg, tmp_path / "src", tmp_path / "d.npz", 0.1, 5) == {"n_frames": 1}
    assert calls.pop() == ("import", tmp_path / "src", tmp_path / "d.npz",
                           {"name": "ntl9", "sequence": SEQ, "temperature_K": 350.0, "val_fraction": 0.1,
                            "seed": 5, "max_frames": 1000})
    local = {**cfg, "data": {"route": "majewski", "local_dir": str(tmp_path / "mine")}}
    system.import_dataset(local, None, tmp_path / "d.npz", 0.1, 5)
    assert calls.pop()[1] == tmp_path / "mine"
