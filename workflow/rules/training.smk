# Force-matching training of the SchNetPack potentials (on F_ref − F_prior when the system has a prior).


rule train:
    input:
        unpack(train_input),
    output:
        model=f"{RESULTS}/{{system}}/models/{{model}}/model.pt",
        history=f"{RESULTS}/{{system}}/models/{{model}}/history.csv",
    params:
        hp=lambda w: to_json(arch_hparams(w.model, w.system)),
        p=lambda w: train_params(w.system, w.model),
        prior=prior_option,
        device=config["device"],
    log:
        f"{RESULTS}/logs/train/{{system}}_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{system}}_{{model}}.tsv"
    threads: 2
    resources:
        gpu=GPU,
        mem_mb=res("train", "mem_mb"),
        runtime=res("train", "runtime"),
    conda:
        "../../envs/training.yaml"
    shell:
        "cgexplain --log {log} train --dataset {input.dataset} {params.prior} --arch {wildcards.model} --hparams '{params.hp}'"
        " --params '{params.p}' --out {output.model} --device {params.device} --threads {threads}"
