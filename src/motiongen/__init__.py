"""motiongen: text-driven 3D human motion generation and editing (FineMoGen, HiSTF Mamba).

Data flows one way: text -> encoder -> denoiser (stepped by a scheduler) -> features -> joints -> export.
"""
__version__ = "0.1.0"
MAX_SEED = 2 ** 32 - 1         # the largest seed: torch and numpy generators take seeds 0 .. 2**32 - 1 alike


def __getattr__(name):
    # Lazy: `import motiongen` stays light; torch, diffusers and the text encoder load on first use.
    if name in ("generate", "MotionPipeline", "GeneratedMotion", "Prompt"):
        from . import pipeline
        return getattr(pipeline, name)
    if name in ("Plan", "load_plan"):
        from . import plan
        return getattr(plan, name)
    raise AttributeError(f"module 'motiongen' has no attribute '{name}'")
