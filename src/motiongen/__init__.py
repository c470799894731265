"""motiongen: text-driven 3D human motion generation and editing (FineMoGen, HiSTF Mamba).

Data flows one way: text -> encoder -> denoiser (stepped by a scheduler) -> features -> joints -> export.
"""
__version__ = "0.1.0"
