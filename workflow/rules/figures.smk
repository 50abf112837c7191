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
