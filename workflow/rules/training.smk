# Force-matching training of the SchNetPack potentials (on F_ref − F_prior when the system has a prior).
# `model` is an architecture or a cutoff-study model (painn_c4: PaiNN at 4 Å); --arch is its architecture.


TRAIN_CHAIN = Chain("train", f"{RESULTS}/{{system}}/models/{{model}}/chain",
                    {"model": ("model.pt", f"{RESULTS}/{{system}}/models/{{model}}/model.pt"),
                     "history": ("history.csv", f"{RESULTS}/{{system}}/models/{{model}}/history.csv")},
                    dict(model=pattern(TRAINED)), "../../envs/training.yaml")


checkpoint train:
    input:
        unpack(train_input),
        previous=TRAIN_CHAIN.previous,
    output:
        TRAIN_CHAIN.job,
    params:
        arch=lambda w: arch_of(w.model),
        hp=lambda w: to_json(arch_hparams(w.model, w.system)),
        p=lambda w: train_params(w.system, w.model),
        prior=prior_option,
        device=config["device"],
        result=TRAIN_CHAIN.work("model.pt"),
        chain=chain_option("train"),
    log:
        f"{RESULTS}/logs/train/{{system}}_{{model}}_job{{job}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/train/{{system}}_{{model}}_job{{job}}.tsv"
    wildcard_constraints:
        model=pattern(TRAINED),
        job=r"\d+",
    threads: res("train", "threads")
    resources:
        gpu=GPU,
        mem_mb=res("train", "mem_mb"),
        runtime=job_runtime("train"),
    conda:
        "../../envs/training.yaml"
    shell:
        "cgexplain --log {log} train --dataset {input.dataset} {params.prior} --arch {params.arch}"
        " --hparams '{params.hp}' --params '{params.p}' --out {params.result} --device {params.device}"
        " --threads {threads} {params.chain} --status {output}"


