"""NTL9 explained in numbers, from a relevance maps.npz (cgexplain relevance-maps):

    python benchmarks/ntl9_numbers.py results/<tier>/ntl9/relevance/painn/maps.npz

share of the 20 most stabilising folded-state pairs inside the beta1-beta2, beta1-beta3 and helix blocks,
the VAL3-GLU38 pair, and the mean change of the helix pairs under LEU30PHE (and of residue 4 under ILE4ASN).
"""
import sys

import numpy as np

m = np.load(sys.argv[1])
F = list(m["states"]).index("F")
print("frames per state:", dict(zip(m["states"].tolist(), m["n_frames"].tolist())))
el = dict(zip(m["elements_names"].tolist(), [tuple(r) for r in m["elements_ranges"]]))
def block(a, b):
    (a0, a1), (b0, b1) = el[a], el[b]
    return lambda i, j: (a0 <= i <= a1 and b0 <= j <= b1) or (b0 <= i <= b1 and a0 <= j <= a1)
blocks = [block("beta1", "beta2"), block("beta1", "beta3"), block("helix", "helix")]
M = m["mean2"][F]
iu = np.triu_indices(M.shape[0], 1)
vals = M[iu]
ok = np.isfinite(vals)
order = np.argsort(vals[ok])[:20]
pairs = [(iu[0][ok][k], iu[1][ok][k]) for k in order]
inside = sum(any(b(i, j) for b in blocks) for i, j in pairs)
names = m["bead_names"]
print(f"20 most stabilising F pairs: {inside}/20 inside the beta1-beta2, beta1-beta3 or helix blocks")
print("  ", ", ".join(f"{names[i]}{i+1}-{names[j]}{j+1} {M[i,j]:.3f}" for i, j in pairs[:8]), "...")
print(f"VAL3-GLU38: {M[2, 37]:.4f} ± {m['se2'][F][2, 37]:.4f} kcal/mol")
if "LEU30PHE" in m["mutations"]:
    k = list(m["mutations"]).index("LEU30PHE")
    D = m["mut_mean2"][k] - M
    h0, h1 = el["helix"]
    hp = [(i, j) for i in range(h0, h1 + 1) for j in range(i + 1, h1 + 1) if np.isfinite(D[i, j])]
    d = np.array([D[i, j] for i, j in hp])
    print(f"LEU30PHE helix pairs: mean Δ {d.mean():+.4f} kcal/mol, {np.mean(d > 0):.0%} of {len(d)} positive (destabilised)")
if "ILE4ASN" in m["mutations"]:
    k = list(m["mutations"]).index("ILE4ASN")
    D = m["mut_mean2"][k] - M
    print(f"ILE4ASN pairs with residue 4: mean Δ {np.nanmean(np.r_[D[3, :3], D[3, 4:]]):+.4f} kcal/mol")
