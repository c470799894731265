"""Training loop (resume, EMA, AMP, distributed)."""
