"""FineMoGen: SAMI attention, sparse MoE, the denoiser."""
