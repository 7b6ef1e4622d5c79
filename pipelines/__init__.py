"""Multi-run workflows built on genoattn (pattern sweeps, accuracy-vs-cost reports)."""
