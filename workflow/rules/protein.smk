# Protein analyses (systems of the "protein" figure family): folding states, TICA free-energy surfaces,
# relevance per state and per mutant, and Figures 4, 5, 6, 7 and S11. Helpers in common.smk.

rule protein_states:
    input:
        frames=state_frames,
        source=fetched,
    output:
        f"{RESULTS}/{{system}}/states/{{source}}.npz",
    params:
        p=to_json({k: PROT[k] for k in STATE_KEYS}),
        structure=lambda w: structure_of(w.system),
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/states/{{system}}_{{source}}.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
        source=pattern(["aa"] + MODELS),
    resources:
        mem_mb=res("analysis", "mem_mb"),
        runtime=res("analysis", "runtime"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} states --input {input.frames} --structure {params.structure} --params '{params.p}'"
        " --seed {params.seed} --out {output}"


rule protein_fes:
    input:
        dataset=f"{RESULTS}/{{system}}/cg/dataset.npz",
        trajectory=f"{RESULTS}/{{system}}/cgsim/{{model}}/trajectory.npz",
        states_aa=f"{RESULTS}/{{system}}/states/aa.npz",
        states_cg=f"{RESULTS}/{{system}}/states/{{model}}.npz",
    output:
        f"{RESULTS}/{{system}}/fes/{{model}}.npz",
    params:
        p=to_json({k: PROT[k] for k in ("tica_lag", "tica_min_separation", "fes_bins")}),
    log:
        f"{RESULTS}/logs/fes/{{system}}_{{model}}.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
    resources:
        mem_mb=res("analysis", "mem_mb"),
        runtime=res("analysis", "runtime"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} fes --dataset {input.dataset} --trajectory {input.trajectory} --states-aa {input.states_aa}"
        " --states-cg {input.states_cg} --params '{params.p}' --model {wildcards.model} --out {output}"


rule relevance_state:
    input:
        unpack(rel_common),
    output:
        f"{RESULTS}/{{system}}/relevance/{{model}}/state_{{state}}.chunks/chunk_{{chunk}}.npz",
    params:
        chunk=chunk_option,
        gamma=config["relevance"]["gamma"],
        dtype=config["relevance"]["dtype"],
        device=config["device"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/relevance/{{system}}_{{model}}_state_{{state}}_chunk{{chunk}}.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
        state=pattern(PROTEIN_STATES),
        chunk=r"\d+",
    threads: res("relevance", "threads")
    resources:
        gpu=GPU,
        mem_mb=res("relevance", "mem_mb"),
        runtime=res("relevance", "runtime"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} relevance --model {input.model} --dataset {input.dataset} --frames-npz {input.states}"
        " --frames-key sample_{wildcards.state} --gamma {params.gamma} --dtype {params.dtype}"
        " --device {params.device} --seed {params.seed} {params.chunk} --out {output}"


rule relevance_mutant:
    input:
        unpack(rel_common),
    output:
        f"{RESULTS}/{{system}}/relevance/{{model}}/mutant_{{mutation}}.chunks/chunk_{{chunk}}.npz",
    params:
        chunk=chunk_option,
        mutate=mutate_arg,
        gamma=config["relevance"]["gamma"],
        dtype=config["relevance"]["dtype"],
        device=config["device"],
        seed=config["seed"],
    log:
        f"{RESULTS}/logs/relevance/{{system}}_{{model}}_mutant_{{mutation}}_chunk{{chunk}}.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
        mutation=r"[A-Z]{3}\d+[A-Z]{3}",
        chunk=r"\d+",
    threads: res("relevance", "threads")
    resources:
        gpu=GPU,
        mem_mb=res("relevance", "mem_mb"),
        runtime=res("relevance", "runtime"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} relevance --model {input.model} --dataset {input.dataset} --frames-npz {input.states}"
        " --frames-key sample_F --mutate {params.mutate} --gamma {params.gamma} --dtype {params.dtype}"
        " --device {params.device} --seed {params.seed} {params.chunk} --out {output}"


rule relevance_maps:
    input:
        unpack(maps_input),
    output:
        maps=f"{RESULTS}/{{system}}/relevance/{{model}}/maps.npz",
        pairs=f"{RESULTS}/{{system}}/relevance/{{model}}/pairs.csv",
        triplets=f"{RESULTS}/{{system}}/relevance/{{model}}/triplets.csv",
    params:
        files=maps_args,
        cutoff=PROT["contact_cutoff_A"],
    log:
        f"{RESULTS}/logs/relevance/{{system}}_{{model}}_maps.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
    resources:
        mem_mb=res("analysis", "mem_mb"),
        runtime=res("analysis", "runtime"),
    conda:
        "../../envs/relevance.yaml"
    shell:
        "cgexplain --log {log} relevance-maps --dataset {input.dataset} --states-aa {input.states} --model {input.model}"
        " {params.files} --contact-cutoff-A {params.cutoff} --out {output.maps} --pairs-csv {output.pairs}"
        " --triplets-csv {output.triplets}"


rule fig4_fes:
    input:
        protein_file("fes"),
    output:
        pdf=f"{PROT_FIG}/fig4_fes_{{system}}.pdf",
        png=report(f"{PROT_FIG}/fig4_fes_{{system}}.png", caption="../report/protein_fig4.rst", category="Protein"),
    params:
        label=system_label,
    log:
        f"{RESULTS}/logs/figures/fig4_fes_{{system}}.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} plot-protein fig4 --fes {input} --label {params.label:q} --out {output.pdf}"


rule fig5_relevance_maps:
    input:
        protein_file("maps"),
    output:
        pdf=f"{PROT_FIG}/fig5_relevance_maps_{{system}}.pdf",
        png=report(f"{PROT_FIG}/fig5_relevance_maps_{{system}}.png", caption="../report/protein_fig5.rst",
                   category="Protein"),
    params:
        label=system_label,
        mask="--mask-se" if PROT["mask_se"] else "",
    log:
        f"{RESULTS}/logs/figures/fig5_relevance_maps_{{system}}.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} plot-protein fig5 --maps {input} {params.mask} --label {params.label:q} --out {output.pdf}"


rule fig6_strongest:
    input:
        protein_file("maps"),
    output:
        pdf=f"{PROT_FIG}/fig6_strongest_{{system}}.pdf",
        png=report(f"{PROT_FIG}/fig6_strongest_{{system}}.png", caption="../report/protein_fig6.rst",
                   category="Protein"),
        pml=f"{PROT_FIG}/fig6_strongest_{{system}}.pml",
        cxc=f"{PROT_FIG}/fig6_strongest_{{system}}.cxc",
        pdb=f"{PROT_FIG}/fig6_strongest_{{system}}_structure.pdb",
    params:
        label=system_label,
        k=PROT["top_k"],
    log:
        f"{RESULTS}/logs/figures/fig6_strongest_{{system}}.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} plot-protein fig6 --maps {input} --k {params.k} --pml {output.pml} --cxc {output.cxc}"
        " --pdb {output.pdb} --label {params.label:q} --out {output.pdf}"


rule fig7_mutations:
    input:
        protein_file("maps"),
    output:
        pdf=f"{PROT_FIG}/fig7_mutations_{{system}}.pdf",
        png=report(f"{PROT_FIG}/fig7_mutations_{{system}}.png", caption="../report/protein_fig7.rst",
                   category="Protein"),
    params:
        label=system_label,
        k=PROT["top_k"],
    log:
        f"{RESULTS}/logs/figures/fig7_mutations_{{system}}.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} plot-protein fig7 --maps {input} --k {params.k} --label {params.label:q} --out {output.pdf}"


rule figS11_contacts:
    input:
        protein_file("maps"),
    output:
        pdf=f"{PROT_FIG}/figS11_contacts_{{system}}.pdf",
        png=report(f"{PROT_FIG}/figS11_contacts_{{system}}.png", caption="../report/protein_s11.rst",
                   category="Protein"),
    params:
        label=system_label,
    log:
        f"{RESULTS}/logs/figures/figS11_contacts_{{system}}.log",
    wildcard_constraints:
        system=pattern(PROTEIN_SYSTEMS),
    resources:
        mem_mb=res("plot", "mem_mb"),
    conda:
        "../../envs/analysis.yaml"
    shell:
        "cgexplain --log {log} plot-protein s11 --maps {input} --label {params.label:q} --out {output.pdf}"


PROTEIN_FIGURES = ["fig4_fes", "fig5_relevance_maps", "fig6_strongest", "fig7_mutations", "figS11_contacts"]
TARGETS += [f"{PROT_FIG}/{name}_{s}.{ext}" for s in PROTEIN_SYSTEMS for name in PROTEIN_FIGURES
            for ext in ("pdf", "png")]
TARGETS += [f"{RESULTS}/{s}/relevance/{protein_model(s)}/{t}.csv" for s in PROTEIN_SYSTEMS
            for t in ("pairs", "triplets")]
