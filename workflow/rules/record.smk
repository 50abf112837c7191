# Reproducibility record: the resolved config, package versions, git revision, seeds and device of
# the run, next to its results (cgexplain.core.record). Its inputs are every other final output (TARGETS is
# complete when the rule's input is evaluated, after all rule files are read), so it is written last,
# and again whenever a run rebuilds any of them; its params are the merged config, so a changed config
# rewrites it too. It runs in Snakemake's own environment (`run:`, never a conda env): the one it
# records; with --use-conda the stages' own are pinned by envs/*.yaml, whose hashes it lists.
import os

RUN_RECORD = f"{RESULTS}/run_record.yaml"


rule run_record:
    input:
        lambda w: [t for t in TARGETS if t != RUN_RECORD],
    output:
        report(RUN_RECORD, caption="../report/run_record.rst", category="Run record"),
    params:
        cfg=lambda w: to_json(config),
        # the config files in the order they apply (later wins): the Snakefile's, then the command line's
        configfiles=list(dict.fromkeys(sorted((os.path.relpath(f) for f in workflow.configfiles),
            key=lambda f: any(os.path.samefile(f, c) for c in workflow.overwrite_configfiles or ())))),
        workflow_dir=os.path.relpath(workflow.basedir),
        # Snakemake's deployment methods of this run (conda, apptainer, env_modules)
        deployment=lambda w: sorted(m.name.lower() for m in
                                    getattr(getattr(workflow, "deployment_settings", None), "deployment_method", None) or ()),
    log:
        f"{RESULTS}/logs/run_record.log",
    localrule: True
    run:
        shell("cgexplain --log {log} record --config {params.cfg:q} --configfile {params.configfiles:q}"
              " --workflow-dir {params.workflow_dir:q} --deployment {params.deployment} --out {output}")


TARGETS.append(RUN_RECORD)
