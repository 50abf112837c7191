"""What an NTL9 run sampled, from a results folder:

    python benchmarks/ntl9_sampling.py results/<tier>

fitted prior parameters (a few rows of prior.csv), Calpha bond and angle distributions of the reference data
vs the CG simulation, and the native-contact fraction Q (contacts < 8 A in the first reference frame,
|i-j| >= 4, formed at d < 1.2 d0) per source and per reference replica.
"""
import csv
import json
import sys

import numpy as np

res = sys.argv[1]
ds = np.load(f"{res}/ntl9/cg/dataset.npz")
tr = np.load(f"{res}/ntl9/cgsim/painn/trajectory.npz")
rows = list(csv.DictReader(open(f"{res}/ntl9/prior/prior.csv")))
for term in ("bond", "angle", "dihedral", "repulsion"):
    for r in [r for r in rows if r["term"] == term][:2]:
        p = json.loads(r["params"]); p.pop("method", None)
        print(term, r["types"], {k: (round(v, 3) if isinstance(v, float) else [round(x, 3) for x in v] if isinstance(v, list) else v) for k, v in p.items()}, "n =", r["n_samples"])

def stats(X):
    b = np.linalg.norm(X[:, 1:] - X[:, :-1], axis=-1)
    u, v = X[:, :-2] - X[:, 1:-1], X[:, 2:] - X[:, 1:-1]
    th = np.degrees(np.arccos((u * v).sum(-1) / np.linalg.norm(u, axis=-1) / np.linalg.norm(v, axis=-1)))
    return b, th

def q_native(X, ref, cut=8.0):
    d0 = np.linalg.norm(ref[:, None] - ref[None], axis=-1)
    i, j = np.triu_indices(len(ref), 4)
    nat = d0[i, j] < cut
    d = np.linalg.norm(X[:, i[nat]] - X[:, j[nat]], axis=-1)
    return (d < 1.2 * d0[i, j][nat]).mean(1)

Xr = ds["coords"]
Xc = tr["coords"].reshape(-1, *tr["coords"].shape[-2:])
for name, X in (("reference", Xr), ("CG", Xc)):
    b, th = stats(X)
    print(f"{name:9s} frames {len(X):6d}  bond {b.mean():.3f} ± {b.std():.3f} Å [{b.min():.2f}, {b.max():.2f}]  angle {th.mean():.1f} ± {th.std():.1f}°")
ref0 = Xr[0]
for name, X in (("reference", Xr), ("CG", Xc)):
    q = q_native(X, ref0)
    print(f"{name:9s} Q (native Cα contacts < 8 Å of frame 0, |i-j|>=4, within 1.2 d0): mean {q.mean():.2f}; frames with Q > 0.7: {(q > 0.7).mean():.2f}")
if "replica" in ds:
    for k in np.unique(ds["replica"]):
        q = q_native(Xr[ds["replica"] == k], ref0)
        print(f"  reference replica {k}: mean Q {q.mean():.2f}, Q>0.7 in {(q > 0.7).mean():.2f}")
