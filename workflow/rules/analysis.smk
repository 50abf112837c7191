# Structural observables of the AA reference (mapped) and of every CG simulation (cutoff-study models too).


rule observables:
    input:
        observables_input,
    output:
        f"{RESULTS}/{{system}}/analysis/{{source}}.npz",
    params:
        p=to_json(config["analysis"]),
        shell=lambda w: block(w.system)["first_shell_A"],
        cutoffs=triplet_cutoffs,
    log:
        f"{RESULTS}/logs/observables/{{system}}_{{source}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/observables/{{system}}_{{source}}.tsv"
    wildcard_constraints:
        system=pattern(family("fluid_structure")),
        source=pattern(["aa", "imc"] + TRAINED),
    resources:
        mem_mb=res("analysis", "mem_mb"),
        runtime=res("analysis", "runtime"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} observables --input {input} --params '{params.p}' --shell {params.shell} "
        "--triplet-cutoffs {params.cutoffs} --out {output}"
