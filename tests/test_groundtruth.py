"""Ground-truth systems: the per-term energies of cgexplain.systems.groundtruth add up to OpenMM's energy and
forces (Gō model of NTL9 and mW water), OpenMM's mW equals LAMMPS's pair_style sw, the Gō native
structure is a minimum, and a mutation changes exactly the pair energies of the mutated bead.
Reference platform (double precision) throughout; one thread."""

import os
import shutil

import numpy as np
import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")

openmm = pytest.importorskip("openmm")
from cgexplain.systems import AtomTable, get_system  # noqa: E402
from cgexplain.systems import groundtruth as gt  # noqa: E402
from cgexplain.systems import mw_water as mw  # noqa: E402
from cgexplain.systems import ntl9_go as go  # noqa: E402
from openmm import unit  # noqa: E402


@pytest.fixture(scope="module")
def model():
    return go.build_model()


@pytest.fixture(scope="module")
def go_frames(model):
    """Native + noise, and a strongly perturbed (partly unfolded) frame."""
    rng = np.random.default_rng(3)
    x = model.native
    far = x.copy()
    far[30:] += np.array([4.0, -3.0, 2.0])  # tear off the C-terminal part: contacts broken, bonds stretched
    return [x, x + rng.normal(0, 0.25, x.shape), far + rng.normal(0, 0.4, x.shape)]


def test_go_model_numbers(model):
    s = model.summary()
    assert (s["n_beads"], s["n_contacts"], s["n_triangles"]) == (39, 80, 5)
    assert s["n_contacts"] + s["n_repulsive"] == 39 * 38 // 2 - 38 - 37 - 36  # every |i - j| >= 4 pair
    assert len(s["destabilising"]) == 7 and ("VAL3", "GLU38") in [(a, b) for a, b, _ in s["destabilising"]]
    c = np.flatnonzero((model.contacts[:, 0] == 2) & (model.contacts[:, 1] == 37))[0]
    eps_ij = model.contact_eps[c]
    assert eps_ij < 0
    assert eps_ij == pytest.approx(go.CLASS_TABLE[0, 4] * model.params.eps_kcal * model.contact_region[c])
    dec = gt.decompose(model, model.native)
    pairs, e = dec.pairs()
    k = np.flatnonzero((pairs[:, 0] == 2) & (pairs[:, 1] == 37))[0]
    assert e[k] > abs(eps_ij)  # the planted pair costs energy when formed
    for kind in ("bond", "angle", "dihedral"):
        assert abs(dec.energy_of(kind)) < 1e-12        # native geometry is the bonded minimum
    assert dec.energy_of("triangle") < -0.9 * 5 * model.triangle_kappa_kcal


def test_go_decomposition_matches_openmm(model, go_frames):
    system = go.openmm_system(model)
    for x in go_frames:
        dec = gt.decompose(model, x, forces=True)
        e, f = gt.openmm_energy_forces(system, x)
        assert dec.total == pytest.approx(e, rel=1e-11, abs=1e-9)
        np.testing.assert_allclose(dec.forces, f, atol=1e-6 * max(1.0, np.abs(f).max()))
        for kind, group in go.FORCE_GROUPS.items():
            eg, _ = gt.openmm_energy_forces(system, x, groups={group})
            assert dec.energy_of(kind) == pytest.approx(eg, rel=1e-10, abs=1e-9), kind
        orders = dec.by_body_order()
        assert sum(v[1].sum() for v in orders.values()) == pytest.approx(dec.total, rel=1e-12, abs=1e-9)
        assert set(orders) == {2, 3, 4}


def test_go_triangle_is_three_body(model):
    """With one bead of a triangle far away the triangle term vanishes (no 2-body remainder)."""
    x = model.native.copy()
    i, j, k = model.triangles[0]
    Xt = x[[i, j, k]][None].copy()
    kap, p = model.triangle_kappa_kcal, model.params
    e = lambda X: gt.e_triangle(X, *model.triangle_sigma[0], kap, p.triangle_beta_per_A, p.triangle_tolerance)
    assert e(Xt)[0] < -0.9 * kap
    Xt[0, 2] += 30.0
    assert abs(e(Xt)[0]) < 1e-12


def test_go_native_is_minimum(model):
    system = go.openmm_system(model)
    ctx = openmm.Context(system, openmm.VerletIntegrator(0.001), openmm.Platform.getPlatformByName("Reference"))
    ctx.setPositions(model.native * 0.1 * unit.nanometer)
    e0 = ctx.getState(getEnergy=True).getPotentialEnergy()
    openmm.LocalEnergyMinimizer.minimize(ctx, 1e-3, 5000)
    st = ctx.getState(getEnergy=True, getPositions=True)
    x = st.getPositions(asNumpy=True).value_in_unit(unit.angstrom)
    a, b = x - x.mean(0), model.native - model.native.mean(0)
    u, s, vt = np.linalg.svd(a.T @ b)
    s[-1] *= np.sign(np.linalg.det(u @ vt))
    rmsd = np.sqrt(max(((a**2).sum() + (b**2).sum() - 2 * s.sum()) / len(a), 0.0))
    assert rmsd < 1.0
    assert st.getPotentialEnergy() <= e0


@pytest.mark.parametrize("mutation", ["ILE4ASN", "LEU30PHE", "VAL3ALA"])
def test_mutation_changes_only_pairs_of_the_bead(model, go_frames, mutation):
    mutant = model.mutate(mutation)
    bead = int(mutation[3:-3]) - 1
    assert mutant.sequence[bead] != model.sequence[bead]
    x = go_frames[1]
    d0, d1 = gt.decompose(model, x), gt.decompose(mutant, x)
    p0, e0 = d0.pairs()
    p1, e1 = d1.pairs()
    np.testing.assert_array_equal(p0, p1)
    changed = np.abs(e1 - e0) > 1e-12
    involves = (p0 == bead).any(1)
    assert not (changed & ~involves).any()
    if mutation == "VAL3ALA":          # same class (hydrophobic): nothing changes
        assert not changed.any()
    else:
        assert changed.any()
    for kind in ("bond", "angle", "dihedral", "repulsion", "triangle"):
        np.testing.assert_array_equal(d0.terms[kind].energy, d1.terms[kind].energy)
    # the OpenMM system of the mutant, and the wild type updated in place, give the mutant's energy
    sys_m = go.openmm_system(mutant)
    assert gt.openmm_energy_forces(sys_m, x)[0] == pytest.approx(d1.total, rel=1e-11)
    sys_w = go.openmm_system(model)
    go.update_contacts(mutant, sys_w)
    assert gt.openmm_energy_forces(sys_w, x)[0] == pytest.approx(d1.total, rel=1e-11)


def test_ile4asn_removes_destabilising_pairs(model):
    """ILE4 (hydrophobic) -> ASN (polar): its contacts with GLU17 and GLU38 turn attractive."""
    before = {tuple(p) for p in model.destabilising().tolist()}
    after = {tuple(p) for p in model.mutate("ILE4ASN").destabilising().tolist()}
    assert before - after == {(3, 16), (3, 37)}
    assert after <= before


def test_go_copies_do_not_interact(model, go_frames):
    system = go.openmm_system(model, n_copies=2)
    x = np.concatenate([go_frames[1], go_frames[2] + 1.0])  # overlapping copies
    e, f = gt.openmm_energy_forces(system, x)
    e1, f1 = gt.openmm_energy_forces(go.openmm_system(model), go_frames[1])
    e2, f2 = gt.openmm_energy_forces(go.openmm_system(model), go_frames[2] + 1.0)
    assert e == pytest.approx(e1 + e2, rel=1e-11)
    np.testing.assert_allclose(f, np.concatenate([f1, f2]), atol=1e-9)


def test_ntl9_go_contract(model):
    sysobj = get_system("ntl9_go")
    cfg = {"sequence": model.sequence, "temperature_K": 350.0}
    top, system, pos = sysobj.build(cfg, 0, 1)
    assert system.getNumParticles() == top.getNumAtoms() == 39
    atoms = list(top.atoms())
    table = AtomTable(masses=np.array([system.getParticleMass(a.index).value_in_unit(unit.dalton) for a in atoms]),
                      elements=np.array([a.element.symbol for a in atoms]),
                      residue=np.array([a.residue.index for a in atoms]),
                      atom_names=np.array([a.name for a in atoms]),
                      residue_names=np.array([a.residue.name for a in atoms]),
                      bonds=np.array([[b[0].index, b[1].index] for b in top.bonds()]))
    cg = sysobj.cg_map(table)
    np.testing.assert_array_equal(cg.bead_atom, np.arange(39))
    np.testing.assert_array_equal(cg.force_bead, np.arange(39))
    np.testing.assert_array_equal(cg.z, model.z)
    np.testing.assert_allclose(cg.bead_masses(table.masses), 100.0)
    assert not sysobj.config_errors({**cfg, "mutations": ["ILE4ASN", "LEU30PHE"]})
    assert sysobj.config_errors({**cfg, "mutations": ["LEU4ASN"]})


@pytest.fixture(scope="module")
def mw_frame():
    n = 96
    L = mw.box_edge_A(n)
    x = mw.lattice_positions(n, L, np.random.default_rng(5), jitter_A=0.45)
    x[::7] += L  # some beads outside the box: the truth and both codes wrap them
    return n, L, x


def test_mw_decomposition_matches_openmm(mw_frame):
    n, L, x = mw_frame
    box = np.full(3, L)
    system = mw.openmm_system(n, L)
    dec = gt.decompose(mw.MWModel(n, L), x, box=box, forces=True)
    e, f = gt.openmm_energy_forces(system, x, box=box)
    assert dec.total == pytest.approx(e, rel=1e-10)
    np.testing.assert_allclose(dec.forces, f, atol=1e-6 * np.abs(f).max())
    for kind, group in mw.FORCE_GROUPS.items():
        assert dec.energy_of(kind) == pytest.approx(gt.openmm_energy_forces(system, x, box=box, groups={group})[0],
                                                    rel=1e-10)
    trip, e3 = dec.triplets()
    assert e3.sum() == pytest.approx(dec.energy_of("sw3"), rel=1e-12)
    assert len(trip) <= len(dec.terms["sw3"].atoms)
    assert (np.diff(trip, axis=1) > 0).all()


@pytest.mark.skipif(shutil.which("lmp") is None, reason="LAMMPS (lmp) not installed")
def test_mw_openmm_equals_lammps(mw_frame, tmp_path):
    n, L, x = mw_frame
    e, f = gt.openmm_energy_forces(mw.openmm_system(n, L), x, box=np.full(3, L))
    el, fl = mw.lammps_energy_forces(x, L, workdir=tmp_path)
    # the LAMMPS file has cos θ0 = -0.333333333333 (12 digits), OpenMM -1/3
    assert el == pytest.approx(e, rel=1e-8, abs=1e-6)
    np.testing.assert_allclose(fl, f, atol=1e-6 * np.abs(f).max())


def test_go_models_of_different_eps_in_one_system(model, go_frames):
    """A list of models (e.g. ε scaled = other effective temperatures) in one system: energies add."""
    import dataclasses

    hot = go.build_model(params=dataclasses.replace(model.params, eps_kcal=0.5 * model.params.eps_kcal))
    system = go.openmm_system([model, hot])
    x = np.concatenate([go_frames[1], go_frames[2]])
    e = gt.openmm_energy_forces(system, x)[0]
    assert e == pytest.approx(gt.decompose(model, go_frames[1]).total + gt.decompose(hot, go_frames[2]).total,
                              rel=1e-11)
    assert gt.decompose(hot, go_frames[2]).total == pytest.approx(0.5 * gt.decompose(model, go_frames[2]).total,
                                                                  rel=1e-12)


def test_mw_water_contract():
    sysobj = get_system("mw_water")
    cfg = {"first_shell_A": 3.5, "temperature_K": 298.0,
           "md": {"n_molecules": 64, "timestep_fs": 10.0, "save_interval_ps": 1.0, "equilibration_ps": 1.0,
                  "production_ps": 1.0}}
    L = sysobj.box_A(cfg)[0]
    assert L == pytest.approx(mw.box_edge_A(64, 1.0))
    assert 64 * mw.MASS_AMU / 6.02214076e23 / (L * 1e-8) ** 3 == pytest.approx(1.0)
    assert not sysobj.config_errors(cfg)
    top, system, pos = sysobj.build(cfg, 0, 1)
    atoms = list(top.atoms())
    table = AtomTable(masses=np.full(len(atoms), mw.MASS_AMU), elements=np.array([a.element.symbol for a in atoms]),
                      residue=np.array([a.residue.index for a in atoms]))
    cg = sysobj.cg_map(table)
    np.testing.assert_array_equal(cg.bead_atom, np.arange(64))
    np.testing.assert_array_equal(cg.force_bead, np.arange(64))
    x = np.asarray(pos.value_in_unit(unit.angstrom))
    e, _ = gt.openmm_energy_forces(system, x, box=np.full(3, L))
    assert gt.decompose(mw.MWModel(64, L), x, box=np.full(3, L)).total == pytest.approx(e, rel=1e-10)
    small = {**cfg, "md": {**cfg["md"], "n_molecules": 16}}
    assert any(k == "md.n_molecules" for k, _ in sysobj.config_errors(small))


def test_go_elements_agree_with_the_folding_states(model):
    """ntl9_go and the folding states read one structure reader (data.structure); the Gō contacts hold the
    folding states' native contacts of the β pairings."""
    from cgexplain.analysis import folding
    from cgexplain.data.structure import ca_coordinates, secondary_structure

    path = go._resolve(go.DEFAULT_STRUCTURE)
    assert model.elements == {k: tuple(int(v) for v in r) for k, r in secondary_structure(path).items()}
    np.testing.assert_allclose(model.native, ca_coordinates(path), atol=1e-6)
    nc = folding.native_contacts(model.native, model.elements)
    have = {tuple(p) for p in model.contacts.tolist()}
    assert {tuple(p) for p in np.concatenate([nc["beta1_beta2"], nc["beta1_beta3"]]).tolist()} <= have
