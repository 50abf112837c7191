# Structure figures: one rule per figure, PDF + PNG, collected by `snakemake --report`.


FIG = f"{RESULTS}/figures"
FLUIDS = family("fluid_structure")


rule fig2_rdf:
    input:
        obs_files(FLUIDS, ["aa"] + MODELS),
    output:
        pdf=f"{FIG}/fig2_rdf.pdf",
        png=report(f"{FIG}/fig2_rdf.png", caption="../report/fig2_rdf.rst", category="Structure"),
    params:
        obs=obs_args(FLUIDS, ["aa"] + MODELS),
    log:
        f"{RESULTS}/logs/figures/fig2_rdf.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} plot rdf --obs {params.obs} --out {output.pdf}"


rule figS1_structure:
    input:
        obs_files(FLUIDS, ["aa"] + MODELS),
    output:
        pdf=f"{FIG}/figS1_structure_nnp.pdf",
        png=report(f"{FIG}/figS1_structure_nnp.png", caption="../report/figS1_structure_nnp.rst", category="Structure"),
    params:
        obs=obs_args(FLUIDS, ["aa"] + MODELS),
    log:
        f"{RESULTS}/logs/figures/figS1_structure_nnp.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} plot structure --obs {params.obs} --out {output.pdf}"


rule figS7_triplets:
    input:
        obs_files(FLUIDS, ["aa"] + MODELS),
    output:
        pdf=f"{FIG}/figS7_triplets.pdf",
        png=report(f"{FIG}/figS7_triplets.png", caption="../report/figS7_triplets.rst", category="Structure"),
    params:
        obs=obs_args(FLUIDS, ["aa"] + MODELS),
    log:
        f"{RESULTS}/logs/figures/figS7_triplets.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} plot triplets --obs {params.obs} --out {output.pdf}"


if FLUIDS:
    TARGETS += [f"{FIG}/{name}.{ext}" for name in ("fig2_rdf", "figS1_structure_nnp", "figS7_triplets")
                for ext in ("pdf", "png")]


# Supplementary Figure S2: one architecture of one liquid at several cutoffs (cutoff_study), RDF and
# local angles against the AA reference. The models come through the train, simulate and observables
# rules above (common.smk: STUDY, study_obs); no relevance, many-body or IMC work is asked of them.
if STUDY:
    S2 = f"{FIG}/figS2_{STUDY['arch']}_cutoff"

    rule figS2_cutoff:
        input:
            [p for _, p in study_obs()],
        output:
            pdf=f"{S2}.pdf",
            png=report(f"{S2}.png", caption="../report/figS2_painn_cutoff.rst", category="Structure"),
        params:
            obs=" ".join(f"{STUDY['system']}:{src}:{p}" for src, p in study_obs()),
        log:
            f"{RESULTS}/logs/figures/figS2_cutoff.log",
        resources:
            mem_mb=res("plot", "mem_mb"),
            runtime=res("plot", "runtime"),
        conda:
            "../../envs/analysis.yaml"
        shell:
            "cgexplain --log {log} plot cutoff --obs {params.obs} --out {output.pdf}"

    TARGETS += [f"{S2}.{ext}" for ext in ("pdf", "png")]
