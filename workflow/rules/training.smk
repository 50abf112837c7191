# Force-matching training of the SchNetPack potentials (on F_ref − F_prior when the system has a prior).
# `model` is an architecture or a cutoff-study model (painn_c4: PaiNN at 4 Å); --arch is its architecture.


TRAIN_JOB = f"{RESULTS}/{{system}}/models/{{model}}/chain/job_{{job}}.json"


checkpoint train:
    input:
        unpack(train_input),
        previous=previous_job(TRAIN_JOB),
    output:
        TRAIN_JOB,
    params:
        arch=lambda w: arch_of(w.model),
        hp=lambda w: to_json(arch_hparams(w.model, w.system)),
        p=lambda w: train_params(w.system, w.model),
        prior=prior_option,
        device=config["device"],
        result=lambda w: f"{RESULTS}/{w.system}/models/{w.model}/chain/model.pt",
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


rule train_result:
    input:
        chain_done(checkpoints.train),
    output:
        model=f"{RESULTS}/{{system}}/models/{{model}}/model.pt",
        history=f"{RESULTS}/{{system}}/models/{{model}}/history.csv",
    params:
        chain=lambda w: f"{RESULTS}/{w.system}/models/{w.model}/chain",
    log:
        f"{RESULTS}/logs/train/{{system}}_{{model}}_result.log",
    wildcard_constraints:
        model=pattern(TRAINED),
    localrule: True
    conda:
        "../../envs/training.yaml"
    shell:
        "cgexplain --log {log} chain-result --status {input} {params.chain}/history.csv {output.history}"
        " {params.chain}/model.pt {output.model}"
