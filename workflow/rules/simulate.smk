# CG Langevin simulations with the trained potentials (many replicas batched through one model call).


SIM_JOB = f"{RESULTS}/{{system}}/cgsim/{{model}}/chain/job_{{job}}.json"


checkpoint simulate:
    input:
        model=f"{RESULTS}/{{system}}/models/{{model}}/model.pt",
        dataset=f"{RESULTS}/{{system}}/cg/dataset.npz",
        previous=previous_job(SIM_JOB),
    output:
        SIM_JOB,
    params:
        p=lambda w: sim_params(w.system, w.model),
        system=module_name,
        device=config["device"],
        result=lambda w: f"{RESULTS}/{w.system}/cgsim/{w.model}/chain/trajectory.npz",
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


rule simulate_result:
    input:
        chain_done(checkpoints.simulate),
    output:
        f"{RESULTS}/{{system}}/cgsim/{{model}}/trajectory.npz",
    params:
        result=lambda w: f"{RESULTS}/{w.system}/cgsim/{w.model}/chain/trajectory.npz",
    log:
        f"{RESULTS}/logs/simulate/{{system}}_{{model}}_result.log",
    wildcard_constraints:
        model=pattern(TRAINED),
    localrule: True
    conda:
        "../../envs/simulate.yaml"
    shell:
        "cgexplain --log {log} chain-result --status {input} {params.result} {output}"
