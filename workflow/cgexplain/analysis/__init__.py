"""Observables of CG configurations: fluid structure, folding states, TICA free energies, protein maps."""
