"""HiSTF Mamba: selective scan, Bi-Temporal and Dual-Spatial Mamba, DSFM, the denoiser."""
