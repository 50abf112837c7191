"""GNN-LRP relevance engine: γ-rule, per-architecture adapters, walk relevances, aggregation, CLI, plots."""
