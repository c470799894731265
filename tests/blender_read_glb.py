"""Run inside Blender: import a GLB with Blender's own glTF importer, print each bone's world head per frame as
JSON, and optionally render one frame (Workbench, headless) to a PNG.

Usage: blender -b --factory-startup --python tests/blender_read_glb.py -- file.glb out.json FPS frame [frame ...]
                [--render out.png]
"""
import json
import math
import sys

import bpy
import numpy

if not hasattr(numpy, "bool"):      # Blender 3.4's glTF importer still uses np.bool (removed in NumPy 1.24)
    numpy.bool = bool

argv = sys.argv[sys.argv.index("--") + 1:]
render = None
if "--render" in argv:
    k = argv.index("--render")
    render, argv = argv[k + 1], argv[:k] + argv[k + 2:]
path, out, fps = argv[0], argv[1], int(argv[2])
frames = None if argv[3:] == ["all"] else [int(f) for f in argv[3:]]
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
bpy.context.scene.render.fps = fps
bpy.ops.import_scene.gltf(filepath=path)
arm = [o for o in bpy.context.scene.objects if o.type == "ARMATURE"][0]
if arm.animation_data and arm.animation_data.action:
    start = int(round(arm.animation_data.action.frame_range[0]))
else:
    start = 0
result = {"start": start}
if frames is None:                       # every keyframe of the animation
    end = int(round(arm.animation_data.action.frame_range[1]))
    frames = list(range(0, end - start + 1))
for f in frames:
    bpy.context.scene.frame_set(start + f)
    bpy.context.view_layer.update()
    result[f] = {b.name: list(arm.matrix_world @ b.head) for b in arm.pose.bones}
with open(out, "w") as fh:
    json.dump(result, fh)
if render:
    scene = bpy.context.scene
    scene.frame_set(start + frames[-1])
    scene.render.engine = "BLENDER_WORKBENCH"
    scene.display.shading.light = "STUDIO"
    scene.display.shading.color_type = "SINGLE"
    scene.display.shading.single_color = (0.8, 0.62, 0.45)
    scene.display.shading.show_shadows = True
    scene.render.resolution_x, scene.render.resolution_y = 480, 360
    scene.render.film_transparent = False
    bpy.ops.mesh.primitive_plane_add(size=20, location=(0, 0, 0))
    hips = arm.matrix_world @ arm.pose.bones["Hips"].head
    cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
    scene.collection.objects.link(cam)
    cam.location = (hips.x + 3.2, hips.y - 3.2, 1.7)
    cam.rotation_euler = (math.radians(80), 0, math.radians(45))
    scene.camera = cam
    scene.render.filepath = render
    bpy.ops.render.render(write_still=True)
