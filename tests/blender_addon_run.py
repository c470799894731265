"""Run inside Blender: install the motiongen add-on from its zip, then call bpy.ops.motiongen.generate twice:
with nothing selected (a new armature) and on a CMU armature imported as "the user's character". Writes JSON:
per case the armature, its action, and each bone's world head at every frame.

Usage: blender -b --factory-startup --python tests/blender_addon_run.py -- addon.zip motiongen_command out.json
       character.bvh
"""
import json
import sys

import bpy

argv = sys.argv[sys.argv.index("--") + 1:]
zip_path, command, out, character = argv[:4]
bpy.ops.preferences.addon_install(filepath=zip_path, overwrite=True)
bpy.ops.preferences.addon_enable(module="motiongen_blender")
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
scene = bpy.context.scene
scene.motiongen.executable = command
scene.motiongen.server_url = "http://127.0.0.1:9"        # nothing listens: the add-on falls back to the command
bpy.ops.preferences.addon_disable(module="io_anim_bvh")     # a user who switched it off: the add-on enables it
assert "io_anim_bvh" not in bpy.context.preferences.addons
result = {}


def record(name, arm):
    action = arm.animation_data.action
    first, last = (int(round(x)) for x in action.frame_range)
    heads = []
    for f in range(first, last + 1):
        scene.frame_set(f)
        heads.append({b.name: list(arm.matrix_world @ b.head) for b in arm.pose.bones})
    result[name] = {"armature": arm.name, "action": action.name, "frames": [first, last], "heads": heads,
                    "output": scene.motiongen.last_output, "bones": len(arm.pose.bones)}


assert bpy.ops.motiongen.generate(text="a person walks forward", seconds=3.0, seed=0) == {"FINISHED"}
record("new", bpy.context.active_object)
import builtins  # noqa: E402
_open = builtins.open
builtins.open = lambda f, mode="r", *a, **k: _open(f, mode.replace("U", ""), *a, **k)  # Blender 3.4 + Py 3.11
bpy.ops.import_anim.bvh(filepath=character, global_scale=0.0254 / 0.45, update_scene_fps=False)
user = bpy.context.active_object
user.name = "my_character"
user.animation_data.action = None                       # the character in its rest pose, as a user's rig would be
for pb in user.pose.bones:
    pb.matrix_basis.identity()
assert bpy.ops.motiongen.generate(text="a person walks forward", seconds=3.0, seed=0) == {"FINISHED"}
record("character", user)
builtins.open = _open
with open(out, "w") as fh:
    json.dump(result, fh)
