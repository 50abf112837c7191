# CG Langevin simulations with the trained potentials (many replicas batched through one model call).


rule simulate:
    input:
        model=f"{RESULTS}/{{system}}/models/{{model}}/model.pt",
        dataset=f"{RESULTS}/{{system}}/cg/dataset.npz",
    output:
        f"{RESULTS}/{{system}}/cgsim/{{model}}/trajectory.npz",
    params:
        p=lambda w: sim_params(w.system, w.model),
        system=module_name,
        device=config["device"],
    log:
        f"{RESULTS}/logs/simulate/{{system}}_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/simulate/{{system}}_{{model}}.tsv"
    threads: res("simulate", "threads")
    resources:
        gpu=GPU,
        mem_mb=res("simulate", "mem_mb"),
        runtime=res("simulate", "runtime"),
    conda:
        "../../envs/simulate.yaml"
    shell:
        "cgexplain --log {log} simulate --model {input.model} --dataset {input.dataset} --system {params.system}"
        " --params '{params.p}' --out {output} --device {params.device} --threads {threads}"
