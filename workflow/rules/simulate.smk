# CG Langevin simulations with the trained potentials (many replicas batched through one model call).


SIM_CHAIN = Chain("simulate", f"{RESULTS}/{{system}}/cgsim/{{model}}/chain",
                  {"trajectory": ("trajectory.npz", f"{RESULTS}/{{system}}/cgsim/{{model}}/trajectory.npz")},
                  dict(model=pattern(TRAINED)), "../../envs/simulate.yaml")


checkpoint simulate:
    input:
        model=f"{RESULTS}/{{system}}/models/{{model}}/model.pt",
        dataset=f"{RESULTS}/{{system}}/cg/dataset.npz",
        previous=SIM_CHAIN.previous,
    output:
        SIM_CHAIN.job,
    params:
        p=lambda w: sim_params(w.system, w.model),
        system=module_name,
        device=config["device"],
        result=SIM_CHAIN.work("trajectory.npz"),
        chain=chain_option("simulate"),
    log:
        f"{RESULTS}/logs/simulate/{{system}}_{{model}}_job{{job}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate/{{system}}_{{model}}_job{{job}}.tsv"
    wildcard_constraints:
        model=pattern(TRAINED),
        job=r"\d+",
    threads: res("simulate", "threads")
    resources:
        gpu=GPU,
        mem_mb=res("simulate", "mem_mb"),
        runtime=job_runtime("simulate"),
    conda:
        "../../envs/simulate.yaml"
    shell:
        "cgexplain --log {log} simulate --model {input.model} --dataset {input.dataset} --system {params.system}"
        " --params '{params.p}' --out {params.result} --device {params.device} --threads {threads}"
        " {params.chain} --status {output}"


