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

Every clause a plan is made of must be about a motion (name a motion verb, :func:`is_motion_clause`): a piece
without one is never a stage or a part sentence of its own. A trailing manner phrase (", as if completely
drained", "like an old man", "in a tired way") belongs to the whole sentence, so it is kept on every clause of the
split ("a person walks forward, as if completely drained" / "a person waves with the left hand, as if completely
drained"); adverbs ("slowly"), sides and counts ("waves twice") stay inside their clause; a second clause must start
with its verb ("walks back and forth and waves" splits before "waves", not after "back"); sentences without
"then" ("A person walks forward. A person sits down.") are read in order when each is about a motion.

Clauses without a subject ("waves with the left hand") get the sentence's subject ("a person"). The result is
always a valid :class:`~motiongen.plan.Plan`; ``motiongen generate`` prints the plan it used and
``--literal`` turns this off.
"""
from __future__ import annotations

import re

from .data.actions import SUBJECT as _SUBJECT
from .plan import Plan

__all__ = ["plan_from_sentence", "is_motion_clause", "MOTION_VERBS"]

_THEN = re.compile(r"\s*(?:[,;.]\s*|\s)(?:and\s+)?(?:then|after that|afterwards|next)\b\s*,?\s*", re.IGNORECASE)
_SENTENCE = re.compile(r"(?<=[a-z0-9)])\s*[.;!?]\s+(?=[A-Za-z])")
_WHILE = re.compile(r"\s*,?\s+(?:while|whilst|as)\s+", re.IGNORECASE)
_AND = re.compile(r"\s*,?\s+and\s+", re.IGNORECASE)
_CONNECTIVE = re.compile(r"^(?:(?:and|then|finally|next|afterwards|after that|also)\b[\s,]*)+", re.IGNORECASE)
_UPPER = [(("left_arm",), re.compile(r"\bleft\s+(?:hand|arm|wrist|elbow)s?\b", re.I)),
          (("right_arm",), re.compile(r"\bright\s+(?:hand|arm|wrist|elbow)s?\b", re.I)),
          (("left_arm", "right_arm"), re.compile(r"\b(?:both|two)\s+(?:hands|arms)\b|\b(?:hands|arms)\b", re.I)),
          (("head",), re.compile(r"\b(?:head|nods?|nodding)\b", re.I))]
_UPPER_VERBS = re.compile(r"\b(?:wav(?:es|ing|e)|claps?|clapping|raises?|lifts?|points?|salutes?)\b", re.I)
_LOWER = ("left_leg", "right_leg", "pelvis")

#: verbs of motion (stems; regular -s/-es/-ed/-ing forms are matched) and irregular forms
MOTION_VERBS = (
    "walk run jog jump hop skip kick punch wave raise lift lower put place pick throw toss catch turn spin rotate "
    "twist bend bow squat sit stand lie lay crawl climb step move go come stroll march dance swing stretch reach "
    "point clap nod shake stomp stamp lean kneel fall get rise roll push pull grab hold carry drink eat wipe brush "
    "wash play swim crouch duck dodge hit strike slash stab salute bounce shuffle stagger limp sneak tiptoe trot "
    "sprint dash pace circle rub scratch touch tap flap shrug look gesture beckon cross lunge flip cartwheel rock "
    "sway wobble balance perform do make take hoist hurtle trek veer incline greet tilt drop leap bound skate ski "
    "box fight block swat sweep mop stir pour open close press type write draw paint shoot aim flex fold unfold "
    "wiggle shift glide sidestep backpedal hurry rush wander amble strut stride prance skid slide slip trip "
    "stumble tumble land launch kneel hug wrap embrace lay mimic imitate act pretend exercise warm stride hike "
    "approach return retreat advance head proceed travel cover extend straighten arch curl hunch slouch raise "
    "elevate wave signal motion hail applaud knock bang pat slap juggle dribble bat golf row paddle pedal ride "
    "vault dive crawl scoot jiggle shimmy twirl pivot swivel sprawl stoop recline collapse faint trudge plod "
    "lumber tread sashay saunter waddle scurry scamper stalk creep prowl leap lurch").split()
_IRREGULAR = ("ran sat stood lay lain fell got rose risen threw thrown took taken made did does done went gone came "
              "swam swum hit held caught swung struck spun bent knelt leapt stepped dug drew drank ate shook").split()


def _forms(verb: str) -> set[str]:
    out = {verb, verb + "s", verb + "es", verb + "ed", verb + "ing", verb + verb[-1] + "ing", verb + verb[-1] + "ed"}
    if verb.endswith("e"):
        out |= {verb + "d", verb[:-1] + "ing"}
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        out |= {verb[:-1] + "ies", verb[:-1] + "ied"}
    return out


_VERB_FORMS = sorted({f for v in MOTION_VERBS for f in _forms(v)} | set(_IRREGULAR), key=len, reverse=True)
_VERB_RE = re.compile(r"\b(?:" + "|".join(_VERB_FORMS) + r")\b", re.IGNORECASE)
_MANNER_TAIL = re.compile(r"\s*,?\s+(?:as if|as though|like (?:a|an|the|someone|somebody|he|she|they|it|his|her)\b|"
                          r"in an? (?:[a-z-]+,? ){0,3}(?:way|manner|fashion|style|mood|hurry)\b|with (?:an? )?"
                          r"(?:[a-z-]+ ){0,2}(?:attitude|mood|energy|pride|confidence)\b)[^.;]*$", re.IGNORECASE)
_LEAD_WORDS = re.compile(r"^(?:(?:also|then|and|again|slowly|quickly|carefully|gently|suddenly|briskly|calmly|"
                         r"happily|sadly|angrily|\w+ly)\s+)*", re.IGNORECASE)


def is_motion_clause(clause: str) -> bool:
    """Whether a clause names a motion (a motion verb in any regular or irregular form)."""
    return bool(_VERB_RE.search(clause))


def _starts_with_verb(clause: str) -> bool:
    """A clause that can stand as its own action: (subject) (adverbs) verb ..."""
    c = clause.strip(" ,.;")
    m = _SUBJECT.match(c)
    if m:
        c = c[m.end():].strip()
    c = re.sub(r"^(?:is|are|was|were|keeps|starts|begins|continues)\s+(?:to\s+)?", "", c, flags=re.I)
    c = _LEAD_WORDS.sub("", c)
    m = _VERB_RE.match(c)
    return bool(m)


def _split_manner(clause: str) -> tuple[str, str]:
    """(clause, trailing manner phrase such as ", as if completely drained" or "")."""
    m = _MANNER_TAIL.search(clause)
    if not m or not clause[:m.start()].strip():
        return clause, ""
    core = clause[:m.start()].rstrip(" ,")
    if not is_motion_clause(core):
        return clause, ""
    return core, ", " + m.group(0).strip(" ,")


def _subject(text: str) -> str:
    m = _SUBJECT.match(text.strip())
    return m.group(0) if m else "a person"


def _with_subject(clause: str, subject: str) -> str:
    clause = _CONNECTIVE.sub("", clause.strip(" ,.;")).strip(" ,.;")
    if _SUBJECT.match(clause) or re.match(r"(?:a|an|the)\s", clause, re.I):   # its own subject ("a referee ...")
        return clause
    if re.search(r",\s*(?:(?:a|an|the)\s+\w+|someone|somebody|he|she|they)\s", clause, re.I):
        return clause                           # "while dribbling a ball, a person turns": the subject is inside
    return f"{subject} {clause}"


def _upper_parts(clause: str) -> tuple[str, ...] | None:
    for parts, pat in _UPPER:
        if pat.search(clause):
            return parts
    if _UPPER_VERBS.search(clause):          # "waves" alone: a one-handed wave is the corpus' right hand default
        return ("left_arm", "right_arm")
    return None


#: words that move the legs or the whole body: a sentence with one is not an in-place arm gesture
_LEG_WORDS = re.compile(
    r"\b(?:walk|run|jog|step|stroll|march|turn|spin|rotat|jump|hop|skip|kick|squat|sit|kneel|crouch|lie|lay|fall|"
    r"get|rise|climb|crawl|roll|danc|bow|bend|lean|lung|sway|shuffl|stomp|stamp|dodge|duck|flip|cartwheel|"
    r"leg|legs|foot|feet|knee|hip|hips|body|forward|backward|around|across|away|toward|while|moving|moves|"
    r"goes|go|come|comes|throw|toss|pick|punch|box|swim|dribbl|shoot|pass|catch)\w*",
    re.I)


def _still_parts_of_gesture(sentence: str) -> dict:
    """{"parts": ...} for a one-clause arm gesture (its verb among the arm verbs, no word that moves the legs),
    else {}."""
    from .data.parts import STILL_ARM_TEXT, STILL_LEGS_TEXT
    core, _ = _split_manner(sentence)
    if not _UPPER_VERBS.search(core) or _LEG_WORDS.search(core):
        return {}
    arms = _upper_parts(core)
    if arms is None or arms == ("head",):
        return {}
    parts = {p: STILL_LEGS_TEXT for p in _LOWER}
    parts.update({p: sentence for p in arms})
    if len(arms) == 1:
        other = "right_arm" if arms[0] == "left_arm" else "left_arm"
        parts[other] = STILL_ARM_TEXT
    return {"parts": parts}


def _stage(clause: str, subject: str) -> dict:
    clause = clause.strip(" ,.;")
    core, manner = _split_manner(clause)
    for splitter in (_WHILE, _AND):
        for m in splitter.finditer(core):
            a, b = core[:m.start()], core[m.end():]
            if not (is_motion_clause(a) and _starts_with_verb(b)):
                continue                      # a piece not about a motion is never a part sentence
            pa, pb = _upper_parts(a), _upper_parts(b)
            if (pa is None) == (pb is None):  # both or neither name the upper body: not a split we understand
                continue
            upper, lower = (a, b) if pa else (b, a)
            parts_upper = pa or pb
            up = _with_subject(upper, subject) + manner
            low = _with_subject(lower, subject) + manner
            parts = {p: up for p in parts_upper}
            parts.update({p: low for p in _LOWER})
            return {"text": low, "parts": parts}
    return {"text": _with_subject(clause, subject)}


def _sequence(text: str) -> list[str]:
    """Clauses in order ("X, then Y", "X. Y"); a piece that is not about a motion stays with the one before it
    (or, at the start, the one after)."""
    pieces = [c for s in _SENTENCE.split(text) for c in _THEN.split(s)]
    pieces = [c.strip(" ,.;") for c in pieces if c.strip(" ,.;")]
    out: list[str] = []
    for c in pieces:
        if out and not (is_motion_clause(c) and _starts_with_verb(c)):
            out[-1] = f"{out[-1]}, {c}"
        elif out and not is_motion_clause(out[-1]):
            out[-1] = f"{out[-1]}, {c}"
        else:
            out.append(c)
    return out or [text]


def plan_from_sentence(text: str, seconds: float, min_stage_seconds: float = 1.0,
                       still_parts: bool = False) -> Plan | None:
    """The plan a compound sentence describes, or None when the sentence is a single action.

    ``still_parts`` (for models trained with part texts, :mod:`motiongen.data.parts`): a stage that is an arm
    gesture alone ("a person waves with the right hand") gets the still-legs text for the legs and pelvis, and
    with one named hand, the still-arm text for the other arm.
    """
    text = " ".join(str(text).split())
    subject = _subject(text)
    clauses = _sequence(text)
    if len(clauses) > 1 and seconds / len(clauses) < min_stage_seconds:
        clauses = [text]
    stages = [_stage(c, subject) for c in clauses]
    if still_parts:
        for st in stages:
            if "parts" not in st:
                st.update(_still_parts_of_gesture(st["text"]))
    if len(stages) == 1 and "parts" not in stages[0]:
        return None
    frames = int(round(seconds * 20))
    bounds = [round(k * frames / len(stages)) for k in range(len(stages) + 1)]
    for st, a, b in zip(stages, bounds[:-1], bounds[1:]):
        st["frames"] = [a, b]
    return Plan.from_dict({"stages": stages})
