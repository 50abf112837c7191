# Shared helpers: config validation, the systems table, paths and the JSON parameter sets handed to
# `cgexplain`. Every system-specific choice comes from the system's module (cgexplain.systems) and its
# config block; no rule names a system.
import json
import math
import re
import sys
from pathlib import Path

from cgexplain.core.config import (RESOURCE_DEFAULTS, RESOURCE_STAGES, ParamsError, cutoff_model_name, cutoff_study, cutoff_variants, enabled_systems, stage_params, system_models)
from cgexplain.validation import validate_config
from cgexplain.analysis.protein import STATE_KEYS
from cgexplain.core.device import gpu_request
from cgexplain.core.residues import parse_mutation
from cgexplain.systems import has_truth, system_of
from cgexplain.core.residues import sequence_types, type_names
from cgexplain.figures.style import label as source_label

try:
    validate_config(config, "merged config")
except ParamsError as e:
    sys.exit(f"config error: {e}")

RESULTS = config["results"]
SYSTEMS = enabled_systems(config)
SYSTEM = {s: system_of(config, s) for s in SYSTEMS}
MODELS = list(config["models"])


def GPU(wildcards):
    """`gpu=` of the torch stages' rules: 1 exactly when the stage will run on a GPU (`device`, resolved
    as the stages resolve it; asked when jobs are made, once Snakemake knows whether they run here)."""
    return gpu_request(config["device"], workflow.local_exec)


def MD_GPU(wildcards):
    """`gpu=` of reference MD: from `md.platform` of the system (OpenMM's CUDA/OpenCL platform)."""
    md = {**config["md"], **block(wildcards.system).get("md", {})}
    return gpu_request(md.get("platform", "auto"), workflow.local_exec, engine="openmm")

TARGETS = []  # final outputs; each rule file appends its own


def all_targets(wildcards):
    return TARGETS


def to_json(d):
    """Compact JSON for a `--params '...'` shell argument."""
    return json.dumps(d, separators=(",", ":"), sort_keys=True)


def res(stage, key):
    """Cluster request `key` (mem_mb | runtime) of `stage`, one of cgexplain.core.config.RESOURCE_STAGES
    (the stages the config's `resources` section may name)."""
    if stage not in RESOURCE_STAGES or key not in RESOURCE_DEFAULTS:
        raise ValueError(f"resource request {key!r} of stage {stage!r}: stages are "
                         f"cgexplain.core.config.RESOURCE_STAGES {RESOURCE_STAGES}, keys {tuple(RESOURCE_DEFAULTS)}")
    return config["resources"].get(stage, {}).get(key, RESOURCE_DEFAULTS[key])


# Chains of jobs under a wall-time limit (execution.max_job_minutes). A long stage is a Snakemake
# checkpoint whose jobs 0, 1, 2, ... each run for at most the limit and write a status file
# ({complete: ...}); each resumes the previous one's checkpoint (fingerprinted, so only the same
# configuration resumes), and `chain_done` asks for one job more until a status says complete.
# Without a limit the first job does all the work. A small local rule then moves the result into place.
MAX_JOB_MINUTES = config["execution"]["max_job_minutes"]


def job_minutes(stage):
    """Minutes one job of `stage` may run: its resources runtime, capped by the wall-time limit."""
    minutes = res(stage, "runtime")
    return min(minutes, MAX_JOB_MINUTES) if MAX_JOB_MINUTES else minutes


def job_runtime(stage):
    """The runtime request of one job of `stage` (whole minutes, as schedulers take them)."""
    return max(1, math.ceil(job_minutes(stage)))


def chain_option(stage):
    """`--max-seconds` of one job of a chain: 85 % of its time (start-up, the last checkpoint and the
    copy-out fit in the rest); nothing without a wall-time limit."""
    return f"--max-seconds {job_minutes(stage) * 60 * 0.85:.2f}" if MAX_JOB_MINUTES else ""


class Chain:
    """A chained stage from one path pattern: the checkpoint `stage` runs jobs 0, 1, 2, ... in
    `folder` (a pattern with the stage's wildcards), each writing `folder/job_<k>.json` and resuming the
    previous job's checkpoint there; the rule `<stage>_result` (made in chains.smk for every Chain)
    then moves each of `results` (output name: (file in `folder`, final path pattern)) into place."""

    def __init__(self, stage, folder, results, constraints, env):
        self.stage, self.folder, self.results = stage, folder, results
        self.constraints, self.env = constraints, env
        self.job = f"{folder}/job_{{job}}.json"
        names = re.findall(r"{(\w+)}", folder)
        pattern = "_".join(f"{{{n}}}" for n in names)
        self.result_log = f"{RESULTS}/logs/{stage}/{pattern}_result.log"
        CHAINS.append(self)

    def previous(self, wildcards):
        """Input of job k: the status file of job k - 1 (none for the first)."""
        k = int(wildcards.job)
        return [] if k == 0 else [self.job.format(**{**dict(wildcards), "job": k - 1})]

    def work(self, name):
        """Params function: the path of `name` in the chain's folder for a job's wildcards."""
        return lambda w: f"{self.folder}/{name}".format(**dict(w))

    def outputs(self):
        return {key: final for key, (_, final) in self.results.items()}

    def moves(self, wildcards):
        """`chain-result` arguments: each result's file in the chain folder, then its final path."""
        w = dict(wildcards)
        return " ".join(f"{self.folder}/{src} {final}".format(**w) for src, final in self.results.values())


CHAINS = []  # every Chain; workflow/rules/chains.smk makes their result rules


def chain_done(ckpt, max_jobs=10000):
    """Input function: the status file of the job of `ckpt` that completed the stage."""
    def inputs(wildcards):
        for k in range(max_jobs):
            status = ckpt.get(**dict(wildcards), job=k).output[0]
            if json.loads(Path(status).read_text())["complete"]:
                return status
        raise ValueError(f"{ckpt.rule.name}: no job of {max_jobs} completed")
    return inputs


def family(name):
    """Systems that declare the figure family `name` (cgexplain.systems.FIGURE_FAMILIES)."""
    return [s for s in SYSTEMS if name in SYSTEM[s].figures]


def pattern(names):
    """A wildcard constraint matching exactly `names` (and nothing when empty)."""
    return "|".join(re.escape(n) for n in names) or "(?!x)x"


def block(system):
    return config["systems"][system]


def module_name(wildcards):
    """The registered system (module) that the block of `wildcards.system` runs."""
    return block(wildcards.system).get("system", wildcards.system)


def route(system):
    return SYSTEM[system].route(block(system))


def models_of(system):
    return system_models(config, system)


SYSTEM_MODELS = [(s, m) for s in SYSTEMS for m in models_of(s)]
FETCH_SYSTEMS = [s for s in SYSTEMS if SYSTEM[s].needs_fetch(block(s))]
MD_SYSTEMS = [s for s in SYSTEMS if route(s) == "md"]
IMPORT_SYSTEMS = [s for s in SYSTEMS if route(s) == "import"]
PRIOR_SYSTEMS = [s for s in SYSTEMS if "prior" in block(s)]


NOT_REFERENCE = ("system", "enabled", "models", "prior", "train", "simulate")


def system_params(system):
    """What the system's reference data depends on: its config block without the model, training,
    simulation and analysis keys, with the common md keys merged under its own, as JSON."""
    drop = set(NOT_REFERENCE) | set(SYSTEM[system].analysis_keys)
    b = {k: v for k, v in block(system).items() if k not in drop}
    b["md"] = {**config["md"], **b.get("md", {})}
    return to_json({**b, "seed": config["seed"]})


def source_dir(system):
    return f"{RESULTS}/{system}/source"


def fetched(wildcards):
    """The fetched-inputs folder of a system that needs one (else nothing)."""
    return [source_dir(wildcards.system)] if wildcards.system in FETCH_SYSTEMS else []


def replica_files(wildcards):
    n = SYSTEM[wildcards.system].n_replicas(block(wildcards.system))
    return [f"{RESULTS}/{wildcards.system}/aa/replica_{k}.h5" for k in range(n)]


def import_source(wildcards):
    local = block(wildcards.system).get("data", {}).get("local_dir")
    return local or source_dir(wildcards.system)


# Supplementary Figure S2 (cutoff_study): models of one architecture at other cutoffs. Each is a model
# name of its own (painn_c4, cgexplain.core.config.cutoff_model_name) that goes through the same train,
# simulate and observables rules as the architectures, with the architecture's hyper-parameters and
# settings and only the cutoff changed; the cutoff equal to the architecture's own is that model.
STUDY = cutoff_study(config)  # None when off
STUDY_VARIANTS = cutoff_variants(config)  # {name: {arch, cutoff_A}}: the models the study adds
TRAINED = MODELS + list(STUDY_VARIANTS)  # every model name the train / simulate rules build


def arch_of(model):
    """The architecture of a model name (`painn`, or the study's `painn_c4`)."""
    return STUDY_VARIANTS[model]["arch"] if model in STUDY_VARIANTS else model


def train_params(system, model):
    return to_json({**stage_params(config, "train", system, arch_of(model)), "seed": config["seed"]})


def sim_params(system, model):
    return to_json({**stage_params(config, "simulate", system, arch_of(model)), "seed": config["seed"]})


def arch_hparams(model, system):
    """Hyper-parameters of a model: its architecture's, with the study's cutoff for a study model."""
    if model in STUDY_VARIANTS:
        v = STUDY_VARIANTS[model]
        return {**block(system)["models"][v["arch"]], "cutoff_A": v["cutoff_A"]}
    return block(system)["models"][model]


def study_obs():
    """(source, observables file) of the S2 figure: the AA reference, then each cutoff in increasing
    order, the source named by architecture and cutoff (painn_c7) also where the file is the
    architecture's own model (analysis/painn.npz)."""
    s, arch = STUDY["system"], STUDY["arch"]
    return [("aa", f"{RESULTS}/{s}/analysis/aa.npz")] + [
        (cutoff_model_name(arch, c), f"{RESULTS}/{s}/analysis/{m}.npz") for c, m in STUDY["models"]]


def model_cutoffs(system):
    return sorted({float(arch_hparams(m, system)["cutoff_A"]) for m in models_of(system)})


def prior_file(system):
    return f"{RESULTS}/{system}/prior/prior.pt"


def train_input(wildcards):
    inp = {"dataset": f"{RESULTS}/{wildcards.system}/cg/dataset.npz"}
    if wildcards.system in PRIOR_SYSTEMS:
        inp["prior"] = prior_file(wildcards.system)
    return inp


def prior_option(wildcards, input):
    return f"--prior {input.prior}" if "prior" in input.keys() else ""


# analysis.smk
def observables_input(w):
    if w.source == "aa":
        return f"{RESULTS}/{w.system}/cg/dataset.npz"
    return f"{RESULTS}/{w.system}/cgsim/{w.source}/trajectory.npz"


def triplet_cutoffs(w):
    if w.source in TRAINED:
        return arch_hparams(w.source, w.system)["cutoff_A"]
    return " ".join(str(c) for c in model_cutoffs(w.system))


# figures.smk
def has_source(system, source):
    """Whether `system` makes observables of `source`: the references (aa, imc) and the models it trains."""
    return source in ("aa", "imc") or source in models_of(system)


def obs_args(systems, sources):
    return " ".join(f"{s}:{src}:{RESULTS}/{s}/analysis/{src}.npz"
                    for s in systems for src in sources if has_source(s, src))


def obs_files(systems, sources):
    return [f"{RESULTS}/{s}/analysis/{src}.npz" for s in systems for src in sources if has_source(s, src)]


# relevance stage
def results_of_figure(wildcards, output):
    """The results folder of a figure rule, derived from its output ({results}/figures/x.pdf)."""
    return str(Path(output.pdf).parent.parent)


# Relevance scattered over frames (relevance.chunk_frames): each selection of frames is explained by
# chunk jobs of at most chunk_frames frames, joined by `relevance_gather` into one file.
def n_chunks(n_frames):
    size = config["relevance"]["chunk_frames"]
    return 1 if not size else max(1, math.ceil(int(n_frames) / int(size)))


def chunk_option(wildcards):
    size = config["relevance"]["chunk_frames"]
    return f"--chunk {wildcards.chunk} --chunk-size {size}" if size else ""


def relevance_frames(name):
    """Frames the relevance file `name` (aa, cg, state_<S>, mutant_<M>) explains at most."""
    if name in ("aa", "cg"):
        return config["relevance"][f"n_frames_{name}"]
    return config["protein"]["n_frames_per_state"]


def relevance_chunks(wildcards):
    base = f"{RESULTS}/{wildcards.system}/relevance/{wildcards.model}/{wildcards.name}.chunks"
    return [f"{base}/chunk_{k}.npz" for k in range(n_chunks(relevance_frames(wildcards.name)))]


def relevance_input(wildcards):
    src = (f"{RESULTS}/{wildcards.system}/cg/dataset.npz" if wildcards.source == "aa"
           else f"{RESULTS}/{wildcards.system}/cgsim/{wildcards.model}/trajectory.npz")
    return {"model": f"{RESULTS}/{wildcards.system}/models/{wildcards.model}/model.pt", "frames": src}


def relevance_files(systems, models, source):
    return [f"{RESULTS}/{s}/relevance/{m}/{source}.npz" for s in systems for m in models if m in models_of(s)]


# baselines.smk
def _obs_items(systems, sources):
    return [(s, src, f"{RESULTS}/{s}/analysis/{src}.npz") for s in systems for src in sources if has_source(s, src)]


def _obs_args(items):
    return " ".join(f"--input {s} {src} {p}" for s, src, p in items)


# protein.smk
PROT = config["protein"]
PROTEIN_SYSTEMS = family("protein")
PROTEIN_STATES = ["F", "U", "P1", "P2"]
PROT_FIG = f"{RESULTS}/figures"


def protein_model(system):
    """The architecture the protein figures explain: PaiNN as in the paper, else the first one run."""
    ms = models_of(system)
    return "painn" if "painn" in ms else ms[0]


def system_label(w):
    """Params function: what the block of `w.system` runs, for figure titles (System.label: which NTL9)."""
    return SYSTEM[w.system].label(block(w.system))


def structure_of(system):
    src = source_dir(system) if system in FETCH_SYSTEMS else None
    return str(SYSTEM[system].structure_path(block(system), src))


def mutations_of(system):
    return list(block(system).get("mutations", []))


def mutate_arg(w):
    names = type_names(sequence_types(block(w.system)["sequence"]))
    bead, res = parse_mutation(w.mutation, names)
    return f"{bead}:{res}"


def state_frames(w):
    return (f"{RESULTS}/{w.system}/cg/dataset.npz" if w.source == "aa"
            else f"{RESULTS}/{w.system}/cgsim/{w.source}/trajectory.npz")


def rel_common(w):
    return {"model": f"{RESULTS}/{w.system}/models/{w.model}/model.pt",
            "dataset": f"{RESULTS}/{w.system}/cg/dataset.npz",
            "states": f"{RESULTS}/{w.system}/states/aa.npz"}


def maps_input(w):
    d = rel_common(w)
    d.update({f"state_{s}": f"{RESULTS}/{w.system}/relevance/{w.model}/state_{s}.npz" for s in PROTEIN_STATES})
    d.update({f"mutant_{m}": f"{RESULTS}/{w.system}/relevance/{w.model}/mutant_{m}.npz"
              for m in mutations_of(w.system)})
    return d


def maps_args(w, input):
    st = " ".join(f"{s}={input[f'state_{s}']}" for s in PROTEIN_STATES)
    mu = " ".join(f"{m}={input[f'mutant_{m}']}" for m in mutations_of(w.system))
    return f"--state {st}" + (f" --mutant {mu}" if mu else "")


def protein_file(kind):
    """Input function: the protein analysis file `kind` (fes | maps) of the system's explained model."""
    if kind == "fes":
        return lambda w: f"{RESULTS}/{w.system}/fes/{protein_model(w.system)}.npz"
    return lambda w: f"{RESULTS}/{w.system}/relevance/{protein_model(w.system)}/maps.npz"



# truth.smk: the ground-truth systems (their module implements System.truth_model). A chain (protein family)
# is compared on its folded-state and mutant relevance files, a fluid (fluid_relevance family) on the
# relevance of its reference frames (aa.npz).
TRUTH_SYSTEMS = [s for s in PROTEIN_SYSTEMS + family("fluid_relevance") if has_truth(SYSTEM[s])]
TRUTH_MODELS = sorted({m for s in TRUTH_SYSTEMS for m in models_of(s)})
TRUTH_FIG = f"{RESULTS}/figures"


def truth_input(w):
    d = {"dataset": f"{RESULTS}/{w.system}/cg/dataset.npz"}
    if w.system not in PROTEIN_SYSTEMS:
        return {**d, "relevance": f"{RESULTS}/{w.system}/relevance/{w.model}/aa.npz"}
    d["relevance"] = f"{RESULTS}/{w.system}/relevance/{w.model}/state_F.npz"
    if w.system in PRIOR_SYSTEMS:
        d["prior"] = prior_file(w.system)
    d.update({f"mutant_{m}": f"{RESULTS}/{w.system}/relevance/{w.model}/mutant_{m}.npz"
              for m in mutations_of(w.system)})
    return d


def truth_args(w, input):
    if w.system not in PROTEIN_SYSTEMS:  # the (θ, L) bins of Figure 3, with its sparse-bin mask
        return f"--min-count {int(config['relevance'].get('min_triplets_per_bin', 25))}"
    mu = " ".join(f"{m}={input[f'mutant_{m}']}" for m in mutations_of(w.system))
    return prior_option(w, input) + (f" --mutant {mu}" if mu else "")


def truth_title(w):
    """The figure's title: which system (System.label), model and frames."""
    what = "the folded state" if w.system in PROTEIN_SYSTEMS else "the reference frames"
    return f"{system_label(w)}, {source_label(w.model)}: relevance of {what} vs the true U_net"

wildcard_constraints:
    system=pattern(SYSTEMS),
    model=pattern(MODELS),
    replica=r"\d+",


# every system's CG model(s) and CG trajectories are final outputs, whatever figures it has
TARGETS += [f"{RESULTS}/{s}/cgsim/{m}/trajectory.npz" for s, m in SYSTEM_MODELS]
