"""Checkpoint analyses that explain pass@k results: how training changed the parameters."""
