"""Fine-grained plans (FineMoGen sec. 3.3-3.4): stages in time x body parts, each with its own text.

JSON format (``motiongen generate --plan plan.json``)::

    {"stages": [
        {"seconds": 2.0, "text": "a person walks forward",
         "parts": {"left_arm": "swing the left arm", "right_arm": "swing the right arm"}},
        {"frames": [40, 120], "text": "the person waves with both hands",
         "parts": {"left_arm": "wave the left hand above the head"}}
    ]}

* A stage gives either ``seconds`` (it starts where the previous stage ended) or ``frames`` ``[start, end)``
  at 20 fps. Ranges must be non-negative, non-empty and must not overlap; gaps are allowed (the frames in a gap
  belong to no stage and are shaped by the neighbouring stages' time anchors).
* ``text`` is the stage's overall sentence; ``parts`` maps any of the body parts head, spine, left_arm,
  right_arm, left_leg, right_leg, pelvis (aliases: trajectory/root -> pelvis, torso -> spine) to a text.
  A part without text gets the stage's overall sentence; a stage without ``text`` gets its part texts joined.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .skeleton import FINEMOGEN_PART_NAMES

__all__ = ["PART_NAMES", "Plan", "PlanError", "Stage", "load_plan", "plan_condition"]

PART_NAMES = FINEMOGEN_PART_NAMES
PART_ALIASES = {"trajectory": "pelvis", "root": "pelvis", "torso": "spine", "hip": "pelvis", "hips": "pelvis"}
PLAN_FPS = 20.0
MAX_PLAN_FRAMES = 20 * 3600          # an hour: longer plans are mistakes (and would not fit in memory)
MAX_STAGES = 1000
MAX_TEXT = 1000                      # characters per text


class PlanError(ValueError):
    """An invalid plan; the message names the stage and field."""


@dataclass
class Stage:
    text: str
    start: int              # frame, inclusive
    end: int                # frame, exclusive
    parts: dict[str, str] = field(default_factory=dict)

    @property
    def frames(self) -> int:
        return self.end - self.start

    def part_text(self, part: str) -> str:
        return self.parts.get(part) or self.text

    def to_dict(self) -> dict:
        d = {"text": self.text, "frames": [self.start, self.end]}
        if self.parts:
            d["parts"] = dict(self.parts)
        return d


@dataclass
class Plan:
    stages: list[Stage]

    def __post_init__(self):
        if not self.stages:
            raise PlanError("plan: 'stages' is empty; give at least one stage")

    # ---- construction ----------------------------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str, seconds: float) -> Plan:
        return cls.from_dict({"stages": [{"text": text, "seconds": seconds}]})

    @classmethod
    def from_dict(cls, data, fps: float = PLAN_FPS) -> Plan:
        if isinstance(data, list):
            data = {"stages": data}
        if not isinstance(data, dict):
            raise PlanError(f"plan: expected an object with 'stages', got {type(data).__name__}")
        unknown = set(data) - {"stages", "text", "version"}
        if unknown:
            raise PlanError(f"plan: unknown field(s) {', '.join(sorted(unknown))}; expected 'stages'")
        raw = data.get("stages")
        if not isinstance(raw, list) or not raw:
            raise PlanError("plan: 'stages' must be a non-empty list")
        if len(raw) > MAX_STAGES:
            raise PlanError(f"plan: {len(raw)} stages; at most {MAX_STAGES}")
        stages: list[Stage] = []
        cursor = 0
        for i, st in enumerate(raw):
            where = f"plan: stage {i + 1}"
            if not isinstance(st, dict):
                raise PlanError(f"{where}: expected an object, got {type(st).__name__}")
            unknown = set(st) - {"text", "seconds", "frames", "parts"}
            if unknown:
                raise PlanError(f"{where}: unknown field(s) {', '.join(sorted(unknown))}; expected text, "
                                f"seconds or frames, parts")
            parts = _parse_parts(st.get("parts", {}), where)
            text = st.get("text", "")
            if not isinstance(text, str):
                raise PlanError(f"{where}: 'text' must be a string")
            check_text(text, f"{where}: 'text'", PlanError)
            text = " ".join(text.split())
            if len(text) > MAX_TEXT:
                raise PlanError(f"{where}: 'text' is {len(text)} characters; at most {MAX_TEXT}")
            if not text:
                text = ". ".join(parts[p] for p in PART_NAMES if p in parts)
            if not text:
                raise PlanError(f"{where}: give a 'text' or at least one part text")
            if ("seconds" in st) == ("frames" in st):
                raise PlanError(f"{where}: give exactly one of 'seconds' (a duration) or 'frames' ([start, end))")
            if "seconds" in st:
                secs = st["seconds"]
                if isinstance(secs, int) and not isinstance(secs, bool):
                    if secs > MAX_PLAN_FRAMES / fps:     # int vs float compares exactly: no overflow
                        raise PlanError(f"{where}: 'seconds' is more than {MAX_PLAN_FRAMES / fps:g}; a plan lasts "
                                        f"at most {MAX_PLAN_FRAMES / fps:g} s")
                    if secs <= 0:
                        raise PlanError(f"{where}: 'seconds' must be a positive number, got "
                                        f"{secs if secs > -10 ** 30 else 'a huge negative integer'}")
                    secs = float(secs)
                if isinstance(secs, bool) or not isinstance(secs, (int, float)) or not secs > 0 \
                        or secs != secs or secs == float("inf"):
                    raise PlanError(f"{where}: 'seconds' must be a positive number, got {str(secs)[:40]}")
                if secs * fps > MAX_PLAN_FRAMES:
                    raise PlanError(f"{where}: 'seconds' is {secs:g}; a plan lasts at most {MAX_PLAN_FRAMES / fps:g} s")
                start, end = cursor, cursor + max(1, int(round(secs * fps)))
            else:
                fr = st["frames"]
                if not (isinstance(fr, (list, tuple)) and len(fr) == 2 and all(isinstance(v, int) and
                                                                               not isinstance(v, bool) for v in fr)):
                    raise PlanError(f"{where}: 'frames' must be [start, end) as two integers, got {fr!r}")
                start, end = fr
                if start < 0 or end < 0:
                    raise PlanError(f"{where}: frame range {fr} is negative")
                if end <= start:
                    raise PlanError(f"{where}: frame range {fr} is empty (end must be greater than start)")
            if start < cursor:
                raise PlanError(f"{where}: frames [{start}, {end}) overlap stage {i} (which ends at frame {cursor})")
            if end > MAX_PLAN_FRAMES:
                raise PlanError(f"{where}: the plan would last more than {MAX_PLAN_FRAMES / fps:g} s (an hour)")
            stages.append(Stage(text, start, end, parts))
            cursor = end
        return cls(stages)

    def to_dict(self) -> dict:
        """The canonical JSON form (frame ranges; what generate/edit write to plan.json)."""
        out = []
        for s in self.stages:
            d = {"text": s.text, "frames": [s.start, s.end]}
            if s.parts:
                d["parts"] = dict(s.parts)
            out.append(d)
        return {"stages": out}

    # ---- queries ---------------------------------------------------------------------------------------------
    def total_frames(self, fps: float = PLAN_FPS) -> int:
        return self.stages[-1].end

    @property
    def has_parts(self) -> bool:
        return any(s.parts for s in self.stages)

    def describe(self) -> str:
        """One sentence for models that do not read plans: the stage sentences joined in order."""
        return ", then ".join(s.text.rstrip(". ") for s in self.stages)

    def __len__(self) -> int:
        return len(self.stages)


def _parse_parts(parts, where: str) -> dict[str, str]:
    if not isinstance(parts, dict):
        raise PlanError(f"{where}: 'parts' must be an object mapping body parts to texts")
    out: dict[str, str] = {}
    for k, v in parts.items():
        name = PART_ALIASES.get(str(k).lower().replace(" ", "_").replace("-", "_"),
                                str(k).lower().replace(" ", "_").replace("-", "_"))
        if name not in PART_NAMES:
            raise PlanError(f"{where}: unknown body part '{k}'; expected one of {', '.join(PART_NAMES)}")
        if not isinstance(v, str):
            raise PlanError(f"{where}: text of part '{k}' must be a string")
        check_text(v, f"{where}: text of part '{k}'", PlanError)
        v = " ".join(v.split())
        if len(v) > MAX_TEXT:
            raise PlanError(f"{where}: text of part '{k}' is {len(v)} characters; at most {MAX_TEXT}")
        if v:
            if name in out:
                raise PlanError(f"{where}: body part '{name}' is given twice")
            out[name] = v
    return out


def check_text(text: str, where: str, error=ValueError) -> str:
    """Refuse text that is not valid Unicode: a lone surrogate (from JSON's '\\ud800' or a command-line byte that
    is not UTF-8, which Python keeps as a surrogate escape). The text encoders cannot tokenize it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as e:
        raise error(f"{where} is not valid UTF-8 text (character {e.start + 1} is an undecodable byte or a lone "
                    f"surrogate)") from None
    return text


def load_plan(path: str | os.PathLike) -> Plan:
    path = Path(path)
    if not path.is_file():
        raise PlanError(f"plan file '{path}' does not exist")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise PlanError(f"plan file '{path}' is not valid JSON: {e}") from e
    except ValueError as e:               # e.g. an integer of more than 4300 digits
        raise PlanError(f"plan file '{path}' is not usable JSON: {str(e)[:120]}") from None
    except RecursionError:
        raise PlanError(f"plan file '{path}': the JSON is nested too deeply to be a plan") from None
    try:
        return Plan.from_dict(data)
    except PlanError as e:
        raise PlanError(f"{path}: {e}") from e


def plan_condition(pipe, prompts, frames):
    """Encode a batch of prompts (plans and/or sentences) for ``pipe``'s denoiser.

    Models that read plans get S stages x (1 + 7) groups: each stage's overall sentence, then one text per body
    part (a part without its own text reads the stage sentence — a plain sentence feeds every group). Other
    models get each plan collapsed to one sentence (:meth:`Plan.describe`).
    """
    from .models.condition import MotionCondition

    if not pipe.denoiser.supports_plans:
        texts = [p.plan.describe() if p.plan is not None else p.text for p in prompts]
        return MotionCondition(pipe.encode_texts(texts).to(pipe.device))
    plans = [p.plan if p.plan is not None else Plan([Stage(p.text, 0, n)]) for p, n in zip(prompts, frames)]
    S = max(len(pl) for pl in plans)
    G = 1 + len(PART_NAMES)
    texts, bounds, valid = [], torch.zeros(len(plans), S, 2, dtype=torch.long), torch.zeros(len(plans), S,
                                                                                            dtype=torch.bool)
    for b, pl in enumerate(plans):
        for s in range(S):
            if s < len(pl):
                st = pl.stages[s]
                texts += [st.text] + [st.part_text(p) for p in PART_NAMES]
                bounds[b, s] = torch.tensor([st.start, st.end])
                valid[b, s] = True
            else:
                texts += [""] * G
    feats = pipe.encode_texts(texts).to(pipe.device)
    return MotionCondition(feats, S, G, bounds.to(pipe.device), valid.to(pipe.device))
