"""The Slurm profile stays in step with the rules (no Slurm needed): every rule that declares `gpu=` is
routed to the GPU partition, all of them by the one `&gpu` block, and the site settings are all set."""
import re
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
RULES = REPO / "workflow" / "rules"
PROFILE = REPO / "workflow" / "profiles" / "slurm" / "config.yaml"
RULE_RE = re.compile(r"^(?:rule|checkpoint)\s+(\w+)\s*:", re.M)


def rules_by_name() -> dict[str, str]:
    """Rule (and checkpoint) name -> its text, over workflow/rules/*.smk and the Snakefile."""
    out = {}
    for f in sorted(RULES.glob("*.smk")) + [REPO / "Snakefile"]:
        text = f.read_text()
        heads = list(RULE_RE.finditer(text))
        for h, nxt in zip(heads, heads[1:] + [None]):
            out[h.group(1)] = text[h.start():nxt.start() if nxt else len(text)]
    return out


def gpu_rules() -> set[str]:
    return {name for name, body in rules_by_name().items() if re.search(r"^\s+gpu\s*=", body, re.M)}


def test_rules_declare_gpus():
    # the parser sees the GPU stages (guards against a rules layout it no longer understands)
    assert {"reference_md", "train", "simulate", "relevance"} <= gpu_rules()


def test_every_gpu_rule_goes_to_the_gpu_partition():
    prof = yaml.safe_load(PROFILE.read_text())
    default, sets = prof["default-resources"], prof["set-resources"]
    gpu = sets["train"]
    missing = sorted(r for r in gpu_rules() if sets.get(r, {}).get("slurm_partition") is None)
    assert not missing, f"add to set-resources of {PROFILE.relative_to(REPO)} with `*gpu`: {missing}"
    for r in gpu_rules():
        assert sets[r] == gpu, f"{r}: {sets[r]} differs from the shared `&gpu` block {gpu}"
    assert gpu["slurm_partition"] != default["slurm_partition"]
    # the `&gpu` block is the one place: every GPU rule refers to it by alias, none repeats it
    text = "\n".join(line.split("#")[0].rstrip() for line in PROFILE.read_text().splitlines())
    assert len(re.findall(r"&gpu\b", text)) == 1
    for r in gpu_rules():
        assert re.search(rf"^  {r}: (&gpu|\*gpu)\s*$", text, re.M), f"{r} must use the `*gpu` alias"


def test_profile_names_only_existing_rules_and_sets_the_site():
    prof = yaml.safe_load(PROFILE.read_text())
    stale = sorted(set(prof["set-resources"]) - set(rules_by_name()))
    assert not stale, f"set-resources names rules that do not exist: {stale}"
    # only GPU rules are routed by name (CPU rules take the default partition)
    assert set(prof["set-resources"]) == gpu_rules()
    default = prof["default-resources"]
    assert default.get("slurm_account") and default.get("slurm_partition"), \
        "slurm_account and slurm_partition must be set (the plugin's account guess is broken)"
    assert prof["executor"] == "slurm"
