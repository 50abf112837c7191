"""Classical baselines: IMC pair potential (VOTCA-CSG + LAMMPS), many-body decomposition of a
trained network, and the supplementary figures S1, S3, S4."""
