# Reference all-atom MD (OpenMM) and CG mapping.


rule reference_md:
    output:
        f"{RESULTS}/{{system}}/aa/trajectory.h5",
    params:
        p=lambda w: md_params(w.system),
    log:
        f"{RESULTS}/logs/reference_md/{{system}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/reference_md/{{system}}.tsv"
    threads: 2
    resources:
        gpu=GPU,
        mem_mb=res("md", "mem_mb"),
        runtime=res("md", "runtime"),
    conda:
        "../../envs/md.yaml"
    shell:
        "cgexplain md --system {wildcards.system} --params '{params.p}' --out {output} --threads {threads} > {log} 2>&1"


rule cg_map:
    input:
        rules.reference_md.output,
    output:
        f"{RESULTS}/{{system}}/cg/dataset.npz",
    params:
        val=config["cg"]["val_fraction"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/cg_map/{{system}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/cg_map/{{system}}.tsv"
    resources:
        mem_mb=res("analysis", "mem_mb"),
    conda:
        "../../envs/md.yaml"
    shell:
        "cgexplain map --traj {input} --out {output} --val-fraction {params.val} --seed {params.seed} > {log} 2>&1"
