"""Datasets in the standard HumanML3D / KIT-ML layout, and the corpus builder."""
