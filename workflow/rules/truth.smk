# Relevance against the truth (issue 20): for the ground-truth systems (their module implements
# System.truth_model: the Gō NTL9, mW water), the relevance of each model compared pair by pair and
# triplet by triplet with the energies the system is known to have (cgexplain truth), and one figure per
# system and model (cgexplain plot-truth). Included after protein.smk (uses its helpers).
#
# A chain (protein family) is compared on the relevance of its folded state F (relevance_state) and of
# each mutant of the config's `mutations` (relevance_mutant), against U_net = U_true,nonbonded −
# U_prior,pair (the system's prior subtracted, analysis/truth.py); a fluid on the relevance of its
# reference frames (relevance/<model>/aa.npz) per distance bin and per (θ, L) bin of Figure 3. The exact
# many-body decomposition of a ground-truth fluid is the rule manybody_truth (baselines.smk).

rule truth:
    input:
        unpack(truth_input),
    output:
        npz=f"{RESULTS}/{{system}}/truth/{{model}}.npz",
        csv=f"{RESULTS}/{{system}}/truth/{{model}}.csv",
    params:
        system=module_name,
        p=lambda w: system_params(w.system),
        args=truth_args,
    log:
        f"{RESULTS}/logs/truth/{{system}}_{{model}}.log",
    wildcard_constraints:
        system=pattern(TRUTH_SYSTEMS),
        model=pattern(TRUTH_MODELS),
    resources:
        mem_mb=res("analysis", "mem_mb"),
        runtime=res("analysis", "runtime"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} truth --relevance {input.relevance} --dataset {input.dataset}"
        " --system {params.system} --params '{params.p}' {params.args} --out {output.npz} --csv {output.csv}"


rule fig_truth:
    input:
        f"{RESULTS}/{{system}}/truth/{{model}}.npz",
    output:
        pdf=f"{TRUTH_FIG}/truth_{{system}}_{{model}}.pdf",
        png=report(f"{TRUTH_FIG}/truth_{{system}}_{{model}}.png", caption="../report/truth.rst",
                   category="Ground truth"),
    params:
        title=truth_title,
    log:
        f"{RESULTS}/logs/figures/truth_{{system}}_{{model}}.log",
    wildcard_constraints:
        system=pattern(TRUTH_SYSTEMS),
        model=pattern(TRUTH_MODELS),
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} plot-truth --truth {input} --title {params.title:q} --out {output.pdf}"


TARGETS += [f"{TRUTH_FIG}/truth_{s}_{m}.{ext}" for s in TRUTH_SYSTEMS for m in models_of(s) for ext in ("pdf", "png")]
TARGETS += [f"{RESULTS}/{s}/truth/{m}.csv" for s in TRUTH_SYSTEMS for m in models_of(s)]
