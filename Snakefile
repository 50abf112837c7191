# Bonneau et al., "Peering inside the black box" (Nat. Commun. 2025), end to end:
# AA MD -> CG mapping -> force-matching GNN potentials -> CG Langevin -> baselines -> GNN-LRP -> figures.
#
#   snakemake --cores 2 --configfile config/smoke.yaml      # minutes on a laptop
#   snakemake --cores 2 --configfile config/lite.yaml       # qualitatively right science
#   snakemake --cores 16                                    # paper scale (config/config.yaml)

from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/md.smk"
include: "workflow/rules/training.smk"
include: "workflow/rules/simulate.smk"
include: "workflow/rules/analysis.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/relevance.smk"
include: "workflow/rules/baselines.smk"
include: "workflow/rules/protein.smk"
include: "workflow/rules/truth.smk"
include: "workflow/rules/chains.smk"
include: "workflow/rules/record.smk"


localrules:
    all,


rule all:
    input:
        all_targets,
    default_target: True
