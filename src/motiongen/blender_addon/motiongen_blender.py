"""motiongen for Blender: type what the character does, get an action on the selected armature.

Installed from the zip that ``motiongen blender-addon --out motiongen_blender.zip`` writes (Edit > Preferences >
Add-ons > Install...). The panel is in the 3D view's sidebar (N), tab "motiongen". It needs motiongen installed
outside Blender: it uses a running ``motiongen serve`` (the studio's HTTP API) when one answers at the server URL,
or else runs the ``motiongen`` command; the motion is put on the active armature with ``motiongen retarget`` (its
rest pose is exported as a BVH), or imported as a new armature when no armature is selected.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import bpy

bl_info = {
    "name": "motiongen",
    "author": "motiongen contributors",
    "version": (0, 1, 0),
    "blender": (3, 0, 0),
    "location": "View3D > Sidebar > motiongen",
    "description": "Generate a motion from text and put it on the selected armature",
    "category": "Animation",
}


def _import_bvh(**kwargs):
    """bpy.ops.import_anim.bvh; Blender 3.4 built with Python 3.11 (Debian's) opens the file with mode 'rU',
    which Python 3.11 refuses, so the mode is mended for the call."""
    import builtins
    real_open = builtins.open

    def open_without_u(file, mode="r", *args, **kw):
        return real_open(file, mode.replace("U", ""), *args, **kw)
    builtins.open = open_without_u
    try:
        return bpy.ops.import_anim.bvh(**kwargs)
    finally:
        builtins.open = real_open


def _ensure_bvh_addon():
    """Blender's BVH import/export is a bundled add-on (``io_anim_bvh``, one of the "core" add-ons since 4.2),
    enabled by default; it is switched back on if the user turned it off."""
    if "io_anim_bvh" not in bpy.context.preferences.addons:
        import addon_utils
        addon_utils.enable("io_anim_bvh", default_set=True)
        if "io_anim_bvh" not in bpy.context.preferences.addons:
            raise RuntimeError("Blender's BVH add-on (Import-Export: BVH format) cannot be enabled")


def _settings(context):
    return context.scene.motiongen


def _run(cmd):
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError((out.stderr or out.stdout).strip().splitlines()[-1] if (out.stderr or out.stdout)
                           else f"{cmd[0]} exited with {out.returncode}")
    return out.stdout


def _generate_by_server(url, text, seconds, seed, model, folder):
    """The studio's API: queue, wait, download the BVH. None when no server answers."""
    body = {"text": text, "seconds": seconds, "seed": seed}
    if model:
        body["model"] = model
    req = urllib.request.Request(url.rstrip("/") + "/api/generate", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=3) as r:
            job = json.load(r)["job"]
    except urllib.error.HTTPError as e:               # a server that answers, with an error: say it
        try:
            msg = json.load(e).get("error", str(e))
        except ValueError:
            msg = str(e)
        raise RuntimeError(f"the server refused: {msg}") from None
    except (urllib.error.URLError, OSError, ValueError, KeyError):
        return None
    while job.get("status") not in ("done", "failed", "cancelled"):
        time.sleep(0.5)
        with urllib.request.urlopen(url.rstrip("/") + f"/api/jobs/{job['id']}", timeout=10) as r:
            job = json.load(r)
    if job["status"] != "done":
        raise RuntimeError(f"the server's job {job['status']}: {job.get('error')}")
    os.makedirs(folder, exist_ok=True)
    for fmt, name in (("joints", "joints.npy"), ("bvh", "motion.bvh")):
        with urllib.request.urlopen(url.rstrip("/") + f"/api/results/{job['result']}/samples/0/{fmt}",
                                    timeout=30) as r, open(os.path.join(folder, name), "wb") as fh:
            fh.write(r.read())
    return folder


def _generate_by_command(exe, text, seconds, seed, model, folder):
    cmd = [exe, "generate", text, "--seconds", str(seconds), "--seed", str(seed), "--out", folder,
           "--preview", "none", "--quiet"]
    if model:
        cmd += ["--model", model]
    _run(cmd)
    return folder


def _new_action_from_bvh(context, arm, bvh_path, name):
    """Import the retargeted BVH (the armature's own skeleton) as a temporary armature and turn its per-frame
    rotations *from rest* into a new action on ``arm``: bone rolls may differ, rest positions are the same."""
    before = set(bpy.data.objects)
    _import_bvh(filepath=bvh_path, global_scale=1.0, axis_forward="Y", axis_up="Z",
                            update_scene_fps=False, update_scene_duration=True, use_fps_scale=False)
    temp = [o for o in bpy.data.objects if o not in before and o.type == "ARMATURE"][0]
    action = bpy.data.actions.new(name)
    arm.animation_data_create()
    arm.animation_data.action = action
    scene = context.scene
    start = int(temp.animation_data.action.frame_range[0])
    end = int(temp.animation_data.action.frame_range[1])
    rest_t = {b.name: b.matrix_local.copy() for b in temp.data.bones}
    bones = [b for b in arm.data.bones if b.name in rest_t]
    for f in range(start, end + 1):
        scene.frame_set(f)
        pose = {}
        for b in bones:                                       # parents come first in data.bones
            pt = temp.pose.bones[b.name].matrix
            rot = (pt.to_3x3() @ rest_t[b.name].to_3x3().inverted()) @ b.matrix_local.to_3x3()
            m = rot.to_4x4()
            m.translation = pt.translation
            pose[b.name] = m
            if b.parent is not None and b.parent.name in pose:
                basis = (b.parent.matrix_local.inverted() @ b.matrix_local).inverted() @ \
                    pose[b.parent.name].inverted() @ m
            else:
                basis = b.matrix_local.inverted() @ m
            pb = arm.pose.bones[b.name]
            pb.rotation_mode = "QUATERNION"
            pb.matrix_basis = basis
            pb.keyframe_insert("rotation_quaternion", frame=f - start + 1, group=b.name)
            if b.parent is None:
                pb.keyframe_insert("location", frame=f - start + 1, group=b.name)
    bpy.data.objects.remove(temp)
    scene.frame_start, scene.frame_end = 1, end - start + 1
    return action


class MOTIONGEN_OT_generate(bpy.types.Operator):
    """Generate a motion from text and put it on the active armature (or on a new one)"""

    bl_idname = "motiongen.generate"
    bl_label = "Generate motion"
    bl_options = {"REGISTER", "UNDO"}

    text: bpy.props.StringProperty(name="Text", default="")
    seconds: bpy.props.FloatProperty(name="Seconds", default=0.0, min=0.0, max=60.0)
    seed: bpy.props.IntProperty(name="Seed", default=-1, min=-1)
    model: bpy.props.StringProperty(name="Model", default="")

    def execute(self, context):
        s = _settings(context)
        text = self.text or s.text
        seconds = self.seconds or s.seconds
        seed = self.seed if self.seed >= 0 else s.seed
        model = self.model or s.model
        if not text.strip():
            self.report({"ERROR"}, "motiongen: type what the character does first")
            return {"CANCELLED"}
        exe = shutil.which(s.executable) or s.executable
        try:
            _ensure_bvh_addon()
        except RuntimeError as e:
            self.report({"ERROR"}, f"motiongen: {e}")
            return {"CANCELLED"}
        work = tempfile.mkdtemp(prefix="motiongen_")
        out = os.path.join(work, "motion")
        try:
            how = "server"
            if _generate_by_server(s.server_url, text, seconds, seed, model, out) is None:
                how = "command"
                _generate_by_command(exe, text, seconds, seed, model, out)
            arm = context.active_object if context.active_object and context.active_object.type == "ARMATURE" \
                else None
            name = f"motiongen: {text[:40]}"
            if arm is None:
                _import_bvh(filepath=os.path.join(out, "motion.bvh"), global_scale=0.01,
                                        update_scene_fps=False, update_scene_duration=True)
                arm = context.active_object
                arm.name = "motiongen"
                arm.animation_data.action.name = name
            else:
                rig = os.path.join(work, "character.bvh")
                keep = context.scene.frame_current
                old = arm.animation_data.action if arm.animation_data else None
                if arm.animation_data:
                    arm.animation_data.action = None
                for pb in arm.pose.bones:                       # export the rest pose
                    pb.matrix_basis.identity()
                bpy.ops.object.select_all(action="DESELECT")
                arm.select_set(True)
                context.view_layer.objects.active = arm
                bpy.ops.export_anim.bvh(filepath=rig, frame_start=keep, frame_end=keep, root_transform_only=False)
                if old is not None:
                    arm.animation_data.action = old
                result = os.path.join(work, "on_character.bvh")
                _run([exe, "retarget", out, "--to", rig, "--up", "z", "--out", result])
                _new_action_from_bvh(context, arm, result, name)
                context.view_layer.objects.active = arm
        except (RuntimeError, OSError, subprocess.SubprocessError) as e:
            self.report({"ERROR"}, f"motiongen: {e}")
            return {"CANCELLED"}
        s.last_output = out
        self.report({"INFO"}, f"motiongen: '{text[:40]}' on {arm.name} (generated by the {how}; files in {out})")
        return {"FINISHED"}


class MotiongenSettings(bpy.types.PropertyGroup):
    text: bpy.props.StringProperty(name="Text", default="a person walks forward and waves")
    seconds: bpy.props.FloatProperty(name="Seconds", default=4.0, min=1.0, max=60.0)
    seed: bpy.props.IntProperty(name="Seed", default=0, min=0)
    model: bpy.props.StringProperty(name="Model", default="", description="a model directory or packaged name "
                                    "(empty: the shipped model)")
    server_url: bpy.props.StringProperty(name="Server", default="http://127.0.0.1:7860")
    executable: bpy.props.StringProperty(name="Command", default="motiongen")
    last_output: bpy.props.StringProperty(name="Last output", default="", description="the folder of the last "
                                          "generated motion (motion.bvh, joints.npy, ...)")


class MOTIONGEN_PT_panel(bpy.types.Panel):
    bl_label = "motiongen"
    bl_idname = "MOTIONGEN_PT_panel"
    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "motiongen"

    def draw(self, context):
        s = _settings(context)
        col = self.layout.column()
        for prop in ("text", "seconds", "seed", "model", "server_url", "executable"):
            col.prop(s, prop)
        arm = context.active_object if context.active_object and context.active_object.type == "ARMATURE" else None
        col.label(text=f"on: {arm.name}" if arm else "on: a new armature")
        col.operator(MOTIONGEN_OT_generate.bl_idname)


CLASSES = (MotiongenSettings, MOTIONGEN_OT_generate, MOTIONGEN_PT_panel)


def register():
    for cls in CLASSES:
        bpy.utils.register_class(cls)
    bpy.types.Scene.motiongen = bpy.props.PointerProperty(type=MotiongenSettings)


def unregister():
    del bpy.types.Scene.motiongen
    for cls in reversed(CLASSES):
        bpy.utils.unregister_class(cls)
