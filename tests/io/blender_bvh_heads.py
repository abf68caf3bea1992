"""Run inside Blender (``blender -b --factory-startup --python THIS -- IN.bvh OUT.json``):
import a BVH with Blender's own importer and write every pose bone's head position (world
coordinates, Blender units) for every frame, as JSON ``{"fps": ..., "bones": [...],
"heads": [[[x, y, z], ...], ...]}`` (frames x bones).

Debian's Blender 3.4 runs on Python 3.11, where the importer's ``open(path, "rU")`` fails
("invalid mode"): the mode is rewritten without "U" while importing.
"""

import builtins
import json
import sys

import bpy

argv = sys.argv[sys.argv.index("--") + 1:]
bvh_path, out_path = argv[0], argv[1]

_open = builtins.open


def _open_without_u(file, mode="r", *args, **kwargs):
    if isinstance(mode, str) and "U" in mode:
        mode = mode.replace("U", "") or "r"
    return _open(file, mode, *args, **kwargs)


builtins.open = _open_without_u
try:
    bpy.ops.import_anim.bvh(filepath=bvh_path, global_scale=1.0, frame_start=1,
                            use_fps_scale=False, update_scene_fps=True,
                            update_scene_duration=True, rotate_mode="NATIVE",
                            axis_forward="-Z", axis_up="Y")
finally:
    builtins.open = _open

obj = next(o for o in bpy.context.scene.objects if o.type == "ARMATURE")
scene = bpy.context.scene
bones = [pb.name for pb in obj.pose.bones]
heads = []
for f in range(scene.frame_start, scene.frame_end + 1):
    scene.frame_set(f)
    mw = obj.matrix_world
    heads.append([list(mw @ pb.head) for pb in obj.pose.bones])
with _open(out_path, "w") as fh:
    json.dump({"fps": scene.render.fps / scene.render.fps_base, "bones": bones,
               "frames": [scene.frame_start, scene.frame_end], "heads": heads}, fh)
