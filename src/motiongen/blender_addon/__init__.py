"""The Blender add-on shipped with motiongen (see motiongen_blender.py; it runs inside Blender, not here)."""
