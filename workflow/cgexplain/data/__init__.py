"""Reference data: all-atom MD, CG mapping, imported datasets, and the dataset, trajectory and frame formats."""
