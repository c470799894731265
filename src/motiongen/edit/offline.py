"""A deterministic editor of plans for when no LLM is at hand.

It understands a small, explicit language and says plainly when it does not understand (it never guesses). Every
rule writes a *motion description* in the wording of the corpus captions the shipped model was trained on ("a
person raises the left hand", "a person walks forward slowly"), never the instruction itself: an instruction such
as "raise the left arm higher" is not a sentence the model ever learned, and generating it literally moves the
body in whatever way the text encoder happens to map it (the left wrist dropped from 1.73 m to 0.93 m).

* timing:   "make the second stage slower" (x1.5 longer, and its sentences gain "slowly"), "faster" (/1.5, and
            "energetically", the corpus adverb that speeds motion up), "longer"/"shorter" (duration only),
            "make stage 2 last 3 seconds", "make everything faster"; "the last/first N seconds" names a time
            range: "slow down the last 2 seconds" splits a stage there and slows that part. A longer stage alone
            does not move slower (the model keeps the sentence's speed), hence the adverbs
* text:     "change stage 2 to 'the person runs'", "in the first stage, the person jumps" (quotes optional),
            "replace 'walk' with 'run'" (in every text) — the user's own description
* parts:    "raise the left arm" / "raise the left arm higher" / "lower the left arm" move an arm one step on
            :data:`ARM_HEIGHTS` (the arm following a walk -> "raises the left hand" -> "waves with the left
            hand", the highest pose of the corpus); "wave with the right hand", "in stage 2, raise both hands";
            "use the other hand" swaps the left and right hands/arms (not turns: "a left turn" stays). Legs, head and spine get no sentences: the shipped model
            does not kick (a foot rises less than 20 cm for "a person kicks"), so the editor says so. A part sentence goes to
            the stage the clause names (or the one named earlier in the instruction, or every stage)
* stages:   "remove the second stage", "add a stage: the person sits down" (at the end), "add 'a person bows' at
            the start", "swap stage 1 and stage 3", "move the last stage to the start", "reverse the stages"

Several edits can be joined with "and", ";" or ",". Stage references: "stage 2", "the second stage",
"the first/last stage", "stages 1 and 2", "all stages" / "everything". :data:`PHRASINGS` lists one example of
every rule; the README shows it (the "did not understand" message a few of them), and a test checks each one; tests/test_edit.py
checks with the shipped model that each rule moves the body the way it says.
"""
from __future__ import annotations

import re

from ..plan import MAX_PLAN_FRAMES, PART_NAMES, Plan

__all__ = ["OfflineEditor", "EditNotUnderstood", "PHRASINGS"]

# One example per rule (on a plan of three 2-second stages); shown to users and tested one by one.
PHRASINGS = (
    "make the second stage slower",
    "make everything faster",
    "make stage 3 last 4 seconds",
    "slow down the last 1 seconds",
    "speed up the first 2 seconds",
    "change stage 2 to 'the person claps'",
    "in the first stage, the person jumps",
    "replace 'walks' with 'runs'",
    "raise the left arm higher",
    "lower the left arm",
    "wave with the right hand",
    "use the other hand",
    "in stage 2, raise both hands",
    "remove the second stage",
    "add a stage: the person bows",
    "add 'a person jumps' at the start",
    "swap stages 1 and 2",
    "swap stage 1 and stage 3",
    "move the last stage to the start",
    "reverse the stages",
    "make the first stage slower and raise the left arm higher",
)
# the few phrasings the "did not understand" message shows (the README's Editing section lists all of PHRASINGS)
SHORT_EXAMPLES = ("make the second stage slower", "raise the left arm higher", "use the other hand",
                  "swap stages 1 and 2")

ORDINALS = {"first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6, "seventh": 7, "eighth": 8,
            "ninth": 9, "tenth": 10, "1st": 1, "2nd": 2, "3rd": 3, "4th": 4, "5th": 5}
NUMBER_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
                "ten": 10}
PART_PATTERNS = [
    ("left_arm", r"left (?:arm|hand|elbow|wrist|shoulder)s?"), ("right_arm", r"right (?:arm|hand|elbow|wrist|shoulder)s?"),
    ("left_leg", r"left (?:leg|foot|knee|ankle|thigh)s?"), ("right_leg", r"right (?:leg|foot|knee|ankle|thigh)s?"),
    ("head", r"\b(?:head|neck|face|chin)\b"), ("spine", r"\b(?:spine|torso|back|chest|upper body|waist)\b"),
    ("pelvis", r"\b(?:pelvis|hips?|trajectory|root)\b"),
]
BOTH = [(("left_arm", "right_arm"), r"\b(?:both|two) (?:arms|hands)\b|\barms\b|\bhands\b"),
        (("left_leg", "right_leg"), r"\b(?:both|two) (?:legs|feet)\b|\blegs\b|\bfeet\b")]
SLOWER, FASTER = 1.5, 1 / 1.5
# adverbs the corpus captions use ("slowly like an elderly person", "energetically") and that move the shipped model:
# "a person walks forward slowly" walks 0.88 m/s against 1.15 m/s, "... energetically" 1.9 m/s (tests/test_edit.py)
SLOW_WORD, FAST_WORD = "slowly", "energetically"
_SLOW_RE = re.compile(r"\s*\b(?:slowly|tiredly|wearily)\b")
_FAST_RE = re.compile(r"\s*\b(?:energetically|quickly|actively|fast)\b")

# arm poses in the corpus's wording, lowest to highest (mean wrist height of the shipped model over a 4 s walk:
# following the walk about 0.9 m, raising about 1.2 m, waving 1.73 m, above the head in 95% of frames)
ARM_HEIGHTS = ("{follow}", "a person raises {hand}", "a person waves with {hand}")
# "left"/"right" naming a hand or arm (what "use the other hand" swaps), not a turn or a direction
_ARM_SIDE_RE = re.compile(r"\b(left|right)(?=\s+(?:arm|hand|elbow|wrist|shoulder|forearm|fist|palm)s?\b)",
                          re.IGNORECASE)
_HAND = {("left_arm",): "the left hand", ("right_arm",): "the right hand", ("left_arm", "right_arm"): "both hands"}
STAGE_REF = (r"(?:the\s+)?(?:(?P<ord>first|second|third|fourth|fifth|sixth|seventh|eighth|ninth|tenth|1st|2nd|3rd|"
             r"4th|5th|last|final)\s+stage|stage\s+(?P<num>\d+|one|two|three|four|five|six|seven|eight|nine|ten))")


MAX_INSTRUCTION = 1000
MAX_SECONDS = MAX_PLAN_FRAMES / 20.0     # the plan format's own limit


class EditNotUnderstood(ValueError):
    pass


def _stage_number(m: re.Match, n_stages: int) -> int:
    if m.group("ord"):
        o = m.group("ord")
        k = n_stages if o in ("last", "final") else ORDINALS[o]
    else:
        v = m.group("num")
        k = int(v) if v.isdigit() else NUMBER_WORDS[v]
    if not 1 <= k <= n_stages:
        raise EditNotUnderstood(f"the plan has {n_stages} stage(s); there is no stage {k}")
    return k - 1


def _find_stages(text: str, n: int) -> list[int] | None:
    if re.search(r"\b(?:all (?:the )?stages|every stage|everything|whole motion|the motion)\b", text):
        return list(range(n))
    found = [_stage_number(m, n) for m in re.finditer(STAGE_REF, text)]
    m = re.search(r"stages\s+(\d+)\s*(?:and|,|&)\s*(\d+)", text)
    if m:
        found += [int(m.group(1)) - 1, int(m.group(2)) - 1]
        if any(not 0 <= k < n for k in found):
            raise EditNotUnderstood(f"the plan has {n} stage(s)")
    return sorted(set(found)) or None


def _strip_stage_refs(text: str) -> str:
    text = re.sub(r"^(?:in|for|during|at)\s+" + STAGE_REF + r"\s*,?\s*", "", text)
    text = re.sub(r"\s*,?\s*(?:in|for|during)\s+" + STAGE_REF + r"\s*$", "", text)
    return text.strip(" ,.")


def _quoted(text: str) -> str | None:
    m = re.search(r"['\"\u201c\u2018](.+?)['\"\u201d\u2019]", text)
    return m.group(1).strip() if m else None


class OfflineEditor:
    name = "offline"

    def revise(self, plan: Plan, instruction: str) -> dict:
        data = plan.to_dict()
        instr = " ".join(instruction.strip().split())
        if not instr:
            raise EditNotUnderstood("the instruction is empty")
        if len(instr) > MAX_INSTRUCTION:
            raise EditNotUnderstood(f"the instruction is {len(instr)} characters long; the offline editor reads at "
                                    f"most {MAX_INSTRUCTION}")
        # "stages 1 and 2" / "stage 1 and stage 3" name stages: do not split there
        protected = re.sub(r"\b(stages?\s+\w+)\s+and\s+((?:stage\s+)?\d+|(?:stage\s+)?(?:one|two|three|four|five|"
                           r"six|seven|eight|nine|ten))\b", r"\1 & \2", instr, flags=re.IGNORECASE)
        clauses = [c.replace(" & ", " and ") for c in re.split(r"\s*(?:;|,|\band\b)\s*", protected) if c.strip()]
        first_error = None
        if len(clauses) > 1:                      # several edits ("slower and raise the left arm")
            data, first_error = self._try(plan, clauses)
            if first_error is None:
                return data
            if first_error[1] != "no rule matches":   # a clause was understood but cannot be done: say why,
                bad, why = first_error                # rather than read the whole as one edit and drop a part
                shown = bad if len(bad) <= 80 else bad[:77] + "..."
                raise EditNotUnderstood(f"cannot do '{shown}': {why}")
        data, error = self._try(plan, [instr])    # one edit whose text contains "and" or commas
        if error is None:
            return data
        bad, why = first_error or error
        if why == "no rule matches" and error[1] != "no rule matches":
            bad, why = error                      # the whole instruction got further than its pieces
        shown = bad if len(bad) <= 80 else bad[:77] + "..."
        if why != "no rule matches":              # understood, but cannot be done (an arm already at the top)
            raise EditNotUnderstood(f"cannot do '{shown}': {why}")
        examples = ", ".join(f"'{p}'" for p in SHORT_EXAMPLES)
        raise EditNotUnderstood(f"the offline editor did not understand '{shown}' ({why}); it understands e.g. "
                                f"{examples} (the README's Editing section lists all); for anything else use "
                                "--backend openai")

    def _try(self, plan: Plan, clauses: list[str]):
        data = plan.to_dict()
        context: dict = {"stages": None}
        for c in clauses:
            n_before = len(data["stages"])
            try:
                self._apply(data, c.lower(), c, context)
            except EditNotUnderstood as e:
                return None, (c, str(e))
            if len(data["stages"]) != n_before:
                context["stages"] = None        # stage numbers changed (a removal, an addition, a split)
        return data, None

    # ------------------------------------------------------------------------------------------------------------
    def _apply(self, data: dict, low: str, orig: str, ctx: dict) -> None:
        stages = data["stages"]
        n = len(stages)
        targets = _find_stages(low, n)
        if targets is not None:
            ctx["stages"] = targets

        # reorder / remove / add
        if re.search(r"\breverse\b.*\bstages\b|\bstages?\b.*\breverse", low):
            self._retime(data, list(reversed(stages)))
            return
        m = re.search(r"\bswap\b\s+" + STAGE_REF.replace("?P<ord>", "?P<o1>").replace("?P<num>", "?P<n1>")
                      + r"\s+(?:and|with)\s+" + STAGE_REF.replace("?P<ord>", "?P<o2>").replace("?P<num>", "?P<n2>"),
                      low)
        m2 = re.search(r"\bswap\b\s+(?:the\s+)?stages\s+(\d+)\s+(?:and|with|&)\s+(\d+)\b", low)
        if m2:
            a, b = int(m2.group(1)) - 1, int(m2.group(2)) - 1
            if not (0 <= a < n and 0 <= b < n):
                raise EditNotUnderstood(f"the plan has {n} stage(s); there is no stage {max(a, b) + 1}")
            order = list(stages)
            order[a], order[b] = order[b], order[a]
            self._retime(data, order)
            return
        if m:
            a, b = (_stage_number(_Shim(m, "1"), n), _stage_number(_Shim(m, "2"), n))
            order = list(stages)
            order[a], order[b] = order[b], order[a]
            self._retime(data, order)
            return
        if re.match(r"^(?:please\s+)?(?:remove|delete|drop|cut)\b", low):
            if not targets:
                raise EditNotUnderstood("which stage should go? say e.g. 'remove the second stage'")
            if len(targets) == n:
                raise EditNotUnderstood("removing every stage would leave an empty plan")
            self._retime(data, [s for i, s in enumerate(stages) if i not in targets])
            return
        m = re.match(r"^(?:please\s+)?move\s+.*?\bto the (start|beginning|end)\b", low)
        if m:
            if not targets or len(targets) != 1:
                raise EditNotUnderstood("say which one stage to move, e.g. 'move the last stage to the start'")
            st = stages[targets[0]]
            rest = [s for i, s in enumerate(stages) if i != targets[0]]
            self._retime(data, [st] + rest if m.group(1) in ("start", "beginning") else rest + [st])
            return
        m = re.match(r"^(?:please\s+)?(?:add|append|insert)\b(?:\s+a(?:nother)?\s+(?:new\s+)?stage)?\s*:?\s*(.*)$", orig,
                     re.IGNORECASE)
        if m or re.match(r"^(?:and\s+)?then\s+", low):
            body = m.group(1) if m else re.sub(r"^(?:and\s+)?then\s+", "", orig, flags=re.IGNORECASE)
            at_start = bool(re.search(r"\b(?:at|to) the (?:start|beginning)\b", body, re.IGNORECASE))
            body = re.sub(r"\s*\b(?:at|to) the (?:start|beginning|end)\b\s*", " ", body, flags=re.IGNORECASE)
            secs = re.search(r"\bfor (\d+(?:\.\d+)?) ?s(?:ec(?:ond)?s?)?\b", body)
            seconds = float(secs.group(1)) if secs else 3.0
            if not 0 < seconds <= MAX_SECONDS:
                raise EditNotUnderstood(f"a stage lasts between 0 and {MAX_SECONDS:g} seconds, not {seconds:g}")
            if secs:
                body = body.replace(secs.group(0), " ")
            text = _quoted(body) or body.strip(" :,.")
            if not text:
                raise EditNotUnderstood("what should the new stage show? e.g. \"add a stage: the person sits down\"")
            new = {"text": text, "frames": [0, int(round(seconds * 20))]}
            self._retime(data, [new] + stages if at_start else stages + [new])
            return

        # timing
        rng = re.search(r"\bthe\s+(first|last|final)\s+(\d+(?:\.\d+)?)\s*s(?:ec(?:ond)?s?)?\b", low)
        if rng:                                   # "the last 2 seconds": a time range, split off as a stage
            ctx["stages"] = self._split_off(data, rng.group(1) == "first", float(rng.group(2)))
            stages = data["stages"]
            n = len(stages)
            low = (low[:rng.start()] + "it" + low[rng.end():]).strip()
            if re.search(r"\b(?:slower|slow down|slowly|longer|stretch|faster|speed up|quicker|shorter)\b", low):
                low = "make " + low if not re.match(r"^(?:please\s+)?(?:make|let|have|do|play|speed|slow)\b",
                                                     low) else low
            else:
                orig = low
        m = re.search(r"\b(?:last|take|lasts|for)\s+(\d+(?:\.\d+)?)\s*s(?:ec(?:ond)?s?)?\b", low)
        if m and not re.search(r"\b(?:change|replace)\b", low):
            self._scale(data, ctx["stages"] or list(range(n)), seconds=float(m.group(1)))
            return
        speed = adverb = None
        if re.search(r"\b(?:slower|slowly|more slowly|slow down)\b", low):
            speed, adverb = SLOWER, SLOW_WORD
        elif re.search(r"\b(?:longer|stretch)\b", low):
            speed = SLOWER
        elif re.search(r"\b(?:faster|quicker|quickly|speed up|more quickly)\b", low):
            speed, adverb = FASTER, FAST_WORD
        elif re.search(r"\bshorter\b", low):
            speed = FASTER
        if speed is not None and re.match(r"^(?:please\s+)?(?:make|let|have|do|play|speed|slow)\b|^"
                                          + STAGE_REF, low):
            targets = ctx["stages"] or list(range(n))
            if adverb is not None:
                for k in targets:
                    self._set_pace(data["stages"][k], adverb)
            self._scale(data, targets, factor=speed)
            return

        # texts
        m = re.search(r"\breplace\s+['\"](.+?)['\"]\s+(?:with|by)\s+['\"](.+?)['\"]", orig, re.IGNORECASE)
        if m:
            old, new = m.group(1), m.group(2)
            hit = False
            for st in stages:
                if old.lower() in st["text"].lower():
                    st["text"] = re.sub(re.escape(old), new, st["text"], flags=re.IGNORECASE)
                    hit = True
                for p, t in list(st.get("parts", {}).items()):
                    if old.lower() in t.lower():
                        st["parts"][p] = re.sub(re.escape(old), new, t, flags=re.IGNORECASE)
                        hit = True
            if not hit:
                raise EditNotUnderstood(f"no text of the plan contains '{old}'")
            return
        m = re.match(r"^(?:please\s+)?(?:change|set|make|rewrite)\s+" + STAGE_REF + r"\s+(?:to|into|say|be)\s*:?\s*(.+)$",
                     low)
        if m:
            text = _quoted(orig) or orig[m.start(m.lastindex):].strip(" :.\"'")
            stages[_stage_number(m, n)]["text"] = text
            return

        # body parts
        if re.search(r"\b(?:(?:use|with|switch to|to) the other (?:hand|arm|side)|switch (?:hands|arms|sides)|"
                     r"swap (?:hands|arms|sides)|mirror(?: it)?)\b", low):
            targets = ctx["stages"] or list(range(n))
            mirrored = [self._mirror(stages[k]) for k in targets]
            if all(m == stages[k] for m, k in zip(mirrored, targets)):
                raise EditNotUnderstood("no sentence names a left or right hand or arm to swap")
            for m, k in zip(mirrored, targets):
                stages[k] = m
            return
        parts = self._parts_in(low)
        if parts:
            errors = []
            for k in ctx["stages"] or list(range(n)):
                try:
                    self._describe_parts(stages[k], parts, low, orig)
                except EditNotUnderstood as e:    # e.g. an arm already at the top in one of several stages
                    errors.append(f"stage {k + 1}: {e}")
            if len(errors) == len(ctx["stages"] or range(n)):
                raise EditNotUnderstood("; ".join(errors))
            return
        m = re.match(r"^(?:in|for|during)\s+" + STAGE_REF + r"\s*,?\s*(.+)$", low)
        if m:
            stages[_stage_number(m, n)]["text"] = _as_description(_quoted(orig) or _strip_stage_refs(orig))
            return
        raise EditNotUnderstood("no rule matches")

    # ------------------------------------------------------------------------------------------------------------
    @staticmethod
    def _set_pace(stage: dict, adverb: str) -> None:
        """Give the stage's sentences the pace adverb (and drop the opposite one): a longer stage with the same
        sentence moves at the same speed, so "slower" has to say so."""
        drop, other = (_FAST_RE, _SLOW_RE) if adverb == SLOW_WORD else (_SLOW_RE, _FAST_RE)

        def paced(text: str) -> str:
            t = text.rstrip(" .")
            if drop.search(t):                   # "walks energetically" made slower: back to plain walking
                return drop.sub("", t).strip()
            if other.search(t):
                return t
            return f"{t} {adverb}"
        stage["text"] = paced(stage["text"])
        if stage.get("parts"):
            stage["parts"] = {p: paced(t) for p, t in stage["parts"].items()}

    @staticmethod
    def _mirror(stage: dict) -> dict:
        """The other hand: "left"/"right" swap where they name a hand or arm ("the left hand", "right arms") and
        the left_arm / right_arm part entries swap. Other sides stay: "walks in a left turn" still turns left."""
        def swap(text: str) -> str:
            def other(m: re.Match) -> str:
                word = {"left": "right", "right": "left"}[m.group(1).lower()]
                return word.capitalize() if m.group(1)[0].isupper() else word
            return _ARM_SIDE_RE.sub(other, text)
        new = dict(stage)
        new["text"] = swap(stage["text"])
        if stage.get("parts"):
            parts = {}
            for p, t in stage["parts"].items():
                q = {"left_arm": "right_arm", "right_arm": "left_arm"}.get(p, p)
                parts[q] = swap(t) if q != p else t
            new["parts"] = parts
        return new

    @staticmethod
    def _describe_parts(stage: dict, parts: list[str], low: str, orig: str) -> None:
        """Write a corpus-style description for the named body parts (see :data:`ARM_HEIGHTS`)."""
        arms = tuple(p for p in parts if p in ("left_arm", "right_arm"))
        own = stage.get("parts", {})
        up = re.search(r"\b(?:raise|raises|raised|lift|lifts|higher|put up|up in the air|above the head)\b", low)
        down = re.search(r"\b(?:lower|lowers|put down|drop|drops|down)\b", low)
        wave = re.search(r"\bwav(?:e|es|ing)\b", low)
        new: dict[str, str | None] = {}
        if arms and (up or down) and not wave:
            levels = {p: _arm_height(own.get(p) or stage["text"], p) for p in arms}
            target = {p: lv + 1 if up else lv - 1 for p, lv in levels.items()}
            movable = [p for p in arms if 0 <= target[p] < len(ARM_HEIGHTS)]
            if not movable:
                hand = _HAND[arms]
                one = len(arms) == 1                     # "the left hand waves" / "both hands wave"
                if up:
                    raise EditNotUnderstood(f"{hand} already {'waves' if one else 'wave'} above the head, the "
                                            "highest arm pose of the model's corpus; there is no higher one to write")
                raise EditNotUnderstood(f"{hand} already {'follows' if one else 'follow'} the stage's sentence; "
                                        "the corpus has no lower arm pose to write")
            same = len(movable) == len(arms) and len({target[p] for p in arms}) == 1
            for p in movable:              # an arm already at the top (bottom) stays where it is
                hand = _HAND[arms] if same else _HAND[(p,)]
                new[p] = None if target[p] == 0 else ARM_HEIGHTS[target[p]].format(hand=hand)
        elif arms and wave:
            for p in arms:
                new[p] = ARM_HEIGHTS[2].format(hand=_HAND[arms])
        else:
            what = ", ".join(p.replace("_", " ") for p in parts)
            raise EditNotUnderstood(f"no motion description for the {what} in '{orig.strip()}': the offline "
                                    "editor writes arms that raise, go higher or lower or wave, and 'the other "
                                    "hand' (kicks and punches are not among them: the shipped model lifts a foot "
                                    "less than 20 cm for 'a person kicks'); give a stage's whole sentence with "
                                    "'change stage N to ...', or use --backend openai")
        parts_out = dict(own)
        for p, t in new.items():
            if t is None:
                parts_out.pop(p, None)
            else:
                parts_out[p] = t
        if parts_out:
            stage["parts"] = parts_out
        else:
            stage.pop("parts", None)


    @staticmethod
    def _split_off(data: dict, first: bool, seconds: float) -> list[int]:
        """Make the first/last ``seconds`` of the motion a set of whole stages (the stage the boundary cuts is
        split in two copies); returns the indices of the stages inside the range."""
        stages = data["stages"]
        total = stages[-1]["frames"][1]
        if not seconds == seconds or seconds <= 0 or seconds > MAX_SECONDS:
            raise EditNotUnderstood(f"a time range needs a number of seconds in (0, {MAX_SECONDS:g}], got {seconds:g}")
        n = int(round(seconds * 20))
        if n >= total:
            raise EditNotUnderstood(f"the motion is {total / 20:g} s long; 'the {'first' if first else 'last'} "
                                    f"{seconds:g} seconds' would be all of it (say 'make everything ...')")
        cut = n if first else total - n
        for k, st in enumerate(stages):
            a, b = st["frames"]
            if a < cut < b:
                left, right = dict(st), dict(st)
                left["frames"], right["frames"] = [a, cut], [cut, b]
                stages[k:k + 1] = [left, right]
                break
        return [k for k, st in enumerate(stages) if (st["frames"][1] <= cut if first else st["frames"][0] >= cut)]

    @staticmethod
    def _parts_in(low: str) -> list[str]:
        found = []
        for names, pat in BOTH:
            if re.search(pat, low) and not re.search(r"\b(?:left|right)\s+(?:arm|hand|leg|foot)\b", low):
                found += list(names)
        for name, pat in PART_PATTERNS:
            if re.search(pat, low) and name not in found:
                found.append(name)
        return [p for p in PART_NAMES if p in found]

    @staticmethod
    def _scale(data: dict, targets: list[int], factor: float | None = None, seconds: float | None = None) -> None:
        stages = data["stages"]
        if seconds is not None and not 0 < seconds <= MAX_SECONDS:
            raise EditNotUnderstood(f"a stage lasts between 0 and {MAX_SECONDS:g} seconds, not {seconds:g}")
        for k in targets:
            a, b = stages[k]["frames"]
            n = int(round(seconds * 20)) if seconds is not None else max(1, int(round((b - a) * factor)))
            stages[k]["frames"] = [a, a + n]
        OfflineEditor._retime(data, stages)

    @staticmethod
    def _retime(data: dict, order: list[dict]) -> None:
        """Lay stages end to end in the given order, keeping each stage's length (gaps are dropped)."""
        if sum(st["frames"][1] - st["frames"][0] for st in order) > MAX_SECONDS * 20:
            raise EditNotUnderstood(f"the plan would last more than {MAX_SECONDS:g} s")
        cursor = 0
        out = []
        for st in order:
            a, b = st["frames"]
            st = dict(st)
            st["frames"] = [cursor, cursor + (b - a)]
            cursor += b - a
            out.append(st)
        data["stages"] = out


class _Shim:
    """Adapts a match with suffixed group names (o1/n1) to _stage_number's (ord/num)."""

    def __init__(self, m: re.Match, suffix: str):
        self.m, self.s = m, suffix

    def group(self, name):
        return self.m.group({"ord": "o", "num": "n"}[name] + self.s)


def _arm_height(text: str, part: str) -> int:
    """Which rung of :data:`ARM_HEIGHTS` a sentence puts this arm on (0: it follows the body's motion)."""
    low = text.lower()
    side, other = ("left", "right") if part == "left_arm" else ("right", "left")
    if re.search(rf"\b{other}\b", low) and not re.search(rf"\b{side}\b|\bboth\b", low):
        return 0                                  # the sentence is about the other arm
    if re.search(r"\bwav(?:e|es|ing)\b", low) and "goodbye" not in low or "over the head" in low:
        return 2
    if re.search(r"\b(?:raises|raise|lifts|lift|up in the air|hands? up)\b", low):
        return 1
    return 0


def _as_description(text: str) -> str:
    """A stage sentence as the corpus words it: "the person jumps" -> "a person jumps"."""
    return re.sub(r"^the person\b", "a person", text.strip(), flags=re.IGNORECASE)
