"""Evaluation: the Guo evaluator, the field metrics, physical metrics."""
