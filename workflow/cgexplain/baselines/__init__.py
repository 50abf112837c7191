"""Classical baselines: the IMC pair potential (VOTCA-CSG + LAMMPS) and the many-body decomposition of a trained network."""
