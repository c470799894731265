"""Run inside Blender: import several GLBs side by side and render one frame (Workbench, headless) to a PNG.
Used for docs/media/characters.png (see docs/character.md for the commands that make the GLBs).

Usage: blender -b --factory-startup --python scripts/render_characters.py -- out.png FRAME a.glb b.glb ...
"""
import math
import sys

import bpy
import numpy

if not hasattr(numpy, "bool"):      # Blender 3.4's glTF importer still uses np.bool (removed in NumPy 1.24)
    numpy.bool = bool
argv = sys.argv[sys.argv.index("--") + 1:]
out, frame, files = argv[0], int(argv[1]), argv[2:]
for obj in list(bpy.data.objects):
    bpy.data.objects.remove(obj)
scene = bpy.context.scene
scene.render.fps = 20
colours = [(0.55, 0.62, 0.72), (0.80, 0.60, 0.42), (0.50, 0.70, 0.52), (0.72, 0.52, 0.70)]
for k, path in enumerate(files):
    before = set(bpy.data.objects)
    bpy.ops.import_scene.gltf(filepath=path)
    new = [o for o in bpy.data.objects if o not in before]
    for o in new:
        if o.parent is None:
            o.location.x += 1.3 * (k - (len(files) - 1) / 2)
        if o.type == "MESH":
            mat = bpy.data.materials.new(f"c{k}")
            mat.diffuse_color = (*colours[k % len(colours)], 1.0)
            o.data.materials.clear()
            o.data.materials.append(mat)
scene.frame_set(frame)
scene.render.engine = "BLENDER_WORKBENCH"
scene.display.shading.light = "STUDIO"
scene.display.shading.color_type = "MATERIAL"
scene.display.shading.show_shadows = True
scene.display.shading.show_cavity = True
scene.render.resolution_x, scene.render.resolution_y = 720, 400
bpy.ops.mesh.primitive_plane_add(size=40, location=(0, 0, 0))
world = bpy.data.worlds.new("w") if scene.world is None else scene.world
scene.world = world
world.color = (0.85, 0.87, 0.9)
cam = bpy.data.objects.new("cam", bpy.data.cameras.new("cam"))
scene.collection.objects.link(cam)
cam.location = (0.0, -7.5, 1.5)
cam.rotation_euler = (math.radians(86), 0, 0)
scene.camera = cam
scene.render.filepath = out
bpy.ops.render.render(write_still=True)
