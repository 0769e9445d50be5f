"""Counting: unbiased estimators (passk), bootstrap and paired tests (stats), run tables and metrics."""
