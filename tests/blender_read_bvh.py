"""Run inside Blender: import a BVH with Blender's own importer, print each bone's world head per frame as JSON.

Usage: blender -b --factory-startup --python tests/blender_read_bvh.py -- file.bvh out.json frame [frame ...]
"""
import builtins
import json
import sys

import bpy

_open = builtins.open


def _open_without_u(file, mode="r", *args, **kwargs):   # Blender 3.4's importer asks for mode 'rU'
    return _open(file, mode.replace("U", ""), *args, **kwargs)


builtins.open = _open_without_u
argv = sys.argv[sys.argv.index("--") + 1:]
path, out, frames = argv[0], argv[1], [int(f) for f in argv[2:]]
bpy.ops.import_anim.bvh(filepath=path, global_scale=0.01, update_scene_fps=False, update_scene_duration=True)
arm = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"][0]
result = {}
for f in frames:
    bpy.context.scene.frame_set(f + 1)   # the importer starts at frame 1
    result[f] = {b.name: list(arm.matrix_world @ b.head) for b in arm.pose.bones}
with _open(out, "w") as fh:
    json.dump(result, fh)
