"""Denoisers: the MDM-style baseline, FineMoGen, HiSTF Mamba; model files and the registry."""
