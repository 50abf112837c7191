# Structural observables of the AA reference (mapped) and of every CG simulation.


rule observables:
    input:
        observables_input,
    output:
        f"{RESULTS}/{{system}}/analysis/{{source}}.npz",
    params:
        p=to_json(config["analysis"]),
        shell=lambda w: config["analysis"]["first_shell_A"][w.system],
        cutoffs=triplet_cutoffs,
    log:
        f"{RESULTS}/logs/observables/{{system}}_{{source}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/observables/{{system}}_{{source}}.tsv"
    wildcard_constraints:
        source="aa|painn|so3net|schnet|imc",
    resources:
        mem_mb=res("analysis", "mem_mb"),
        runtime=res("analysis", "runtime"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain observables --input {input} --params '{params.p}' --shell {params.shell} "
        "--triplet-cutoffs {params.cutoffs} --out {output} > {log} 2>&1"
