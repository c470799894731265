"""Editing: LLM or offline plan revision, then generation that keeps what did not change."""
