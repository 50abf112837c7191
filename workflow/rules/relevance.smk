# GNN-LRP relevance (issue 3): walk relevances aggregated per frame, and the relevance figures.
# Included by the Snakefile after common.smk (uses RESULTS, SYSTEMS, MODELS, GPU, res()).

REL = config["relevance"]
REL_FIG = f"{RESULTS}/figures"
REL_SOURCES = ["aa", "cg"]
REL_SYSTEMS = family("fluid_relevance")
# the paper's Figures 2 and 3 show PaiNN and SO3net; fall back to all models if neither is run
REL_FIG_MODELS = [m for m in MODELS if m in ("painn", "so3net")] or MODELS


rule relevance:
    input:
        unpack(relevance_input),
    output:
        f"{RESULTS}/{{system}}/relevance/{{model}}/{{source}}.chunks/chunk_{{chunk}}.npz",
    wildcard_constraints:
        system=pattern(REL_SYSTEMS),
        source="aa|cg",
        chunk=r"\d+",
    params:
        chunk=chunk_option,
        frames_opt=lambda wc: "--dataset" if wc.source == "aa" else "--trajectory",
        n_frames=lambda wc: REL["n_frames_aa"] if wc.source == "aa" else REL["n_frames_cg"],
        gamma=REL["gamma"],
        dtype=REL["dtype"],
        device=config["device"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/relevance/{{system}}_{{model}}_{{source}}_chunk{{chunk}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/relevance/{{system}}_{{model}}_{{source}}_chunk{{chunk}}.tsv"
    threads: res("relevance", "threads")
    resources:
        gpu=GPU,
        mem_mb=res("relevance", "mem_mb"),
        runtime=res("relevance", "runtime"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} relevance --model {input.model} {params.frames_opt} {input.frames}"
        " --n-frames {params.n_frames} --gamma {params.gamma} --dtype {params.dtype}"
        " --device {params.device} --seed {params.seed} {params.chunk} --out {output}"


rule relevance_gather:
    input:
        relevance_chunks,
    output:
        f"{RESULTS}/{{system}}/relevance/{{model}}/{{name}}.npz",
    log:
        f"{RESULTS}/logs/relevance/{{system}}_{{model}}_{{name}}_gather.log",
    wildcard_constraints:
        name=r"aa|cg|state_[A-Za-z0-9]+|mutant_[A-Z]{3}\d+[A-Z]{3}",
    localrule: True
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} relevance-gather --out {output} {input}"


rule fig2_relevance:
    input:
        rel=relevance_files(REL_SYSTEMS, REL_FIG_MODELS, "{source}"),
        rdf=[f"{RESULTS}/{s}/analysis/aa.npz" for s in REL_SYSTEMS],
    output:
        pdf=f"{REL_FIG}/fig2_relevance_{{source}}.pdf",
        png=report(f"{REL_FIG}/fig2_relevance_{{source}}.png", caption="../report/relevance_fig2.rst",
                   category="Relevance"),
    wildcard_constraints:
        source="aa|cg",
    params:
        results=results_of_figure,
        systems=" ".join(REL_SYSTEMS),
        models=" ".join(REL_FIG_MODELS),
        bins=REL["rdf_bins"],
    log:
        f"{RESULTS}/logs/figures/fig2_relevance_{{source}}.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} plot-relevance fig2 --results {params.results} --systems {params.systems}"
        " --models {params.models} --source {wildcards.source} --rdf-source aa --bins {params.bins}"
        " --out {output.pdf}"


rule fig3_relevance:
    input:
        relevance_files(REL_SYSTEMS, REL_FIG_MODELS, "{source}"),
    output:
        pdf=f"{REL_FIG}/fig3_relevance_{{source}}.pdf",
        png=report(f"{REL_FIG}/fig3_relevance_{{source}}.png", caption="../report/relevance_fig3.rst",
                   category="Relevance"),
    wildcard_constraints:
        source="aa|cg",
    params:
        results=results_of_figure,
        systems=" ".join(REL_SYSTEMS),
        models=" ".join(REL_FIG_MODELS),
        angle_bins=REL["angle_bins"],
        edge_bins=REL["edge_bins"],
        min_n=REL["min_triplets_per_bin"],
    log:
        f"{RESULTS}/logs/figures/fig3_relevance_{{source}}.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} plot-relevance fig3 --results {params.results} --systems {params.systems}"
        " --models {params.models} --source {wildcards.source} --angle-bins {params.angle_bins}"
        " --edge-bins {params.edge_bins} --min-triplets {params.min_n} --out {output.pdf}"


rule figS5S6_walks2:
    input:
        lambda w: relevance_files([w.system], MODELS, "aa"),
    output:
        pdf=f"{REL_FIG}/figS5S6_walks2_{{system}}.pdf",
        png=report(f"{REL_FIG}/figS5S6_walks2_{{system}}.png", caption="../report/relevance_walks2.rst",
                   category="Relevance"),
    params:
        results=results_of_figure,
        models=lambda w: " ".join(models_of(w.system)),
        bins=REL["rdf_bins"],
    wildcard_constraints:
        system=pattern(REL_SYSTEMS),
    log:
        f"{RESULTS}/logs/figures/figS5S6_walks2_{{system}}.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} plot-relevance walks2 --results {params.results} --system {wildcards.system}"
        " --models {params.models} --source aa --bins {params.bins} --out {output.pdf}"


rule figS9_threebody:
    input:
        lambda w: relevance_files([w.system], MODELS, "aa"),
    output:
        pdf=f"{REL_FIG}/figS9_threebody_{{system}}.pdf",
        png=report(f"{REL_FIG}/figS9_threebody_{{system}}.png", caption="../report/relevance_s9.rst",
                   category="Relevance"),
    params:
        results=results_of_figure,
        models=lambda w: " ".join(models_of(w.system)),
        angle_bins=REL["angle_bins"],
        edge_bins=REL["edge_bins"],
        min_n=REL["min_triplets_per_bin"],
    wildcard_constraints:
        system=pattern(REL_SYSTEMS),
    log:
        f"{RESULTS}/logs/figures/figS9_threebody_{{system}}.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} plot-relevance s9 --results {params.results} --system {wildcards.system}"
        " --models {params.models} --source aa --angle-bins {params.angle_bins}"
        " --edge-bins {params.edge_bins} --min-triplets {params.min_n} --out {output.pdf}"


rule figS10_triplet_occurrence:
    input:
        dataset=f"{RESULTS}/{{system}}/cg/dataset.npz",
        models=lambda w: [f"{RESULTS}/{w.system}/models/{m}/model.pt" for m in models_of(w.system)],
    output:
        pdf=f"{REL_FIG}/figS10_triplet_occurrence_{{system}}.pdf",
        png=report(f"{REL_FIG}/figS10_triplet_occurrence_{{system}}.png",
                   caption="../report/relevance_s10.rst", category="Relevance"),
    params:
        results=results_of_figure,
        models=lambda w: " ".join(models_of(w.system)),
        n_frames=max(REL["n_frames_aa"], 200),
        angle_bins=REL["angle_bins"],
        edge_bins=REL["edge_bins"],
        seed=config["seed"],
    wildcard_constraints:
        system=pattern(REL_SYSTEMS),
    log:
        f"{RESULTS}/logs/figures/figS10_triplet_occurrence_{{system}}.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} plot-relevance s10 --results {params.results} --system {wildcards.system}"
        " --models {params.models} --n-frames {params.n_frames} --angle-bins {params.angle_bins}"
        " --edge-bins {params.edge_bins} --seed {params.seed} --out {output.pdf}"


RELEVANCE_TARGETS = [] if not REL_SYSTEMS else (
    [f"{REL_FIG}/{name}_{src}.{ext}" for name in ("fig2_relevance", "fig3_relevance")
     for src in REL_SOURCES for ext in ("pdf", "png")]
    + [f"{REL_FIG}/{name}_{s}.{ext}" for name in ("figS5S6_walks2", "figS9_threebody",
                                                   "figS10_triplet_occurrence")
       for s in REL_SYSTEMS for ext in ("pdf", "png")]
)
if "TARGETS" in globals():
    TARGETS.extend(RELEVANCE_TARGETS)
    # relevance of every system x model x source, also those no figure draws (e.g. SchNet on its CG run)
    TARGETS.extend(relevance_files(REL_SYSTEMS, MODELS, "aa") + relevance_files(REL_SYSTEMS, MODELS, "cg"))
