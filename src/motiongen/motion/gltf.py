"""glTF 2.0 (GLB) export: a skinned mannequin with one animation, for game engines and the web.

What the file holds (Y up, metres, facing +Z, as glTF expects):

* a skeleton of 22 nodes named like the BVH's joints (Mixamo-style: Hips, Spine, LeftUpLeg ...), its rest pose
  the BVH's rest pose (HumanML3D's rest directions, the motion's median bone lengths);
* a procedural mannequin: one rounded capsule per bone, its radius by body region and its length the motion's own
  bone length, plus a head; skinned with linear-blend weights that fade from a bone to the next joint over the
  last 20% of the bone (smooth elbows and knees), normals and a single grey material;
* one animation at the motion's frame rate: every joint's local rotation as a quaternion track, the root's
  translation, and the translation of the joints whose offsets the IK animates (children of the pelvis and the
  chest, exactly as in the BVH), all LINEAR.

Rotations come from the same IK as the BVH writer (:func:`~.bvh.solve_rotations`), so the BVH and the GLB agree
frame by frame. The file is assembled with pygltflib (a maintained, typed glTF library; chosen over trimesh, which
does not write skins or animations), not hand-packed.
"""
from __future__ import annotations

import functools
import os
from pathlib import Path

import numpy as np
from scipy.spatial.transform import Rotation

from ..skeleton import HUMANML3D, SkeletonSpec
from .bvh import BVH_JOINT_NAMES_22, solve_rotations

__all__ = ["write_glb", "read_glb_joints", "mannequin"]

# bone radius (m) by the name of the bone's child joint
_RADIUS = {"Spine": 0.11, "Spine1": 0.12, "Spine2": 0.13, "Neck": 0.05, "Head": 0.06, "LeftShoulder": 0.05,
           "RightShoulder": 0.05, "LeftArm": 0.045, "RightArm": 0.045, "LeftForeArm": 0.04, "RightForeArm": 0.04,
           "LeftHand": 0.035, "RightHand": 0.035, "LeftUpLeg": 0.08, "RightUpLeg": 0.08, "LeftLeg": 0.065,
           "RightLeg": 0.065, "LeftFoot": 0.05, "RightFoot": 0.05, "LeftToeBase": 0.04, "RightToeBase": 0.04}


def _capsule(a: np.ndarray, b: np.ndarray, radius: float, rings: int = 6, segments: int = 10):
    """Vertices (N, 3), normals (N, 3), triangles (M, 3) and the 0..1 position along a->b of each vertex."""
    axis = b - a
    length = float(np.linalg.norm(axis))
    z = axis / length if length > 1e-9 else np.array([0.0, 1.0, 0.0])
    x = np.cross(z, [0.0, 0.0, 1.0]) if abs(z[2]) < 0.9 else np.cross(z, [1.0, 0.0, 0.0])
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    verts, normals, along = [], [], []
    # latitude rings: a hemisphere at a, a cylinder, a hemisphere at b
    lats = [(-np.pi / 2 + np.pi / 2 * k / rings, 0.0) for k in range(rings + 1)]
    lats += [(np.pi / 2 * k / rings, 1.0) for k in range(rings + 1)]
    for phi, end in lats:
        c, s = np.cos(phi), np.sin(phi)
        for k in range(segments):
            th = 2 * np.pi * k / segments
            n = c * (np.cos(th) * x + np.sin(th) * y) + s * z
            centre = a + end * axis
            verts.append(centre + radius * n)
            normals.append(n)
            along.append(np.clip(np.dot(verts[-1] - a, z) / max(length, 1e-9), 0.0, 1.0))
    tris = []
    for r in range(len(lats) - 1):
        for k in range(segments):
            i0, i1 = r * segments + k, r * segments + (k + 1) % segments
            j0, j1 = i0 + segments, i1 + segments
            tris += [(i0, i1, j0), (i1, j1, j0)]            # counter-clockwise seen from outside (glTF front faces)
    return np.array(verts), np.array(normals), np.array(tris), np.array(along)


def mannequin(rest_world: np.ndarray, parents: list[int], names: tuple[str, ...]):
    """The mesh in the rest pose: positions, normals, triangles, joint indices (N, 4), weights (N, 4)."""
    P, N, T, J, W = [], [], [], [], []
    base = 0
    children = [[c for c, p in enumerate(parents) if p == j] for j in range(len(parents))]
    for child, parent in enumerate(parents):
        if parent < 0:
            continue
        r = _RADIUS.get(names[child], 0.04)
        v, n, t, along = _capsule(rest_world[parent], rest_world[child], r)
        # the bone belongs to its parent joint; near the child it blends into the child (or the child's own bone)
        nxt = child if children[child] else parent
        blend = np.clip((along - 0.8) / 0.2, 0.0, 1.0) * 0.5 * (nxt != parent)
        joints4 = np.zeros((len(v), 4), np.uint16)
        weights4 = np.zeros((len(v), 4), np.float32)
        joints4[:, 0], joints4[:, 1] = parent, nxt
        weights4[:, 0], weights4[:, 1] = 1.0 - blend, blend
        joints4[weights4 == 0] = 0                           # glTF: an unused influence names joint 0
        weights4[:, 0] = 1.0 - weights4[:, 1]                # sums exactly 1 in float32
        P.append(v), N.append(n), T.append(t + base), J.append(joints4), W.append(weights4)
        base += len(v)
    head = names.index("Head") if "Head" in names else None
    if head is not None:                                    # a head on top of the head joint
        top = rest_world[head] + np.array([0.0, 0.12, 0.0])
        v, n, t, _ = _capsule(rest_world[head] + np.array([0.0, 0.05, 0.0]), top, 0.09)
        P.append(v), N.append(n), T.append(t + base)
        J.append(np.full((len(v), 4), head, np.uint16) * np.array([1, 0, 0, 0], np.uint16))
        W.append(np.tile(np.array([1.0, 0, 0, 0], np.float32), (len(v), 1)))
    return (np.concatenate(P).astype(np.float32), np.concatenate(N).astype(np.float32),
            np.concatenate(T).astype(np.uint32), np.concatenate(J), np.concatenate(W))


def append_accessor(blob: bytearray, views: list, accessors: list, array: np.ndarray, kind: str, ctype: int,
                    target: int | None = None, minmax: bool = False) -> int:
    """Append ``array``'s bytes to the GLB binary ``blob`` (4-byte aligned) with a bufferView and an accessor of
    glTF type ``kind`` (VEC3, ...) and component type ``ctype``; ``minmax`` records the bounds (required for
    POSITION and animation input). Returns the new accessor's index."""
    import pygltflib as g
    data = np.ascontiguousarray(array).tobytes()
    while len(blob) % 4:
        blob.append(0)
    views.append(g.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data), target=target))
    blob.extend(data)
    acc = g.Accessor(bufferView=len(views) - 1, componentType=ctype, count=len(array), type=kind)
    if minmax:
        flat = array.reshape(len(array), -1)
        acc.min, acc.max = flat.min(0).tolist(), flat.max(0).tolist()
    accessors.append(acc)
    return len(accessors) - 1


def write_glb(path: str | os.PathLike, joints: np.ndarray, fps: float = 20.0, spec: SkeletonSpec = HUMANML3D,
              joint_names: tuple[str, ...] = BVH_JOINT_NAMES_22, name: str = "motiongen") -> Path:
    """Write joint positions (T, 22, 3) in metres, Y up, as a skinned, animated GLB (written atomically)."""
    import pygltflib as g

    from ..io_utils import atomic_write_bytes
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (spec.num_joints, 3) or len(joints) < 2:
        raise ValueError(f"joints: expected shape (T >= 2, {spec.num_joints}, 3), got {joints.shape}")
    if not np.isfinite(joints).all():
        raise ValueError("joints: contains NaN or infinite values")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps}")
    pose = solve_rotations(joints, spec)
    parents, T, Jn = pose.parents, len(joints), spec.num_joints
    rest_world = np.zeros((Jn, 3))
    for j in range(1, Jn):
        rest_world[j] = rest_world[parents[j]] + pose.rest[j]
    rest_world_root = rest_world + joints[0, 0]               # the mesh stands where the motion starts
    pos, nrm, tri, jnt, wgt = mannequin(rest_world_root, parents, joint_names)
    quats = Rotation.from_matrix(pose.local.reshape(-1, 3, 3)).as_quat().reshape(T, Jn, 4)   # x, y, z, w
    for j in range(Jn):                                        # no sign flips between frames (LINEAR slerp)
        q = quats[:, j]
        flip = np.cumsum(np.r_[0, (np.einsum("ti,ti->t", q[1:], q[:-1]) < 0).astype(int)]) % 2 == 1
        q[flip] *= -1
    trans = pose.local_translations(joints)
    times = (np.arange(T) / fps).astype(np.float32)

    blob = bytearray()
    views, accessors = [], []

    add = functools.partial(append_accessor, blob, views, accessors)

    f32, u16, u32 = g.FLOAT, g.UNSIGNED_SHORT, g.UNSIGNED_INT
    a_pos = add(pos, g.VEC3, f32, g.ARRAY_BUFFER, minmax=True)
    a_nrm = add(nrm, g.VEC3, f32, g.ARRAY_BUFFER)
    a_jnt = add(jnt, g.VEC4, u16, g.ARRAY_BUFFER)
    a_wgt = add(wgt, g.VEC4, f32, g.ARRAY_BUFFER)
    a_idx = add(tri.reshape(-1), g.SCALAR, u32, g.ELEMENT_ARRAY_BUFFER)
    inv_bind = np.tile(np.eye(4, dtype=np.float32), (Jn, 1, 1))
    inv_bind[:, :3, 3] = -rest_world_root                       # bind pose: rest rotations are identities
    a_ibm = add(inv_bind.transpose(0, 2, 1).reshape(Jn, 16), g.MAT4, f32)   # glTF matrices are column-major
    a_time = add(times, g.SCALAR, f32, minmax=True)

    nodes = []
    for j in range(Jn):
        kids = [c for c in range(Jn) if parents[c] == j]
        t0 = joints[0, 0] if parents[j] < 0 else trans[0, j]
        nodes.append(g.Node(name=joint_names[j], children=kids or None, translation=[float(v) for v in t0],
                            rotation=[float(v) for v in quats[0, j]]))
    mesh_node = len(nodes)
    nodes.append(g.Node(name=f"{name}_mannequin", mesh=0, skin=0))
    samplers, channels = [], []
    for j in range(Jn):
        samplers.append(g.AnimationSampler(input=a_time, output=add(quats[:, j].astype(np.float32), g.VEC4, f32),
                                           interpolation="LINEAR"))
        channels.append(g.AnimationChannel(sampler=len(samplers) - 1, target=g.AnimationChannelTarget(
            node=j, path="rotation")))
        if parents[j] < 0 or j in pose.positioned:
            samplers.append(g.AnimationSampler(input=a_time, output=add(trans[:, j].astype(np.float32), g.VEC3, f32),
                                               interpolation="LINEAR"))
            channels.append(g.AnimationChannel(sampler=len(samplers) - 1, target=g.AnimationChannelTarget(
                node=j, path="translation")))
    gltf = g.GLTF2(
        asset=g.Asset(generator="motiongen", version="2.0"),
        scene=0, scenes=[g.Scene(name=name, nodes=[0, mesh_node])], nodes=nodes,
        meshes=[g.Mesh(name=f"{name}_mannequin", primitives=[g.Primitive(
            attributes=g.Attributes(POSITION=a_pos, NORMAL=a_nrm, JOINTS_0=a_jnt, WEIGHTS_0=a_wgt),
            indices=a_idx, material=0)])],
        materials=[g.Material(name="mannequin", pbrMetallicRoughness=g.PbrMetallicRoughness(
            baseColorFactor=[0.72, 0.74, 0.78, 1.0], metallicFactor=0.0, roughnessFactor=0.8))],
        skins=[g.Skin(name=f"{name}_skeleton", joints=list(range(Jn)), skeleton=0, inverseBindMatrices=a_ibm)],
        animations=[g.Animation(name=name, samplers=samplers, channels=channels)],
        accessors=accessors, bufferViews=views, buffers=[g.Buffer(byteLength=len(blob))],
    )
    gltf.set_binary_blob(bytes(blob))
    path = Path(path)
    atomic_write_bytes(path, b"".join(gltf.save_to_bytes()))
    return path


def read_glb_joints(path: str | os.PathLike) -> tuple[np.ndarray, list[str]]:
    """World positions (T, J, 3) of a GLB's animated skeleton (our own files), by forward kinematics of its
    animation tracks: what an engine shows at each keyframe. Used to check exports."""
    import pygltflib as g
    gl = g.GLTF2().load(str(path))
    blob = gl.binary_blob()

    def read(i: int) -> np.ndarray:
        acc = gl.accessors[i]
        view = gl.bufferViews[acc.bufferView]
        width = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}[acc.type]
        data = np.frombuffer(blob, dtype=np.float32, count=acc.count * width,
                             offset=(view.byteOffset or 0) + (acc.byteOffset or 0))
        return data.reshape(acc.count, width)

    skin = gl.skins[0]
    J = len(skin.joints)
    anim = gl.animations[0]
    T = gl.accessors[anim.samplers[0].input].count
    rot = np.tile(np.array([0.0, 0, 0, 1]), (T, J, 1))
    tr = np.array([gl.nodes[n].translation or [0, 0, 0] for n in skin.joints], np.float64)[None].repeat(T, 0)
    index = {n: k for k, n in enumerate(skin.joints)}
    for ch in anim.channels:
        k = index[ch.target.node]
        out = read(anim.samplers[ch.sampler].output)
        if ch.target.path == "rotation":
            rot[:, k] = out
        elif ch.target.path == "translation":
            tr[:, k] = out
    parent = {c: p for p in skin.joints for c in (gl.nodes[p].children or [])}
    world_r = [None] * J
    pos = np.zeros((T, J, 3))
    for n in skin.joints:                                     # parents come first in our files
        k = index[n]
        r = Rotation.from_quat(rot[:, k])
        if n in parent:
            pk = index[parent[n]]
            pos[:, k] = pos[:, pk] + world_r[pk].apply(tr[:, k])
            world_r[k] = world_r[pk] * r
        else:
            pos[:, k] = tr[:, k]
            world_r[k] = r
    return pos, [gl.nodes[n].name for n in skin.joints]
