"""Gaussian diffusion (schedule, losses) and sampling (diffusers schedulers, guidance, inpainting)."""
