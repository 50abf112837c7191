"""The reference-data stage: all-atom MD of a system, its CG mapping, and the fetch and import routes."""
