"""Read a compound sentence as a fine-grained plan (FineMoGen sec. 3.4, without an LLM).

Models trained on single captions mostly do one thing per sentence: "a person walks forward and waves with the
left hand" comes out as waving in place. A plan lets FineMoGen do both. The rules are few and explicit:

* sequence: "X, then Y", "X and then Y", "X; after that Y", "X. Then Y" -> stages in order, the duration split
  evenly (each stage at least 1 s; a sentence too short for that stays one stage);
* simultaneity: within a stage, "X and Y" or "X while Y" where one clause names a body part of the upper body
  (left/right/both hands or arms, the head) and the other does not -> one stage whose sentence is the other
  (whole-body) clause, with the body-part clause as the text of those parts and the whole-body clause as the text
  of the legs and the pelvis (the trajectory). The stage sentence is the whole-body clause, not the whole
  sentence, because the parts without text and FineMoGen's whole-body template group read it: with the whole
  sentence ("walks forward and waves") a model trained on single captions reads a wave in place and the walk is
  lost (`python benchmarks/headline.py` measures both readings with the shipped model);
* anything else is left as it is (``None``): the sentence is generated literally.

Clauses without a subject ("waves with the left hand") get the sentence's subject ("a person"). The result is
always a valid :class:`~motiongen.plan.Plan`; ``motiongen generate`` prints the plan it used and
``--literal`` turns this off.
"""
from __future__ import annotations

import re

from .plan import Plan

__all__ = ["plan_from_sentence"]

_THEN = re.compile(r"\s*(?:[,;.]\s*|\s)(?:and\s+)?(?:then|after that|afterwards|next)\b\s*,?\s*", re.IGNORECASE)
_WHILE = re.compile(r"\s+(?:while|whilst|as)\s+", re.IGNORECASE)
_AND = re.compile(r"\s*,?\s+and\s+", re.IGNORECASE)
_SUBJECT = re.compile(r"^(a|the|an)\s+(person|man|woman|human|figure|character|guy|girl|boy)\b|^(someone|somebody|"
                      r"he|she|they)\b", re.IGNORECASE)
_UPPER = [(("left_arm",), re.compile(r"\bleft\s+(?:hand|arm|wrist|elbow)s?\b", re.I)),
          (("right_arm",), re.compile(r"\bright\s+(?:hand|arm|wrist|elbow)s?\b", re.I)),
          (("left_arm", "right_arm"), re.compile(r"\b(?:both|two)\s+(?:hands|arms)\b|\b(?:hands|arms)\b", re.I)),
          (("head",), re.compile(r"\b(?:head|nods?|nodding)\b", re.I))]
_UPPER_VERBS = re.compile(r"\b(?:wav(?:es|ing|e)|claps?|clapping|raises?|lifts?|points?|salutes?)\b", re.I)
_LOWER = ("left_leg", "right_leg", "pelvis")


def _subject(text: str) -> str:
    m = _SUBJECT.match(text.strip())
    return m.group(0) if m else "a person"


def _with_subject(clause: str, subject: str) -> str:
    clause = clause.strip(" ,.;")
    if _SUBJECT.match(clause):
        return clause
    return f"{subject} {clause}"


def _upper_parts(clause: str) -> tuple[str, ...] | None:
    for parts, pat in _UPPER:
        if pat.search(clause):
            return parts
    if _UPPER_VERBS.search(clause):          # "waves" alone: a one-handed wave is the corpus' right hand default
        return ("left_arm", "right_arm")
    return None


def _stage(clause: str, subject: str) -> dict:
    clause = clause.strip(" ,.;")
    for splitter in (_WHILE, _AND):
        pieces = splitter.split(clause, maxsplit=1)
        if len(pieces) != 2:
            continue
        a, b = pieces
        pa, pb = _upper_parts(a), _upper_parts(b)
        if (pa is None) == (pb is None):      # both or neither name the upper body: not a split we understand
            continue
        upper, lower = (a, b) if pa else (b, a)
        parts_upper = pa or pb
        up, low = _with_subject(upper, subject), _with_subject(lower, subject)
        parts = {p: up for p in parts_upper}
        parts.update({p: low for p in _LOWER})
        return {"text": low, "parts": parts}
    return {"text": _with_subject(clause, subject)}


def plan_from_sentence(text: str, seconds: float, min_stage_seconds: float = 1.0) -> Plan | None:
    """The plan a compound sentence describes, or None when the sentence is a single action."""
    text = " ".join(str(text).split())
    subject = _subject(text)
    clauses = [c for c in _THEN.split(text) if c.strip(" ,.;")]
    if len(clauses) > 1 and seconds / len(clauses) < min_stage_seconds:
        clauses = [text]
    stages = [_stage(c, subject) for c in clauses]
    if len(stages) == 1 and "parts" not in stages[0]:
        return None
    frames = int(round(seconds * 20))
    bounds = [round(k * frames / len(stages)) for k in range(len(stages) + 1)]
    for st, a, b in zip(stages, bounds[:-1], bounds[1:]):
        st["frames"] = [a, b]
    return Plan.from_dict({"stages": stages})
