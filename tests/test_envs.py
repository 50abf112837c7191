"""Per-stage environments: pyproject's extras, envs/*.yaml and the rules agree.

Each stage of the workflow has one extra in ``pyproject.toml`` and one conda environment
``envs/<stage>.yaml`` (the core and the extra's packages at the same pins, then the package itself with
``-e ${PWD}[<stage>]``). Rules without ``conda:`` run in Snakemake's own environment: the ``workflow``
extra. Checked:

* one version per package across pyproject (core, extras), constraints.txt and every env file, every
  package pinned, and Python in each env file within ``requires-python``;
* ``all`` is every other extra, ``test`` is ``all`` + pytest (CI and setup.sh install ``.[test]``);
* each env file installs exactly the core and its stage's extra (besides Python, pip and the non-Python
  tools of :data:`TOOLS`);
* each extra pins whatever pinned package its packages pull in (installed metadata), so a stage
  installed alone gets the tested versions;
* every rule's ``conda:`` file exists, every ``cgexplain <command>`` of a rule is known, and a rule
  without an env is a localrule;
* each stage's extra covers the third-party imports its commands can reach: a static walk (``ast``)
  from each command's function through the functions, classes and modules of cgexplain that it names
  (a module's classes all count: registries find them; methods count by the attribute names used).
  Imports inside functions count; one inside ``try: ... except ImportError`` is optional and does not.
"""

from __future__ import annotations

import ast
import importlib.metadata as md
import re
import sys
import tomllib
from functools import lru_cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
PKG = REPO / "workflow" / "cgexplain"
RULES = REPO / "workflow" / "rules"
ENVS = REPO / "envs"

#: Conda package name -> the PyPI distribution it is.
CONDA_NAMES = {"pytorch": "torch", "matplotlib-base": "matplotlib"}
#: Non-Python tools a stage's env installs from conda-forge only (no PyPI distribution, no extra).
TOOLS = {"imc": {"votca", "lammps"}}
#: The extra of rules without ``conda:`` (they run in Snakemake's own environment).
DRIVER = "workflow"
#: Dynamic imports the walk cannot see: reaching the function imports every module under the prefix.
DYNAMIC = {("cgexplain.systems", "get_system"): "cgexplain.systems."}


def canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


# ---------------------------------------------------------------------------------------------
# pyproject.toml, constraints.txt, envs/*.yaml
# ---------------------------------------------------------------------------------------------

_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[([^\]]*)\])?\s*(?:==\s*([^\s;,]+))?")


def parse_req(req: str) -> tuple[str, set[str], str | None]:
    """(canonical name, extras, ``==`` pin or None) of a requirement string."""
    m = _REQ.match(req)
    assert m, f"cannot parse requirement {req!r}"
    extras = {canon(e) for e in (m.group(2) or "").split(",") if e.strip()}
    return canon(m.group(1)), extras, m.group(3)


@lru_cache
def pyproject() -> dict:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def project_name() -> str:
    return canon(pyproject()["project"]["name"])


def extra_reqs(extra: str | None) -> list[str]:
    p = pyproject()["project"]
    return list(p["dependencies"] if extra is None else p["optional-dependencies"][extra])


def expand(extra: str | None) -> dict[str, str | None]:
    """Packages (canonical name -> pin) of the core (``None``) or of an extra, self-references
    (``cgexplain[a,b]``) expanded; an extra does not include the core."""
    out: dict[str, str | None] = {}
    for req in extra_reqs(extra):
        name, extras, pin = parse_req(req)
        if name == project_name():
            for e in sorted(extras):
                out.update(expand(e))
        else:
            out[name] = pin
    return out


def stage_packages(extra: str) -> dict[str, str | None]:
    return {**expand(None), **expand(extra)}


def all_pins() -> dict[str, set[str]]:
    """Every ``==`` pin of pyproject (core and extras) and constraints.txt: name -> versions."""
    pins: dict[str, set[str]] = {}
    reqs = extra_reqs(None) + [r for e in pyproject()["project"]["optional-dependencies"] for r in extra_reqs(e)]
    for line in (REPO / "constraints.txt").read_text().splitlines():
        if line.split("#")[0].strip():
            reqs.append(line.split("#")[0])
    for req in reqs:
        name, _, pin = parse_req(req)
        if pin is not None:
            pins.setdefault(name, set()).add(pin)
    return pins


def env_files() -> list[Path]:
    return sorted(ENVS.glob("*.yaml"))


def read_env(path: Path) -> dict:
    """{"python": spec, "pip": bool, "conda": {name: pin}, "pip_reqs": {name: pin}, "self": [extras]}."""
    doc = yaml.safe_load(path.read_text())
    out = {"python": None, "pip": False, "conda": {}, "pip_reqs": {}, "self": [], "other": []}
    for dep in doc["dependencies"]:
        if isinstance(dep, dict):
            for req in dep.get("pip", []):
                m = re.fullmatch(r"-e\s+\$\{PWD\}(?:\[([^\]]*)\])?", req.strip())
                if m:
                    out["self"].append(m.group(1) or "")
                elif req.strip().startswith("-"):
                    out["other"].append(req)
                else:
                    name, _, pin = parse_req(req)
                    out["pip_reqs"][name] = pin
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:(==?|>=|<=|<|>)\s*(\S+))?", str(dep).strip())
        assert m, f"{path.name}: cannot parse conda dependency {dep!r}"
        name, op, version = canon(m.group(1)), m.group(2), m.group(3)
        if name == "python":
            out["python"] = version
        elif name == "pip":
            out["pip"] = True
        else:
            assert op in (None, "=", "=="), f"{path.name}: {dep!r}: pin with = (conda) or ==, not {op}"
            out["conda"][CONDA_NAMES.get(name, name)] = version
    return out


# ---------------------------------------------------------------------------------------------
# The rules: conda env and cgexplain command of each
# ---------------------------------------------------------------------------------------------

def rule_blocks() -> list[tuple[Path, str, str]]:
    """(rules file, rule name, rule text) of every rule and checkpoint."""
    out = []
    for smk in sorted(RULES.glob("*.smk")):
        text = smk.read_text()
        heads = list(re.finditer(r"^(?:rule|checkpoint)\s+(\w+)\s*:", text, re.M))
        for i, h in enumerate(heads):
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            block = text[h.start():end]
            # the rule ends at the first top-level (unindented) line after its header
            lines = block.splitlines()
            body = [lines[0]]
            for line in lines[1:]:
                if line.strip() and not line[0].isspace():
                    break
                body.append(line)
            out.append((smk, h.group(1), "\n".join(body)))
    return out


def rule_env(smk: Path, text: str) -> str | None:
    """The stage (env file stem) of a rule's ``conda:`` directive, None without one."""
    m = re.search(r"^\s+conda:\s*\n\s+[\"']([^\"']+)[\"']", text, re.M)
    if not m:
        return None
    path = (smk.parent / m.group(1)).resolve()
    assert path.exists(), f"{smk.name}: conda env {m.group(1)} does not exist"
    assert path.parent == ENVS.resolve(), f"{smk.name}: conda env {m.group(1)} is not in envs/"
    return path.stem


def rule_commands(text: str) -> list[str]:
    return re.findall(r"\bcgexplain\s+(?:--log\s+\S+\s+)?([a-z][a-z0-9-]*)", text)


def commands() -> dict[str, str]:
    from cgexplain.cli import COMMANDS

    return {name: target for name, (target, _) in COMMANDS.items()}


@lru_cache
def stage_commands() -> dict[str, set[str]]:
    """Stage (env stem, or :data:`DRIVER`) -> the cgexplain commands its rules run."""
    out: dict[str, set[str]] = {}
    for smk, _, text in rule_blocks():
        stage = rule_env(smk, text) or DRIVER
        out.setdefault(stage, set()).update(rule_commands(text))
    return out


# ---------------------------------------------------------------------------------------------
# What a command can import: a walk over cgexplain's functions, classes and modules
# ---------------------------------------------------------------------------------------------

def _optional_try(node: ast.AST) -> bool:
    if not isinstance(node, ast.Try):
        return False
    names = set()
    for h in node.handlers:
        for t in (h.type.elts if isinstance(h.type, ast.Tuple) else [h.type]):
            if isinstance(t, ast.Name):
                names.add(t.id)
    return bool(names & {"ImportError", "ModuleNotFoundError"})


def _walk(nodes, optional=False):
    """(node, optional) for every node under ``nodes``; optional under ``try/except ImportError``."""
    for node in nodes:
        yield node, optional
        if _optional_try(node):
            yield from _walk(node.body, True)
            yield from _walk(node.handlers + node.orelse + node.finalbody, optional)
        else:
            yield from _walk(ast.iter_child_nodes(node), optional)


class Package:
    """cgexplain's modules parsed; units are a module's top-level code, its functions, its classes
    (class body) and their methods (``Class.method``)."""

    def __init__(self, root: Path = PKG):
        self.mods: dict[str, tuple[ast.Module, bool]] = {}
        for p in sorted(root.rglob("*.py")):
            parts = list(p.relative_to(root.parent).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            self.mods[".".join(parts)] = (ast.parse(p.read_text()), is_pkg)
        self.units: dict[tuple[str, str | None], list[ast.AST]] = {}
        self.classes: dict[str, list[str]] = {}
        self.methods: dict[tuple[str, str], list[str]] = {}
        for mod, (tree, _) in self.mods.items():
            body = []
            self.classes[mod] = []
            for stmt in tree.body:
                if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    self.units[(mod, stmt.name)] = [stmt]
                    body += stmt.decorator_list
                elif isinstance(stmt, ast.ClassDef):
                    self.classes[mod].append(stmt.name)
                    head = stmt.decorator_list + stmt.bases + [k.value for k in stmt.keywords]
                    attrs = [s for s in stmt.body if not isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))]
                    self.units[(mod, stmt.name)] = head + attrs
                    self.methods[(mod, stmt.name)] = []
                    for s in stmt.body:
                        if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)):
                            self.units[(mod, f"{stmt.name}.{s.name}")] = [s]
                            self.methods[(mod, stmt.name)].append(s.name)
                    body += stmt.decorator_list
                else:
                    body.append(stmt)
            self.units[(mod, None)] = body
        self._bindings = {mod: self._imports(mod, self.units[(mod, None)])[1] for mod in self.mods}

    def _absolute(self, mod: str, level: int, name: str | None) -> str:
        if not level:
            return name or ""
        base = mod.split(".") if self.mods[mod][1] else mod.split(".")[:-1]
        base = base[: len(base) - (level - 1)]
        return ".".join(base + ([name] if name else []))

    def _imports(self, mod: str, nodes) -> tuple[set[str], dict[str, tuple], set[tuple], set[str]]:
        """(third-party top-level imports, name bindings, cgexplain targets, optional third-party)."""
        third, optional, bind, targets = set(), set(), {}, set()
        for node, opt in _walk(nodes):
            if isinstance(node, ast.Import):
                for a in node.names:
                    top = a.name.split(".")[0]
                    if top == "cgexplain":
                        targets.add((a.name, None))
                        bind[a.asname or top] = ("mod", a.name if a.asname else "cgexplain")
                    elif top not in sys.stdlib_module_names:
                        (optional if opt else third).add(top)
            elif isinstance(node, ast.ImportFrom):
                src = self._absolute(mod, node.level, node.module)
                top = src.split(".")[0]
                if top == "cgexplain":
                    for a in node.names:
                        sub = f"{src}.{a.name}"
                        if sub in self.mods:
                            targets.add((sub, None))
                            bind[a.asname or a.name] = ("mod", sub)
                        else:
                            targets.add((src, a.name))
                            bind[a.asname or a.name] = ("obj", src, a.name)
                elif top not in sys.stdlib_module_names:
                    (optional if opt else third).add(top)
        return third, bind, targets, optional

    def resolve(self, mod: str, name: str | None, seen=()) -> tuple[str, str | None]:
        """The unit that ``name`` of module ``mod`` is (its top-level code for a plain variable)."""
        if name is None or (mod, name) in self.units:
            return (mod, name)
        b = self._bindings.get(mod, {}).get(name)
        if b is not None and (mod, name) not in seen:
            return (b[1], None) if b[0] == "mod" else self.resolve(b[1], b[2], (*seen, (mod, name)))
        if f"{mod}.{name}" in self.mods:
            return (f"{mod}.{name}", None)
        return (mod, None)

    def reach(self, roots) -> tuple[set[tuple], dict[str, set[tuple]]]:
        """Units reachable from ``roots`` and the third-party imports they make (name -> units)."""
        seen: set[tuple] = set()
        attrs: set[str] = set()
        third: dict[str, set[tuple]] = {}
        todo = [self.resolve(*r) for r in roots]
        while True:
            while todo:
                unit = todo.pop()
                if unit in seen or unit[0] not in self.mods:
                    continue
                seen.add(unit)
                mod, name = unit
                parts = mod.split(".")
                todo += [(".".join(parts[:i]), None) for i in range(1, len(parts) + 1)]  # packages run first
                if name is None:  # a module's classes may be found by a registry: all of them count
                    todo += [(mod, c) for c in self.classes[mod]]
                if unit in DYNAMIC:
                    todo += [(m, None) for m in self.mods if m.startswith(DYNAMIC[unit])]
                nodes = self.units[unit]
                imported, local, targets, _ = self._imports(mod, nodes)
                for t in imported:
                    third.setdefault(t, set()).add(unit)
                # an import runs the module imported from; a name it binds counts where it is used
                todo += [(t[0], None) for t in targets]
                names = {**self._bindings[mod], **local}
                for node, _ in _walk(nodes):
                    if isinstance(node, ast.Name):
                        b = names.get(node.id)
                        if b is not None:
                            todo += [(b[1], None)] + ([self.resolve(b[1], b[2])] if b[0] == "obj" else [])
                        elif (mod, node.id) in self.units:
                            todo.append((mod, node.id))
                    elif isinstance(node, ast.Attribute):
                        attrs.add(node.attr)
                        if isinstance(node.value, ast.Name):
                            b = names.get(node.value.id)
                            if b is not None and b[0] == "mod":
                                todo.append(self.resolve(b[1], node.attr))
            # methods: dunders and forward (called by Python / torch) and any method whose name the
            # reached code uses as an attribute
            more = [(mod, f"{cls}.{m}") for (mod, cls), ms in self.methods.items() if (mod, cls) in seen
                    for m in ms if (m.startswith("__") or m == "forward" or m in attrs)
                    and (mod, f"{cls}.{m}") not in seen]
            if not more:
                return seen, third
            todo += more


@lru_cache
def package() -> Package:
    return Package()


def command_root(command: str) -> tuple[str, str]:
    mod, func = commands()[command].split(":")
    return (mod, func)


def driver_roots() -> list[tuple[str, str | None]]:
    """What Snakemake imports from cgexplain while reading the rules (``from cgexplain.x import ...``)."""
    roots = []
    for smk in sorted(RULES.glob("*.smk")):
        for m in re.finditer(r"^from\s+(cgexplain[\w.]*)\s+import\s+(\([^)]*\)|[^\n]*)", smk.read_text(), re.M):
            names = m.group(2).strip("()").replace("\n", " ")
            roots += [(m.group(1), n.split(" as ")[0].strip()) for n in names.split(",") if n.strip()]
    return roots


@lru_cache
def stage_imports(stage: str) -> dict[str, set[tuple]]:
    roots = [("cgexplain.cli", "main")] + [command_root(c) for c in sorted(stage_commands().get(stage, ()))]
    if stage == DRIVER:
        roots += driver_roots()
    return package().reach(roots)[1]


@lru_cache
def import_names() -> dict[str, set[str]]:
    """Top-level import name -> canonical names of the installed distributions that provide it."""
    return {k: {canon(d) for d in v} for k, v in md.packages_distributions().items()}


# ---------------------------------------------------------------------------------------------
# Tests
# ---------------------------------------------------------------------------------------------

STAGES = sorted(p.stem for p in env_files())


def test_every_env_file_has_an_extra_and_all_and_test_cover_them():
    extras = pyproject()["project"]["optional-dependencies"]
    assert STAGES, "no envs/*.yaml"
    for stage in STAGES + [DRIVER, "all", "test"]:
        assert stage in extras, f"pyproject.toml has no extra {stage!r}"
    stage_extras = set(extras) - {"all", "test"}
    assert {parse_req(r)[0] for r in extras["all"]} == {project_name()}, "all: only cgexplain[...]"
    assert set().union(*(parse_req(r)[1] for r in extras["all"])) == stage_extras
    test = {parse_req(r)[0]: parse_req(r) for r in extras["test"]}
    assert test.get(project_name(), (None, set()))[1] == {"all"}, "test must include cgexplain[all]"
    assert "pytest" in test and test["pytest"][2], "test: pytest, pinned"


def test_pins_agree_everywhere():
    """One version per package across pyproject (core, extras), constraints.txt and envs/*.yaml."""
    pins = all_pins()
    conflicting = {n: v for n, v in pins.items() if len(v) > 1}
    assert not conflicting, f"pyproject/constraints pin one package at several versions: {conflicting}"
    for name in set(expand(None)) | {n for e in pyproject()["project"]["optional-dependencies"] for n in expand(e)}:
        if name != project_name():
            assert name in pins, f"pyproject.toml: {name} is not pinned (==)"
    for path in env_files():
        env = read_env(path)
        for name, pin in {**env["conda"], **env["pip_reqs"]}.items():
            if name in TOOLS.get(path.stem, set()):
                continue
            assert pin is not None, f"{path.name}: {name} is not pinned"
            assert name in pins and {pin} == pins[name], \
                f"{path.name}: {name} {pin} but pyproject/constraints pin {sorted(pins.get(name, ['nothing']))}"


def test_env_python_meets_requires_python():
    spec = pyproject()["project"]["requires-python"]
    lower = re.search(r">=\s*(\d+)\.(\d+)", spec)
    upper = re.search(r"<\s*(\d+)\.(\d+)", spec)
    for path in env_files():
        py = read_env(path)["python"]
        assert py, f"{path.name}: no python pin"
        v = tuple(int(x) for x in py.split(".")[:2])
        assert not lower or v >= (int(lower[1]), int(lower[2])), f"{path.name}: python {py} vs {spec}"
        assert not upper or v < (int(upper[1]), int(upper[2])), f"{path.name}: python {py} vs {spec}"


@pytest.mark.parametrize("stage", STAGES)
def test_env_installs_exactly_its_extra(stage):
    path = ENVS / f"{stage}.yaml"
    env = read_env(path)
    assert env["pip"], f"{path.name}: needs pip (the package is installed with pip)"
    assert env["self"] == [stage], f"{path.name}: install the package with its extra: -e ${{PWD}}[{stage}]"
    assert not env["other"], f"{path.name}: unexpected pip options {env['other']}"
    listed = set(env["conda"]) | set(env["pip_reqs"])
    want = set(stage_packages(stage))
    tools = TOOLS.get(stage, set())
    assert not (listed - want - tools), f"{path.name}: not in extra {stage!r} (or the core): {sorted(listed - want - tools)}"
    assert not (want - listed), f"{path.name}: extra {stage!r} (or the core) has {sorted(want - listed)}, the env not"
    assert not (set(env["conda"]) & set(env["pip_reqs"])), f"{path.name}: a package both from conda and pip"


def test_every_rule_env_exists_and_every_command_is_known():
    rules = rule_blocks()
    assert len(rules) > 20, "the rule parser found too few rules"
    known = commands()
    with_env = 0
    for smk, name, text in rules:
        stage = rule_env(smk, text)
        with_env += stage is not None
        for cmd in rule_commands(text):
            assert cmd in known, f"{smk.name}:{name} runs unknown command cgexplain {cmd}"
            if stage is None:
                assert "localrule: True" in text, f"{smk.name}:{name} runs cgexplain {cmd} without conda: env"
    assert with_env > 20
    assert set(stage_commands()) - {DRIVER} <= set(STAGES)


def test_the_import_walk_sees_what_it_must():
    """Guards the walk itself: lazy imports in called helpers, module-level ones, dynamic systems."""
    md_ = stage_imports("md")
    assert {"openmm", "h5py", "numpy", "openmmtools", "pdbfixer"} <= set(md_), sorted(md_)
    an = stage_imports("analysis")
    assert {"matplotlib", "mdtraj", "deeptime", "numpy"} <= set(an), sorted(an)
    assert "torch" in stage_imports("training") and "schnetpack" in stage_imports("training")
    assert "scipy" in stage_imports("imc"), sorted(stage_imports("imc"))


@lru_cache
def _requires(dist: str) -> frozenset[str]:
    """Canonical names of what installed ``dist`` requires (no extras), recursively."""
    from packaging.requirements import Requirement

    out, todo = set(), [dist]
    while todo:
        try:
            reqs = md.requires(todo.pop()) or []
        except md.PackageNotFoundError:
            continue
        for r in map(Requirement, reqs):
            if (r.marker is None or r.marker.evaluate({"extra": ""})) and canon(r.name) not in out:
                out.add(canon(r.name))
                todo.append(r.name)
    return frozenset(out)


@pytest.mark.parametrize("stage", STAGES + [DRIVER])
def test_extra_pins_what_its_packages_pull_in(stage):
    """A stage installed alone gets the pinned versions: each extra (with the core) holds every pinned
    package that its packages depend on (read from the installed distributions' metadata)."""
    have = set(stage_packages(stage))
    pinned = set(all_pins())
    pulled = {d: sorted(p for p in have if d in _requires(p)) for d in pinned - have}
    pulled = {d: by for d, by in pulled.items() if by}
    assert not pulled, f"extra {stage!r}: pinned packages pulled in but not pinned by the extra: {pulled}"


@pytest.mark.parametrize("stage", STAGES + [DRIVER])
def test_extra_covers_what_the_stage_imports(stage):
    have = set(stage_packages(stage))
    missing = {}
    for name, units in stage_imports(stage).items():
        dists = import_names().get(name)
        assert dists, f"import {name} (in {sorted(units)[:3]}) is no installed distribution"
        if not dists & have:
            missing[f"{name} ({'/'.join(sorted(dists))})"] = sorted(f"{m}:{u}" if u else m for m, u in units)[:4]
    assert not missing, (f"stage {stage!r} runs {sorted(stage_commands().get(stage, ()))} which import packages "
                         f"its extra lacks: {missing}")
