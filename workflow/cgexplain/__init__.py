"""cgexplain: reproducible ML coarse-grained potentials and their GNN-LRP explanation.

The package holds all the science of the workflow (reference MD, CG mapping, force-matching
training, the CG Langevin engine, analysis, relevance and figures); the Snakemake rules only call it.
"""

__version__ = "0.1.0"
