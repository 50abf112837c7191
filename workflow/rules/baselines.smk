# Classical baselines (issue 4): IMC pair potential with VOTCA-CSG + LAMMPS and its production run,
# the many-body decomposition of the trained networks, and the supplementary figures S1, S3, S4.
# Included by the Snakefile after common.smk (uses RESULTS, SYSTEMS, MODELS, GPU, res()).
#
# Optional config keys (defaults in brackets): imc.regularization [1.0] (VOTCA's Tikhonov factor of
# the IMC solve), imc.max_target_frames [2000], manybody.models [PaiNN/SO3net of MODELS],
# manybody.overlay_relevance [true] (S4 overlays results/{system}/relevance/{model}/aa.npz).

IMC = config["imc"]
MB = config["manybody"]
IMC_SYSTEMS = list(IMC["systems"])  # checked at parse time: systems that run and declare the imc family
IMC_RANKS = int(IMC.get("mpi_ranks", 1))
# several LAMMPS ranks: Slurm allocates tasks=N and the rule runs outside a job step (`mpi`), where
# mpirun starts the ranks (Debian's OpenMPI has no Slurm PMI support for srun)
IMC_MPI = {"tasks": IMC_RANKS, "mpi": "mpirun"} if IMC_RANKS > 1 else {}
MB_SYSTEMS = family("manybody")
BASE_FIG = f"{RESULTS}/figures"
MB_MODELS = list(MB.get("models") or [m for m in MODELS if m in ("painn", "so3net")] or MODELS)
NNP_S1 = [m for m in MODELS if m in ("painn", "so3net")]
S3_SOURCES = ["aa"] + [m for m in ("schnet", "painn", "so3net") if m in MODELS]
S3_SYSTEMS = family("fluid_structure")


IMC_CHAIN = Chain("imc", f"{RESULTS}/{{system}}/imc/chain",
                  {"table": ("imc_table.lammps", f"{RESULTS}/{{system}}/imc/imc_table.lammps"),
                   "npz": ("imc.npz", f"{RESULTS}/{{system}}/imc/imc.npz")},
                  dict(system=pattern(IMC_SYSTEMS)), "../../envs/imc.yaml")


checkpoint imc:
    input:
        dataset=f"{RESULTS}/{{system}}/cg/dataset.npz",
        previous=IMC_CHAIN.previous,
    output:
        IMC_CHAIN.job,
    params:
        table=IMC_CHAIN.work("imc_table.lammps"),
        npz=IMC_CHAIN.work("imc.npz"),
        chain=chain_option("imc"),
        equilibration_steps=IMC["equilibration_steps"],
        max_iterations=IMC["max_iterations"],
        rdf_max_nm=IMC["rdf_max_nm"],
        rdf_min_nm=IMC["rdf_min_nm"],
        rdf_step_nm=IMC["rdf_step_nm"],
        smoothing_scale=IMC["smoothing_scale"],
        steps_per_iteration=IMC["steps_per_iteration"],
        table_begin_nm=IMC["table_begin_nm"],
        timestep_fs=IMC["timestep_fs"],
        tolerance=IMC["tolerance"],
        workdir=lambda w: f"{RESULTS}/{w.system}/imc/votca",
        T=lambda w: block(w.system)["temperature_K"],
        friction=config["md"]["friction_per_ps"],
        seed=config["seed"],
        ranks=IMC_RANKS,
        reg=IMC.get("regularization", 1.0),
        max_target_frames=IMC.get("max_target_frames", 2000),
        dump_every=lambda w: max(10, int(IMC["steps_per_iteration"]) // 500),
    log:
        f"{RESULTS}/logs/imc/imc_{{system}}_job{{job}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/imc/imc_{{system}}_job{{job}}.tsv"
    wildcard_constraints:
        system=pattern(IMC_SYSTEMS),
        job=r"\d+",
    threads: res("imc", "threads")
    resources:
        mem_mb=res("imc", "mem_mb"),
        runtime=job_runtime("imc"),
        **IMC_MPI,
    conda:
        "../../envs/imc.yaml"
    shell:
        "cgexplain --log {log} imc --dataset {input.dataset} --workdir {params.workdir}"
        " --out-table {params.table} --out-npz {params.npz} {params.chain} --status {output}"
        " --temperature-K {params.T} --friction-per-ps {params.friction} --seed {params.seed}"
        " --max-iterations {params.max_iterations} --tolerance {params.tolerance}"
        " --rdf-min-nm {params.rdf_min_nm} --rdf-max-nm {params.rdf_max_nm} --rdf-step-nm {params.rdf_step_nm}"
        " --table-begin-nm {params.table_begin_nm} --smoothing-scale {params.smoothing_scale}"
        " --regularization {params.reg} --equilibration-steps {params.equilibration_steps}"
        " --steps-per-iteration {params.steps_per_iteration} --timestep-fs {params.timestep_fs}"
        " --dump-every {params.dump_every} --max-target-frames {params.max_target_frames}"
        " --threads {threads} --mpi-ranks {params.ranks}"


rule imc_sim:
    input:
        dataset=f"{RESULTS}/{{system}}/cg/dataset.npz",
        table=f"{RESULTS}/{{system}}/imc/imc_table.lammps",
    output:
        f"{RESULTS}/{{system}}/cgsim/imc/trajectory.npz",
    params:
        equilibration_steps=IMC["equilibration_steps"],
        production_steps=IMC["production_steps"],
        save_interval=IMC["save_interval"],
        timestep_fs=IMC["timestep_fs"],
        workdir=lambda w: f"{RESULTS}/{w.system}/imc/production",
        T=lambda w: block(w.system)["temperature_K"],
        friction=config["md"]["friction_per_ps"],
        seed=config["seed"],
        ranks=IMC_RANKS,
    log:
        f"{RESULTS}/logs/imc/imc_sim_{{system}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/imc/imc_sim_{{system}}.tsv"
    wildcard_constraints:
        system=pattern(IMC_SYSTEMS),
    threads: res("imc", "threads")
    resources:
        mem_mb=res("imc", "mem_mb"),
        runtime=res("imc", "runtime"),
        **IMC_MPI,
    conda:
        "../../envs/imc.yaml"
    shell:
        "cgexplain --log {log} imc-sim --dataset {input.dataset} --table {input.table} --workdir {params.workdir}"
        " --out {output} --temperature-K {params.T} --friction-per-ps {params.friction} --seed {params.seed}"
        " --timestep-fs {params.timestep_fs} --equilibration-steps {params.equilibration_steps}"
        " --production-steps {params.production_steps} --save-interval {params.save_interval}"
        " --threads {threads} --mpi-ranks {params.ranks}"


rule manybody:
    input:
        model=f"{RESULTS}/{{system}}/models/{{model}}/model.pt",
        dataset=f"{RESULTS}/{{system}}/cg/dataset.npz",
    output:
        f"{RESULTS}/{{system}}/manybody/{{model}}.npz",
    params:
        max_trimers_per_frame=MB["max_trimers_per_frame"],
        n_frames=MB["n_frames"],
        device=config["device"],
        seed=config["seed"],
        r_bins=config["relevance"]["rdf_bins"],
        theta_bins=config["relevance"]["angle_bins"],
        L_bins=config["relevance"]["edge_bins"],
    log:
        f"{RESULTS}/logs/manybody/{{system}}_{{model}}.log",
    benchmark:
        f"{RESULTS}/benchmarks/manybody/{{system}}_{{model}}.tsv"
    wildcard_constraints:
        system=pattern(MB_SYSTEMS),
    threads: res("relevance", "threads")
    resources:
        gpu=GPU,
        mem_mb=res("relevance", "mem_mb"),
        runtime=res("relevance", "runtime"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} manybody --model {input.model} --dataset {input.dataset} --out {output}"
        " --n-frames {params.n_frames} --max-trimers-per-frame {params.max_trimers_per_frame}"
        " --seed {params.seed} --r-bins {params.r_bins} --theta-bins {params.theta_bins}"
        " --L-bins {params.L_bins} --device {params.device} --threads {threads}"


MB_TRUTH = [s for s in MB_SYSTEMS if has_truth(SYSTEM[s])]


rule manybody_truth:
    """The exact decomposition of a ground-truth fluid (mW) on the frames and range of its models'."""
    input:
        dataset=f"{RESULTS}/{{system}}/cg/dataset.npz",
    output:
        f"{RESULTS}/{{system}}/manybody/truth.npz",
    params:
        system=module_name,
        p=lambda w: system_params(w.system),
        cutoff=lambda w: max(model_cutoffs(w.system)),
        max_trimers_per_frame=MB["max_trimers_per_frame"],
        n_frames=MB["n_frames"],
        seed=config["seed"],
        r_bins=config["relevance"]["rdf_bins"],
        theta_bins=config["relevance"]["angle_bins"],
        L_bins=config["relevance"]["edge_bins"],
    log:
        f"{RESULTS}/logs/manybody/{{system}}_truth.log",
    benchmark:
        f"{RESULTS}/benchmarks/manybody/{{system}}_truth.tsv"
    wildcard_constraints:
        system=pattern(MB_TRUTH),
    resources:
        mem_mb=res("analysis", "mem_mb"),
        runtime=res("analysis", "runtime"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} manybody --truth {params.system} --params '{params.p}' --cutoff {params.cutoff}"
        " --dataset {input.dataset} --out {output} --n-frames {params.n_frames}"
        " --max-trimers-per-frame {params.max_trimers_per_frame} --seed {params.seed} --r-bins {params.r_bins}"
        " --theta-bins {params.theta_bins} --L-bins {params.L_bins}"


S1_ITEMS = _obs_items(IMC_SYSTEMS, ["aa", "imc"] + NNP_S1)
S3_ITEMS = _obs_items(S3_SYSTEMS, S3_SOURCES)
S4_MB = [(s, m, f"{RESULTS}/{s}/manybody/{m}.npz") for s in MB_SYSTEMS for m in MB_MODELS if m in models_of(s)]
S4_TRUTH = [(s, f"{RESULTS}/{s}/manybody/truth.npz") for s in MB_TRUTH if any(t == s for t, _, _ in S4_MB)]
S4_REL = ([(s, m, f"{RESULTS}/{s}/relevance/{m}/aa.npz") for s in MB_SYSTEMS for m in MB_MODELS
           if m in models_of(s) and s in REL_SYSTEMS]
          if MB.get("overlay_relevance", True) else [])


rule figS1_imc:
    input:
        [p for _, _, p in S1_ITEMS],
    output:
        pdf=f"{BASE_FIG}/figS1_imc_baseline.pdf",
        png=report(f"{BASE_FIG}/figS1_imc_baseline.png", caption="../report/baselines_S1.rst",
                   category="Baselines"),
    params:
        args=_obs_args(S1_ITEMS),
    log:
        f"{RESULTS}/logs/figures/figS1_imc_baseline.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
        runtime=res("plot", "runtime"),
    conda:
        "../../envs/imc.yaml"
    shell:
        "cgexplain --log {log} plot-baselines --figure S1 {params.args} --out {output.pdf}"


rule figS3_schnet:
    input:
        [p for _, _, p in S3_ITEMS],
    output:
        pdf=f"{BASE_FIG}/figS3_schnet.pdf",
        png=report(f"{BASE_FIG}/figS3_schnet.png", caption="../report/baselines_S3.rst",
                   category="Baselines"),
    params:
        args=_obs_args(S3_ITEMS),
    log:
        f"{RESULTS}/logs/figures/figS3_schnet.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
        runtime=res("plot", "runtime"),
    conda:
        "../../envs/imc.yaml"
    shell:
        "cgexplain --log {log} plot-baselines --figure S3 {params.args} --out {output.pdf}"


rule figS4_manybody:
    input:
        mb=[p for _, _, p in S4_MB],
        rel=[p for _, _, p in S4_REL],
        truth=[p for _, p in S4_TRUTH],
    output:
        pdf=f"{BASE_FIG}/figS4_manybody.pdf",
        png=report(f"{BASE_FIG}/figS4_manybody.png", caption="../report/baselines_S4.rst",
                   category="Baselines"),
    params:
        args=" ".join([f"--manybody {s} {m} {p}" for s, m, p in S4_MB]
                      + [f"--relevance {s} {m} {p}" for s, m, p in S4_REL]
                      + [f"--truth {s} {p}" for s, p in S4_TRUTH]),
    log:
        f"{RESULTS}/logs/figures/figS4_manybody.log",
    resources:
        mem_mb=res("plot", "mem_mb"),
        runtime=res("plot", "runtime"),
    conda:
        "../../envs/imc.yaml"
    shell:
        "cgexplain --log {log} plot-baselines --figure S4 {params.args} --out {output.pdf}"


BASELINE_TARGETS = [f"{BASE_FIG}/{name}.{ext}"
                    for name in (["figS1_imc_baseline"] if IMC_SYSTEMS else [])
                    + (["figS3_schnet"] if S3_SYSTEMS else []) + (["figS4_manybody"] if S4_MB else [])
                    for ext in ("pdf", "png")]
if "TARGETS" in globals():
    TARGETS.extend(BASELINE_TARGETS)
