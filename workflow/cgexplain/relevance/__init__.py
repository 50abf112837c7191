"""GNN-LRP relevance: the γ-rule, per-architecture adapters, walk relevances, their aggregation, and the relevance file."""
