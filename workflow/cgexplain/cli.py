"""Command line entry point: ``cgexplain <command> [options]``.

Each command lives in the module that holds its science and is imported only when it is called,
so that ``cgexplain --help`` and light commands start quickly (OpenMM, SchNetPack and Matplotlib
are heavy imports).

``cgexplain --log FILE <command> …`` (as the rules call it) appends the command's output, and that of
its subprocesses, to ``FILE`` under a header line per attempt (time, attempt number, fresh or
resumed), keeping the earlier attempts (:func:`cgexplain.core.runtime.open_attempt_log`).
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str]] = {
    # name: (module:function, one-line help)
    "fetch": ("cgexplain.reference.routes:main_fetch", "download the inputs of a system's reference-data route"),
    "md": ("cgexplain.reference.reference_md:main", "run all-atom reference MD (OpenMM) of one replica of a system"),
    "chain-result": ("cgexplain.core.runtime:main_chain_result", "move the result of a completed chain of jobs into place"),
    "map": ("cgexplain.reference.mapping:main", "map AA trajectories to the CG dataset (the system's CG map, split)"),
    "import-data": ("cgexplain.reference.routes:main_import", "write the CG dataset from published CG data"),
    "fit-prior": ("cgexplain.train:main_fit_prior", "fit a prior (e.g. the protein Cα prior) to a CG dataset"),
    "train": ("cgexplain.train:main", "force-matching training of one SchNetPack model"),
    "simulate": ("cgexplain.simulate:main", "batched CG Langevin simulation with a trained model"),
    "observables": ("cgexplain.analysis.observables:main", "structural observables (RDF, angles, q, triplets) of a trajectory"),
    "plot": ("cgexplain.figures.fluid:main", "draw one figure of the fluid structure comparison"),
    "relevance": ("cgexplain.relevance.run:main_relevance", "GNN-LRP walk relevances aggregated per frame"),
    "relevance-gather": ("cgexplain.relevance.run:main_gather", "join the relevance files of the chunks of one run"),
    "explain": ("cgexplain.explain:main", "2-/3-body relevances of any SchNetPack model on any trajectory"),
    "plot-relevance": ("cgexplain.figures.relevance:main", "draw one relevance figure (2, 3, S5/S6, S9, S10)"),
    "imc": ("cgexplain.baselines.imc:main_imc", "IMC pair potential with VOTCA + LAMMPS"),
    "imc-sim": ("cgexplain.baselines.imc:main_sim", "production CG run with the final IMC table"),
    "manybody": ("cgexplain.baselines.manybody:main", "many-body decomposition of a trained network"),
    "plot-baselines": ("cgexplain.figures.baselines:main", "draw one baseline figure (S1, S3, S4)"),
    "states": ("cgexplain.analysis.protein:main_states", "folding states (F, U, P1, P2) of Cα frames"),
    "fes": ("cgexplain.analysis.protein:main_fes", "TICA free-energy surfaces of the reference and a CG run"),
    "relevance-maps": ("cgexplain.analysis.protein:main_maps", "2-/3-body relevance maps per folding state and mutant"),
    "plot-protein": ("cgexplain.figures.protein:main", "draw one protein figure (4, 5, 6, 7, S11)"),
    "truth": ("cgexplain.analysis.truth:main", "relevance of a ground-truth system against its true pair/triplet energies"),
    "plot-truth": ("cgexplain.figures.truth:main", "draw relevance against the true energies (pairs, bins, mutants)"),
    "record": ("cgexplain.core.record:main", "write the run record: config, versions, git revision, seeds, device"),
}


# commands that resume from a fingerprinted work folder write their own header (fresh or resumed)
RESUMABLE = ("md", "train", "simulate", "relevance", "explain", "imc")


def _usage() -> str:
    lines = ["usage: cgexplain [--log FILE] <command> [options]", "", "commands:"]
    lines += [f"  {name:<15} {help_}" for name, (_, help_) in COMMANDS.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(_usage())
        return 0
    log_file = None
    if argv[0] == "--log":
        if len(argv) < 3:
            print(f"cgexplain: --log needs a file and a command\n\n{_usage()}", file=sys.stderr)
            return 2
        log_file, argv = argv[1], argv[2:]
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"cgexplain: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    if log_file is not None:
        from .core.runtime import header, open_attempt_log

        open_attempt_log(log_file, "cgexplain " + " ".join(argv))
        if name not in RESUMABLE:
            header("fresh")
    mod_name, func_name = COMMANDS[name][0].split(":")
    func = getattr(importlib.import_module(mod_name), func_name)
    from .core.config import ParamsError
    from .core.errors import InputError, report

    try:
        rc = int(func(rest) or 0)
    except (InputError, ParamsError) as exc:  # a bad input file or parameter: one line naming it
        rc = report(name, exc)
    except BaseException:
        if log_file is not None:
            from .core.runtime import header

            header("failed before its stage started")
        raise
    if log_file is not None:
        from .core.runtime import header

        header("ended before its stage started" if rc else "fresh")
    return rc


if __name__ == "__main__":
    sys.exit(main())
