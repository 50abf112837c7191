# The result rule of every chained stage (common.smk's Chain): once a job of the stage's checkpoint
# says complete, a small local rule moves the chain folder's results into place.


for stage_chain in CHAINS:

    rule:
        name:
            f"{stage_chain.stage}_result"
        input:
            chain_done(getattr(checkpoints, stage_chain.stage)),
        output:
            **stage_chain.outputs(),
        params:
            moves=stage_chain.moves,
        log:
            stage_chain.result_log,
        wildcard_constraints:
            **stage_chain.constraints,
        localrule: True
        conda:
            stage_chain.env
        shell:
            "cgexplain --log {log} chain-result --status {input} {params.moves}"
