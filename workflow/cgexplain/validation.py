"""Validation of a merged workflow config: the schema, each system's own keys, and cross-key limits.

Every bad value is one line naming the key (``<source>: invalid value at '<dotted.key>': ...``), raised as
:class:`cgexplain.core.config.ParamsError` when the config is read (``workflow/rules/common.smk``).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .core.config import OVERRIDABLE, RESOURCE_STAGES, ParamsError, enabled_systems, stage_params, system_models


def schema_path() -> Path:
    return Path(__file__).resolve().parents[1] / "schemas" / "config.schema.yaml"


def _override_schema(section_schema: dict, with_per_model: bool) -> dict:
    """The schema of an override of a section: the same keys and limits, none required."""
    props = dict(section_schema["properties"])
    per_model = props.pop("per_model", None)
    over = {"type": "object", "additionalProperties": False, "properties": props}
    if per_model is not None and with_per_model:
        return {**over, "properties": {**props, "per_model": {**per_model, "additionalProperties": over}}}
    return over


def _message(e) -> str:
    """jsonschema's message, with unknown mapping keys (``propertyNames``) said as such."""
    if "propertyNames" in e.schema_path and e.validator == "enum":
        return f"unknown key {e.instance!r} (expected one of {list(e.validator_value)})"
    return e.message


def _first_error(schema: dict, value, source: str, prefix: list, definitions: dict | None = None) -> None:
    import jsonschema

    if definitions is not None:
        schema = {**schema, "definitions": definitions}
    v = jsonschema.Draft202012Validator(schema)
    errors = sorted(v.iter_errors(value), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        e = errors[0]
        where = ".".join(str(p) for p in [*prefix, *e.absolute_path]) or "<top level>"
        raise ParamsError(_one_line(source, where, _message(e)))


def _one_line(source: str, where: str, msg) -> str:
    """The error line: ``<source>: invalid value at '<dotted.key>': <what was expected>``."""
    return f"{source}: invalid value at '{where}': " + " ".join(str(msg).splitlines())


def load_schema() -> dict:
    """The workflow schema, with the stages of ``resources`` filled in from :data:`RESOURCE_STAGES`."""
    schema = yaml.safe_load(schema_path().read_text())
    schema["properties"]["resources"]["propertyNames"] = {"enum": list(RESOURCE_STAGES)}
    return schema


def validate_config(cfg: dict, source: str = "config") -> None:
    """Validate a merged config; raise one line naming the bad key.

    Three layers: the workflow schema; each system block against the keys common to all systems plus
    those its system module declares (``config_schema``), and its train/simulate overrides (and every
    ``per_model`` entry) against the keys of their sections; then the limits that tie keys together
    (:func:`_check_cross_keys`).
    """
    from .systems import get_system

    schema = load_schema()
    _first_error(schema, cfg, source, [])
    sections, defs = schema["properties"], schema["definitions"]
    for sec in OVERRIDABLE:
        _first_error({"type": "object", "properties": {"per_model": {
            "type": "object", "additionalProperties": _override_schema(sections[sec], False)}}},
            cfg[sec], source, [sec], defs)
    common = schema["definitions"]["system"]
    for key, block in cfg["systems"].items():
        name = block.get("system", key)
        try:
            system = get_system(name)
        except KeyError as e:
            raise ParamsError(_one_line(source, f"systems.{key}.system", e.args[0])) from None
        except ImportError as e:  # a dotted path whose package is missing, or a module that fails to import
            raise ParamsError(_one_line(source, f"systems.{key}.system",
                                        f"cannot import system module {name!r}: {e or type(e).__name__}")) from None
        own = system.config_schema
        full = {"type": "object", "additionalProperties": False,
                "required": list(common["required"]) + list(own.get("required", [])),
                "properties": {**common["properties"], **own.get("properties", {}),
                               **{sec: _override_schema(sections[sec], True) for sec in OVERRIDABLE}}}
        _first_error(full, block, source, ["systems", key], defs)
        for where, msg in system.config_errors(block)[:1]:
            raise ParamsError(_one_line(source, f"systems.{key}.{where}", msg))
    _check_cross_keys(cfg, source)


def _layer_paths(cfg: dict, section: str, key: str, model: str) -> list[tuple[str, dict]]:
    """The blocks that :func:`stage_params` layers for ``section``, ``key``, ``model``, with their
    dotted paths, in the order they apply (later wins)."""
    out = []
    for prefix, block in ((section, cfg[section]), (f"systems.{key}.{section}", cfg["systems"][key].get(section))):
        block = block or {}
        out.append((prefix, block))
        out.append((f"{prefix}.per_model.{model}", (block.get("per_model") or {}).get(model) or {}))
    return out


def _source_of(cfg: dict, section: str, key: str, model: str, name: str) -> tuple[str, int]:
    """Dotted path of the block that sets ``name`` last for (section, system, model), and its rank."""
    found = (f"{section}.{name}", 0)
    for rank, (prefix, block) in enumerate(_layer_paths(cfg, section, key, model)):
        if name in block:
            found = (f"{prefix}.{name}", rank)
    return found


def _check_cross_keys(cfg: dict, source: str) -> None:
    """Limits that depend on several keys or on a system's geometry, for the systems and models that run."""
    from .reference.reference_md import MD_KEYS
    from .systems import get_system

    def fail(where: str, msg: str):
        raise ParamsError(_one_line(source, where, msg))

    def ordered(section, key, model, small, large, msg):
        """``stage_params(...)[small] <= [large]``; else fail at whichever of the two is set more specifically."""
        p = stage_params(cfg, section, key, model)
        if p[small] <= p[large]:
            return
        (ps, rs), (pl, rl) = (_source_of(cfg, section, key, model, k) for k in (small, large))
        if rl > rs:  # name the more specific of the two settings
            fail(pl, f"{p[large]} is below {small} ({p[small]}, set at {ps}) for system {key}, model {model}: {msg}")
        fail(ps, f"{p[small]} exceeds {large} ({p[large]}, set at {pl}) for system {key}, model {model}: {msg}")

    run = enabled_systems(cfg)
    if not run:
        fail("systems", "every system has enabled: false; nothing to run")
    for key in run:
        if not system_models(cfg, key):
            fail(f"systems.{key}.models", f"none of its architectures {sorted(cfg['systems'][key]['models'])} "
                 f"is in models {cfg['models']}")
    for i, m in enumerate(cfg["manybody"].get("models") or []):
        if m not in cfg["models"]:
            fail(f"manybody.models.{i}", f"{m!r} is not in models {cfg['models']} (it would be skipped)")
    for i, key in enumerate(cfg["imc"]["systems"]):
        if key not in run:
            fail(f"imc.systems.{i}", f"{key!r} is not a system that runs (systems: {run})")
        if "imc" not in get_system(cfg["systems"][key].get("system", key)).figures:
            fail(f"imc.systems.{i}", f"system {key!r} has no IMC baseline (not a periodic one-bead liquid)")
    for key in run:
        block = cfg["systems"][key]
        system = get_system(block.get("system", key))
        models = system_models(cfg, key)
        for m in models:
            ordered("train", key, m, "min_lr", "lr", "the plateau schedule would never lower the learning rate")
            ordered("simulate", key, m, "save_interval", "n_steps", "a replica would save no frame")
        if system.route(block) == "md":
            md = {**cfg["md"], **(block.get("md") or {})}
            missing = [k for k in MD_KEYS if k not in md]
            if missing:
                fail(f"systems.{key}.md", f"{missing[0]!r} is required: the system runs reference MD")
            for k in ("timestep_fs", "save_interval_ps", "equilibration_ps", "production_ps"):
                if isinstance(md[k], bool) or not isinstance(md[k], (int, float)) or md[k] < 0:
                    fail(f"systems.{key}.md.{k}", f"{md[k]!r} is not a non-negative number")
            dt_ps = float(md["timestep_fs"]) * 1e-3
            if float(md["save_interval_ps"]) < dt_ps:
                fail(f"systems.{key}.md.save_interval_ps", f"{md['save_interval_ps']} ps is shorter than one "
                     f"timestep (timestep_fs {md['timestep_fs']} fs)")
            if float(md["save_interval_ps"]) > float(md["production_ps"]):
                fail(f"systems.{key}.md.save_interval_ps", f"{md['save_interval_ps']} ps exceeds production_ps "
                     f"({md['production_ps']} ps): the run would save no frame")
        box = system.box_A(block) if system.periodic else None
        if box is None:
            continue
        half = 0.5 * float(min(box))
        for m in models:
            c = float(block["models"][m]["cutoff_A"])
            if c > half:
                fail(f"systems.{key}.models.{m}.cutoff_A", f"{c} Å exceeds half the smallest box length ({half:.2f} Å)")
        nb = (block.get("md") or {}).get("nonbonded_cutoff_nm")
        if system.route(block) == "md" and nb is not None and 10.0 * float(nb) > half:
            fail(f"systems.{key}.md.nonbonded_cutoff_nm", f"{nb} nm exceeds half the smallest box length "
                 f"({half / 10:.4f} nm), the most OpenMM accepts with periodic boundaries")
        if "fluid_structure" in system.figures and float(cfg["analysis"]["rdf_max_A"]) > half:
            fail("analysis.rdf_max_A", f"{cfg['analysis']['rdf_max_A']} Å exceeds half the smallest box length "
                 f"of {key} ({half:.2f} Å)")
    imc = cfg["imc"]
    if imc["rdf_min_nm"] >= imc["rdf_max_nm"]:
        fail("imc.rdf_min_nm", f"{imc['rdf_min_nm']} nm must be below rdf_max_nm ({imc['rdf_max_nm']} nm)")
    if imc["rdf_step_nm"] > imc["rdf_max_nm"] - imc["rdf_min_nm"]:
        fail("imc.rdf_step_nm", f"{imc['rdf_step_nm']} nm exceeds the RDF range rdf_min_nm..rdf_max_nm "
             f"({imc['rdf_min_nm']}..{imc['rdf_max_nm']} nm)")
    if imc["table_begin_nm"] >= imc["rdf_max_nm"]:
        fail("imc.table_begin_nm", f"{imc['table_begin_nm']} nm must be below rdf_max_nm ({imc['rdf_max_nm']} nm)")
    if imc["save_interval"] > imc["production_steps"]:
        fail("imc.save_interval", f"{imc['save_interval']} steps exceeds production_steps "
             f"({imc['production_steps']}): the production run would save no frame")
    prot = cfg["protein"]
    if prot["broken"] > prot["formed"]:
        fail("protein.broken", f"{prot['broken']} exceeds formed ({prot['formed']}): a pairing would be both "
             "formed and not formed")
    _check_cutoff_study(cfg, fail)


def _check_cutoff_study(cfg: dict, fail) -> None:
    """``cutoff_study``: a system block of a periodic liquid (RDF and angle observables) that has the
    architecture's hyper-parameters; while the system runs, every cutoff at most half its box."""
    from .systems import get_system

    st = cfg.get("cutoff_study") or {}
    cutoffs = st.get("cutoffs_A") or []
    if not cutoffs:  # an empty list turns the study off
        return
    key, arch = st["system"], st["arch"]
    if key not in cfg["systems"]:
        fail("cutoff_study.system", f"{key!r} is not a system block (systems: {list(cfg['systems'])})")
    block = cfg["systems"][key]
    system = get_system(block.get("system", key))
    if not system.periodic or "fluid_structure" not in system.figures:
        fail("cutoff_study.system", f"system {key!r} has no RDF and local-angle observables to compare "
             "(the study needs a periodic liquid of the fluid_structure family)")
    if arch not in block["models"]:
        fail("cutoff_study.arch", f"{arch!r} has no hyper-parameters in systems.{key}.models "
             f"(it has {sorted(block['models'])})")
    if key not in enabled_systems(cfg):
        return  # limits apply to the systems that run; a disabled system turns the study off
    half = 0.5 * float(min(system.box_A(block)))
    for i, c in enumerate(cutoffs):
        if float(c) > half:
            fail(f"cutoff_study.cutoffs_A.{i}", f"{c} Å exceeds half the smallest box length of {key} ({half:.2f} Å)")
