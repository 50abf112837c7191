# Reference data: fetched inputs, all-atom MD (OpenMM) and CG mapping, or a published CG dataset
# imported; and the prior fitted to it. Which rules a system takes is decided by its module's route.


rule fetch_source:
    output:
        directory(f"{RESULTS}/{{system}}/source"),
    params:
        p=lambda w: system_params(w.system),
        system=module_name,
    log:
        f"{RESULTS}/logs/fetch/{{system}}.log",
    wildcard_constraints:
        system=pattern(FETCH_SYSTEMS),
    localrule: True
    conda:
        "../../envs/md.yaml"
    shell:
        "cgexplain --log {log} fetch --system {params.system} --params '{params.p}' --dest {output}"


MD_CHAIN = Chain("reference_md", f"{RESULTS}/{{system}}/aa/chain/replica_{{replica}}",
                 {"h5": ("result.h5", f"{RESULTS}/{{system}}/aa/replica_{{replica}}.h5")},
                 dict(system=pattern(MD_SYSTEMS)), "../../envs/md.yaml")


checkpoint reference_md:
    input:
        source=fetched,
        previous=MD_CHAIN.previous,
    output:
        MD_CHAIN.job,
    params:
        p=lambda w: system_params(w.system),
        system=module_name,
        source=lambda w, input: f"--source {input.source[0]}" if input.source else "",
        result=MD_CHAIN.work("result.h5"),
        chain=chain_option("md"),
    log:
        f"{RESULTS}/logs/reference_md/{{system}}_{{replica}}_job{{job}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/reference_md/{{system}}_{{replica}}_job{{job}}.tsv"
    wildcard_constraints:
        system=pattern(MD_SYSTEMS),
        job=r"\d+",
    threads: res("md", "threads")
    resources:
        gpu=MD_GPU,
        mem_mb=res("md", "mem_mb"),
        runtime=job_runtime("md"),
    conda:
        "../../envs/md.yaml"
    shell:
        "cgexplain --log {log} md --system {params.system} --params '{params.p}' --replica {wildcards.replica}"
        " {params.source} --out {params.result} --threads {threads} {params.chain} --status {output}"


rule cg_map:
    input:
        replica_files,
    output:
        f"{RESULTS}/{{system}}/cg/dataset.npz",
    params:
        val=config["cg"]["val_fraction"],
        seed=config["seed"],
        system=module_name,
    log:
        f"{RESULTS}/logs/cg_map/{{system}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/cg_map/{{system}}.tsv"
    wildcard_constraints:
        system=pattern(MD_SYSTEMS),
    resources:
        mem_mb=res("analysis", "mem_mb"),
    conda:
        "../../envs/md.yaml"
    shell:
        "cgexplain --log {log} map --system {params.system} --traj {input} --out {output}"
        " --val-fraction {params.val} --seed {params.seed}"


rule cg_import:
    input:
        import_source,
    output:
        f"{RESULTS}/{{system}}/cg/dataset.npz",
    params:
        p=lambda w: system_params(w.system),
        system=module_name,
        val=config["cg"]["val_fraction"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/cg_import/{{system}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/cg_import/{{system}}.tsv"
    wildcard_constraints:
        system=pattern(IMPORT_SYSTEMS),
    resources:
        mem_mb=res("analysis", "mem_mb"),
    conda:
        "../../envs/md.yaml"
    shell:
        "cgexplain --log {log} import-data --system {params.system} --params '{params.p}' --source {input}"
        " --out {output} --val-fraction {params.val} --seed {params.seed}"


rule fit_prior:
    input:
        f"{RESULTS}/{{system}}/cg/dataset.npz",
    output:
        prior=f"{RESULTS}/{{system}}/prior/prior.pt",
        table=f"{RESULTS}/{{system}}/prior/prior.csv",
    params:
        p=lambda w: to_json(block(w.system)["prior"]),
    log:
        f"{RESULTS}/logs/fit_prior/{{system}}.log",
    wildcard_constraints:
        system=pattern(PRIOR_SYSTEMS),
    resources:
        mem_mb=res("analysis", "mem_mb"),
    conda:
        "../../envs/training.yaml"
    shell:
        "cgexplain --log {log} fit-prior --dataset {input} --params '{params.p}' --out {output.prior}"
        " --table {output.table}"


TARGETS += [f"{RESULTS}/{s}/prior/prior.csv" for s in PRIOR_SYSTEMS]
