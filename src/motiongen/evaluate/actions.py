"""Per-action rules: does a motion do the action it was asked for? (issue 30, item 3)

Each rule reads joint positions (T, 22, 3), metres, Y up, 20 fps, and the action's side (``"left"``, ``"right"``,
``"both"`` or ``""``), and returns pass/fail. The rules are geometric and deliberately strict where a lenient check
would let a wrong motion pass (a wave whose legs walk fails: gestures must keep the legs still):

* kick: the named foot (either foot without a side) rises more than 0.4 m above its rest height;
* jump, hop: both feet are off the floor together (for at least two frames);
* squat: the pelvis drops well below its standing height; lie down: the pelvis ends near the floor;
  get up: it starts low and ends high; fall: it ends low; crawl: it stays low while the body travels;
* throw: a hand moves fast above the shoulder, and forward; reach up: a hand rises to shoulder height or above; punch: a hand moves fast forward
  at chest height or above; pick up / put down: a hand reaches near the floor;
* wave: the named hand(s) at shoulder height or above for a share of the frames; raise hands: the named
  hand(s) rise well above rest to shoulder height; both with the legs still (mean knee and ankle speed); bow: the
  trunk leans forward with the legs still; other in-place gestures (guide, call, respond): the legs still;
* turn: the heading turns more than 45 degrees the named way;
* sidestep: the pelvis travels to the named side of the initial facing;
* walk: speed within the range of walks; run, dash: faster, with flight phases (or faster than any walk) (walk with a side: travels or turns that way);
  walk backwards: moves backwards; dance: the limbs move a lot relative to the pelvis.

The thresholds were chosen on the validation split of the corpus (``python benchmarks/actions.py --split val
--real-only``), never on the test split; real clips of each action must pass their own rule at a high rate, and
the benchmark prints that rate beside every model figure. ``action_of_caption`` derives (action, side) from a
caption for corpora without a ``clips.csv`` label table (by :func:`motiongen.data.actions.classify_text`).
"""
from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from ..data.actions import classify_text
from ..skeleton import HUMANML3D, SkeletonSpec

__all__ = ["RULES", "GESTURES", "check_action", "gesture_parts", "action_of_caption", "leg_speed", "drift", "heading_change",
           "forward_speed", "floor_height", "normalise_action", "SIDES"]

SIDES = ("left", "right", "both", "")
FPS = 20.0

#: thresholds (metres, m/s, degrees); tuned on the validation split (see the module docstring)
KICK_RISE_M = 0.4
AIRBORNE_M = 0.08            # the lowest foot joint this far above the floor: both feet are off it
SQUAT_DROP = 0.30            # pelvis drop as a share of the standing pelvis height
LOW_PELVIS_M = 0.45          # lying / fallen / before getting up: the pelvis at most this high
HIGH_PELVIS_M = 0.75         # stood up
CRAWL_PELVIS_M = 0.65
THROW_SPEED = 2.5            # m/s of the wrist above the shoulder ...
THROW_FORWARD_SPEED = 1.0    # ... and along the facing direction
PUNCH_SPEED = 2.0
NEAR_FLOOR_M = 0.35          # a hand this near the floor has reached it
HAND_UP_MARGIN_M = 0.1       # "at shoulder height": the wrist at most this far below the shoulder
RAISE_RISE_M = 0.3
WAVE_UP_SHARE = 0.15
STILL_LEGS = 0.12            # m/s: mean knee + ankle speed of an in-place gesture (real: 0.01-0.08, walking: 0.6+)
BOW_LEAN_DEG = 25.0
TURN_DEG = 45.0
WALK_SPEED = (0.3, 2.2)
RUN_SPEED = 1.15             # with flight phases ...
FAST_RUN_SPEED = 1.8         # ... or faster than any walk
FLIGHT_M = 0.03              # the lowest foot joint this high in the top 5% of frames: there are flight phases
SIDESTEP_M = 0.3             # travel to the named side of the initial facing
BACKWARDS_SPEED = 0.15
DANCE_LIMB_SPEED = 0.5       # m/s: wrists and ankles relative to the pelvis

GESTURES = ("wave", "raise hands", "bow", "guide", "call", "respond", "beckon", "clap", "point", "salute", "nod")


def _j(joints) -> np.ndarray:
    j = np.asarray(joints, dtype=np.float64)
    if j.ndim != 3 or j.shape[2] != 3 or len(j) < 4:
        raise ValueError(f"joints: expected (T >= 4, J, 3), got {j.shape}")
    return j


def _idx(spec: SkeletonSpec, *names: str) -> list[int]:
    return [spec.joint_index(n) for n in names]


def _sides(side: str) -> list[str]:
    return ["left", "right"] if side in ("both", "") else [side]


def floor_height(joints, spec: SkeletonSpec = HUMANML3D) -> float:
    """The floor: a low percentile of the lowest foot joint over the motion (robust to a frame of penetration)."""
    j = _j(joints)
    feet = _idx(spec, "left_ankle", "right_ankle", "left_foot", "right_foot")
    return float(np.percentile(j[:, feet, 1].min(axis=1), 5))


def _facing(j: np.ndarray, spec: SkeletonSpec) -> np.ndarray:
    """(T, 2) unit facing direction on the floor (x, z), from the hips and shoulders' across-vectors."""
    lh, rh, ls, rs = _idx(spec, "left_hip", "right_hip", "left_shoulder", "right_shoulder")
    across = (j[:, lh] - j[:, rh]) + (j[:, ls] - j[:, rs])
    fwd = np.stack([-across[:, 2], across[:, 0]], axis=-1)
    return fwd / np.maximum(np.linalg.norm(fwd, axis=-1, keepdims=True), 1e-9)


def heading_change(joints, spec: SkeletonSpec = HUMANML3D) -> float:
    """Signed heading change over the motion in degrees (+ = to the person's left)."""
    f = _facing(_j(joints), spec)
    ang = np.unwrap(np.arctan2(f[:, 0], f[:, 1]))
    n = max(1, len(ang) // 10)            # first and last tenth: a wobble at one frame does not count
    return float(np.degrees(ang[-n:].mean() - ang[:n].mean()))


def forward_speed(joints, spec: SkeletonSpec = HUMANML3D, fps: float = FPS) -> float:
    """Mean pelvis velocity along the person's own facing direction (m/s; negative = backwards)."""
    j = _j(joints)
    v = np.diff(j[:, 0, [0, 2]], axis=0) * fps
    f = _facing(j, spec)
    return float((v * (f[1:] + f[:-1]) / 2).sum(-1).mean())


def _lateral_displacement(j: np.ndarray, spec: SkeletonSpec) -> float:
    """Pelvis displacement to the person's left (+) or right (-) of its initial facing (m)."""
    f0 = _facing(j[: max(1, len(j) // 10)], spec).mean(0)
    left = _left_of(f0 / max(np.linalg.norm(f0), 1e-9))
    return float(np.dot(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]], left))


def _left_of(fwd: np.ndarray) -> np.ndarray:
    # forward (x, z) = (-across_z, across_x)  =>  across (the person's left) = (fwd_z, -fwd_x)
    return np.array([fwd[1], -fwd[0]])


def leg_speed(joints, spec: SkeletonSpec = HUMANML3D, fps: float = FPS) -> float:
    """Mean speed (m/s) of the knees and ankles: near zero when the legs stay still."""
    j = _j(joints)
    legs = _idx(spec, "left_knee", "right_knee", "left_ankle", "right_ankle")
    return float(np.linalg.norm(np.diff(j[:, legs], axis=0), axis=-1).mean() * fps)


def drift(joints) -> float:
    """Horizontal distance between the first and last pelvis positions (m)."""
    j = _j(joints)
    return float(np.linalg.norm(j[-1, 0, [0, 2]] - j[0, 0, [0, 2]]))


def _pelvis_above_floor(j: np.ndarray, spec: SkeletonSpec) -> np.ndarray:
    return j[:, 0, 1] - floor_height(j, spec)


def _ends(x: np.ndarray) -> tuple[float, float]:
    n = max(1, len(x) // 10)
    return float(x[:n].mean()), float(x[-n:].mean())


# ---- the rules ---------------------------------------------------------------------------------------------
def _kick(j, side, spec, fps):
    fl = floor_height(j, spec)
    for s in _sides(side):
        a = j[:, spec.joint_index(f"{s}_ankle"), 1] - fl
        rest = np.percentile(a, 10)
        if a.max() - rest > KICK_RISE_M:
            return True
    return False


def _airborne(j, side, spec, fps):
    fl = floor_height(j, spec)
    feet = _idx(spec, "left_ankle", "right_ankle", "left_foot", "right_foot")
    off = j[:, feet, 1].min(axis=1) - fl > AIRBORNE_M          # even the lowest foot joint is off the floor
    return bool((off[1:] & off[:-1]).any())


def _squat(j, side, spec, fps):
    p = _pelvis_above_floor(j, spec)
    stand = np.percentile(p, 90)
    return bool(p.min() < stand * (1 - SQUAT_DROP))


def _lie_down(j, side, spec, fps):
    return _ends(_pelvis_above_floor(j, spec))[1] < LOW_PELVIS_M


def _get_up(j, side, spec, fps):
    a, b = _ends(_pelvis_above_floor(j, spec))
    return a < LOW_PELVIS_M and b > HIGH_PELVIS_M


def _fall(j, side, spec, fps):
    p = _pelvis_above_floor(j, spec)
    a, b = _ends(p)
    return b < LOW_PELVIS_M and p.max() > HIGH_PELVIS_M


def _crawl(j, side, spec, fps):
    p = _pelvis_above_floor(j, spec)
    speed = np.linalg.norm(np.diff(j[:, 0, [0, 2]], axis=0), axis=-1).mean() * fps
    return bool(np.median(p) < CRAWL_PELVIS_M and speed > 0.1)


def _hand_forward_speed(j, s, spec, fps):
    w = j[:, spec.joint_index(f"{s}_wrist")]
    v = np.diff(w[:, [0, 2]], axis=0) * fps
    f = _facing(j, spec)
    return (v * (f[1:] + f[:-1]) / 2).sum(-1)


def _throw(j, side, spec, fps):
    """A hand above the shoulder moves fast (overhead and two-handed throws included) and forward."""
    for s in _sides(side):
        fwd = _hand_forward_speed(j, s, spec, fps)
        w, sh = spec.joint_index(f"{s}_wrist"), spec.joint_index(f"{s}_shoulder")
        speed = np.linalg.norm(np.diff(j[:, w], axis=0), axis=-1) * fps
        above = (j[1:, w, 1] > j[1:, sh, 1]) | (j[:-1, w, 1] > j[:-1, sh, 1])
        if ((speed > THROW_SPEED) & above).any() and (fwd > THROW_FORWARD_SPEED).any():
            return True
    return False


def _punch(j, side, spec, fps):
    chest = spec.joint_index("spine3")
    for s in _sides(side):
        fwd = _hand_forward_speed(j, s, spec, fps)
        w = spec.joint_index(f"{s}_wrist")
        high = j[1:, w, 1] > j[1:, chest, 1] - 0.15
        if (fwd[high] > PUNCH_SPEED).any():
            return True
    return False


def _reach_floor(j, side, spec, fps):
    fl = floor_height(j, spec)
    return bool(any((j[:, spec.joint_index(f"{s}_wrist"), 1] - fl < NEAR_FLOOR_M).any() for s in _sides(side)))


def _still(j, spec, fps):
    return leg_speed(j, spec, fps) < STILL_LEGS


def _hand_up(j, side, spec, share):
    """The named hand(s) (either without a side) near or above shoulder height for ``share`` of the frames."""
    hands = ["left", "right"] if side == "both" else _sides(side)
    ok = [(j[:, spec.joint_index(f"{s}_wrist"), 1] > j[:, spec.joint_index(f"{s}_shoulder"), 1] - HAND_UP_MARGIN_M
           ).mean() >= share for s in hands]
    return all(ok) if side in ("both", "left", "right") else any(ok)


def _hand_raised(j, side, spec):
    """The named hand(s) rise well above their rest height and reach shoulder height."""
    hands = ["left", "right"] if side == "both" else _sides(side)
    ok = []
    for s in hands:
        w = j[:, spec.joint_index(f"{s}_wrist"), 1]
        sh = j[:, spec.joint_index(f"{s}_shoulder"), 1]
        ok.append(w.max() - np.percentile(w, 10) > RAISE_RISE_M and (w - sh).max() > -HAND_UP_MARGIN_M)
    return all(ok) if side in ("both", "left", "right") else any(ok)


def _wave(j, side, spec, fps):
    return bool(_hand_up(j, side, spec, WAVE_UP_SHARE) and _still(j, spec, fps))


def _raise(j, side, spec, fps):
    return bool(_hand_raised(j, side, spec) and _still(j, spec, fps))


def gesture_parts(action: str, joints, side: str = "", spec: SkeletonSpec = HUMANML3D,
                  fps: float = FPS) -> dict[str, bool] | None:
    """The two halves of a gesture's rule apart: ``hands`` (the named hands do the gesture) and ``legs_still``;
    None for actions that are not in-place gestures."""
    a = normalise_action(action)
    if a not in GESTURES:
        return None
    j = _j(joints)
    hands = {"wave": lambda: _hand_up(j, side, spec, WAVE_UP_SHARE),
             "raise hands": lambda: _hand_raised(j, side, spec)}.get(a, lambda: True)()
    return {"hands": bool(hands), "legs_still": bool(_still(j, spec, fps))}


def _bow(j, side, spec, fps):
    neck = j[:, spec.joint_index("neck")] - j[:, 0]
    f = _facing(j, spec)
    lean = np.degrees(np.arctan2((neck[:, [0, 2]] * f).sum(-1), neck[:, 1]))
    return bool(lean.max() - np.percentile(lean, 10) > BOW_LEAN_DEG and _still(j, spec, fps))


def _gesture(j, side, spec, fps):
    return bool(_still(j, spec, fps))


def _past(value, side, limit):
    """``value`` (left positive) beyond ``limit`` towards the named side, or either way when no side is named."""
    if side == "left":
        return value > limit
    if side == "right":
        return value < -limit
    return abs(value) > limit


def _turn(j, side, spec, fps):
    return _past(heading_change(j, spec), side, TURN_DEG)


def _walk(j, side, spec, fps):
    speed = np.linalg.norm(np.diff(j[:, 0, [0, 2]], axis=0), axis=-1).mean() * fps
    if not WALK_SPEED[0] <= speed <= WALK_SPEED[1]:
        return False
    if side in ("left", "right"):            # "walks to the left": travels that way, or turns that way
        sign = 1 if side == "left" else -1
        return bool(sign * _lateral_displacement(j, spec) > 0.3 or sign * heading_change(j, spec) > TURN_DEG)
    return True


def _sidestep(j, side, spec, fps):
    return _past(_lateral_displacement(j, spec), side, SIDESTEP_M)


def _run(j, side, spec, fps):
    """Faster than a walk, with flight phases (or plainly too fast for a walk): walks reach 1.6 m/s, jogs 1.2."""
    speed = np.linalg.norm(np.diff(j[:, 0, [0, 2]], axis=0), axis=-1).mean() * fps
    feet = _idx(spec, "left_ankle", "right_ankle", "left_foot", "right_foot")
    flight = np.percentile(j[:, feet, 1].min(axis=1) - floor_height(j, spec), 95) > FLIGHT_M
    return bool(speed > RUN_SPEED and (flight or speed > FAST_RUN_SPEED))


def _walk_backwards(j, side, spec, fps):
    return forward_speed(j, spec, fps) < -BACKWARDS_SPEED


def _dance(j, side, spec, fps):
    limbs = _idx(spec, "left_wrist", "right_wrist", "left_ankle", "right_ankle")
    rel = j[:, limbs] - j[:, :1]
    return bool(np.linalg.norm(np.diff(rel, axis=0), axis=-1).mean() * fps > DANCE_LIMB_SPEED)


Rule = Callable[[np.ndarray, str, SkeletonSpec, float], bool]
RULES: dict[str, Rule] = {
    "kick": _kick, "jump": _airborne, "hop": _airborne, "squat": _squat, "lie down": _lie_down,
    "get up": _get_up, "fall": _fall, "crawl": _crawl, "throw": _throw, "punch": _punch,
    "pick up": _reach_floor, "put down": _reach_floor, "wave": _wave, "raise hands": _raise, "bow": _bow,
    "guide": _gesture, "call": _gesture, "respond": _gesture, "turn": _turn, "walk": _walk, "run": _run,
    "dash": _run, "walk backwards": _walk_backwards, "dance": _dance, "sidestep": _sidestep,
    "jumping jack": _airborne, "beckon": _gesture,
    "reach up": lambda j, side, spec, fps: _hand_raised(j, side, spec),
}

_ALIASES = {"raise hand": "raise hands", "raise": "raise hands", "raise-up": "raise hands", "lift hands": "raise hands",
            "walk back": "walk backwards", "walk-back": "walk backwards", "walk backward": "walk backwards",
            "jog": "run", "sprint": "dash", "lie": "lie down", "stand up": "get up", "pickup": "pick up",
            "bye": "wave", "byebye": "wave", "run backwards": "walk backwards", "box": "punch",
            "raise up": "raise hands", "dance-long": "dance", "dance-short": "dance"}


def normalise_action(action: str) -> str:
    """A label as the rules name it ("Walk-Back" -> "walk backwards")."""
    a = " ".join(str(action).strip().lower().replace("_", " ").split())
    return _ALIASES.get(a, _ALIASES.get(a.replace(" ", "-"), a))


def check_action(action: str, joints, side: str = "", spec: SkeletonSpec = HUMANML3D,
                 fps: float = FPS) -> bool | None:
    """Whether ``joints`` pass the rule of ``action`` (with ``side``), or None when no rule exists for it."""
    rule = RULES.get(normalise_action(action))
    if rule is None:
        return None
    side = (side or "").strip().lower()
    if side not in SIDES:
        raise ValueError(f"side: expected one of left, right, both or empty, got {side!r}")
    return bool(rule(_j(joints), side, spec, fps))


# ---- (action, side) from a caption ---------------------------------------------------------------------------
def action_of_caption(caption: str) -> tuple[str | None, str]:
    """(action, side) a caption names, as the rules name them: the action of the package's one caption classifier
    (:func:`motiongen.data.actions.classify_text`) through :func:`normalise_action`, (None, side) when it names
    none; the side is "both", else the first of "left"/"right" found, else ""."""
    c = caption.lower()
    side = "both" if re.search(r"\bboth\b", c) else ("left" if re.search(r"\bleft\b", c) else
                                                    ("right" if re.search(r"\bright\b", c) else ""))
    action = classify_text(c)[0]
    return (normalise_action(action) if action else None), side
