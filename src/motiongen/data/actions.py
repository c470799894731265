"""The corpus's action vocabulary: normalised labels (lowercase words, no side), their caption phrases, and the
rules that turn each source's own labels (file names, HDM05 classes, SNU segment types, CMU descriptions) into
``(action, side, style)``.

A phrase list per action has up to three forms: ``""`` (no side), ``"side"`` (``{side}`` = left/right) and
``"both"``. Captions are "<subject> <phrase> [<manner>]" sentences; a mirrored clip swaps its side first.
"""
from __future__ import annotations

import re

__all__ = ["ACTION_PHRASES", "STYLE_PHRASES", "classify_text", "swap_side", "ACTION_KEYWORDS", "SUBJECT"]

#: the subject a caption starts with ("a person", "an elderly man", "the figures", "someone", "they"): the
#: compound-sentence splitter gives it to clauses without one, the known-actions check removes it before embedding
SUBJECT = re.compile(r"^\s*(?:(?:a|an|the|this|that)\s+(?:[a-z-]+\s+){0,2}?)?(?:person|man|woman|human|figure|"
                     r"character|guy|girl|boy|subject|individual|thug|people)s?\b|"
                     r"^\s*(?:men|women|people|someone|somebody|he|she|they)\b", re.IGNORECASE)

ACTION_PHRASES: dict[str, dict[str, list[str]]] = {
    "walk": {"": ["walks forward", "walks ahead", "takes a few steps forward", "walks in a straight line"]},
    "run": {"": ["runs forward", "jogs quickly forward", "runs ahead"],
            "side": ["runs, curving to the {side}", "runs and bends to the {side}"]},
    "dash": {"": ["dashes forward", "sprints ahead", "bursts into a sprint"]},
    "jog": {"": ["jogs", "jogs at an easy pace", "runs slowly"], "side": ["jogs in a circle to the {side}"]},
    "walk backwards": {"": ["walks backwards", "steps backwards several times", "walks back without turning"]},
    "run backwards": {"": ["runs backwards", "moves backwards quickly", "backpedals"]},
    "sidestep": {"side": ["walks sideways to the {side}", "steps sideways to the {side}", "side-steps to the {side}"],
                 "": ["walks sideways", "steps sideways", "side-steps"]},
    "turn": {"side": ["walks and turns to the {side}", "turns {side}", "turns around to the {side}"],
             "": ["turns around", "turns in place", "walks and turns"]},
    "raise hand": {"side": ["raises the {side} hand", "lifts the {side} hand up", "puts the {side} arm up in the air"],
                   "both": ["raises both hands", "lifts both hands up", "puts both arms up in the air"],
                   "": ["raises a hand", "lifts a hand up"]},
    "wave": {"side": ["waves the {side} hand", "waves with the {side} hand", "waves hello with the {side} hand"],
             "both": ["waves both hands", "waves with both hands", "waves goodbye with both hands"],
             "": ["waves goodbye", "waves a hand to say bye", "waves"]},
    "bow": {"": ["bows", "bends forward in a bow", "makes a polite bow"]},
    "guide": {"": ["gestures to show someone the way", "guides someone with an open hand", "points the way with a hand"]},
    "beckon": {"": ["calls someone over with a hand", "beckons someone to come", "waves someone over"]},
    "respond": {"": ["responds to someone with a gesture", "reacts to a call with a gesture"]},
    "punch": {"": ["punches", "throws punches", "punches forward"], "side": ["punches with the {side} fist"]},
    "box": {"": ["boxes", "throws a series of punches", "shadow boxes"]},
    "kick": {"side": ["kicks with the {side} leg", "kicks forward with the {side} foot", "does a {side}-footed kick"],
             "": ["kicks", "kicks forward", "does a kick"]},
    "jump": {"": ["jumps", "jumps forward", "jumps up and lands"]},
    "hop": {"both": ["hops on both feet", "hops with both legs together", "jumps on the spot with both feet"],
            "": ["hops", "hops up and down", "hops a few times"]},
    "jumping jack": {"": ["does jumping jacks", "does star jumps", "jumps while spreading arms and legs"]},
    "squat": {"": ["squats down and stands back up", "does a squat", "bends the knees into a squat and rises"]},
    "lie down": {"": ["lies down on the floor", "gets down and lies on the ground", "lies down flat on the floor"]},
    "get up": {"": ["gets up from the floor", "stands up from lying on the ground", "rises from the ground"]},
    "fall": {"": ["falls to the ground", "falls down", "collapses onto the floor"],
             "side": ["falls to the {side}", "falls over to the {side}"]},
    "crawl": {"": ["crawls on hands and knees", "crawls forward", "crawls along the floor"]},
    "roll": {"": ["rolls on the ground", "does a forward roll", "rolls over"]},
    "cartwheel": {"": ["does a cartwheel", "turns a cartwheel", "cartwheels"]},
    "backflip": {"": ["does a backflip", "flips backwards", "does a back somersault"]},
    "sideflip": {"": ["does a side flip", "flips sideways", "does an aerial side flip"]},
    "spin": {"": ["spins around", "spins on the spot", "twirls around"]},
    "throw": {"": ["throws a ball", "throws something forward", "throws a basketball with both hands"],
              "side": ["throws with the {side} hand"]},
    "catch": {"": ["catches a ball", "catches a pass", "catches something thrown"]},
    "pick up": {"": ["picks something up", "picks up an object", "bends down and picks something up"],
                "side": ["picks something up with the {side} hand"]},
    "put down": {"side": ["puts an object on the floor with the {side} hand", "bends down and sets something on "
                          "the floor with the {side} hand"],
                 "": ["puts something down", "sets an object down", "places something on the floor"]},
    "reach up": {"side": ["reaches up with the {side} hand and grabs something", "reaches high with the {side} "
                          "hand to grab something"],
                 "": ["reaches up to grab something", "reaches high and grabs"]},
    "elbow to knee": {"": ["touches an elbow to the opposite knee", "does elbow to knee crunches",
                           "brings an elbow down to the raised knee"]},
    "rotate arms": {"both": ["circles both arms backwards", "rotates both arms backwards", "swings both arms in circles"],
                    "": ["circles the arms", "rotates the arms"]},
    "sneak": {"": ["sneaks forward", "tiptoes forward stealthily", "creeps forward quietly"]},
    "dance": {"": ["dances", "dances happily", "performs a dance"]},
    "swim": {"": ["makes swimming strokes", "swims", "moves the arms as if swimming"]},
    "wipe": {"": ["wipes a surface", "wipes something with a hand", "cleans a surface with wiping motions"],
             "side": ["wipes a surface with the {side} hand"]},
    "tennis": {"": ["plays tennis", "swings a tennis racket", "hits tennis shots"]},
    "dribble": {"": ["dribbles a basketball", "bounces a ball while moving", "dribbles a ball"]},
    "guard": {"": ["guards an opponent", "defends, marking another player", "stays in a defensive stance"]},
    "pass": {"": ["passes a ball", "passes a basketball", "throws a pass"]},
    "shoot": {"": ["shoots a basketball", "takes a jump shot", "shoots the ball at the hoop"]},
    "block shot": {"": ["jumps to block a shot", "blocks a shot with the arms up", "leaps to block the ball"]},
    "screen": {"": ["sets a screen", "stands firm to block a defender", "sets a pick"]},
    "pivot": {"side": ["pivots on the {side} foot", "turns on the {side} foot"], "": ["pivots", "pivots on one foot"]},
    "feint": {"side": ["fakes a move to the {side}", "feints to the {side}"], "": ["fakes a move", "feints"]},
    "stand": {"": ["stands still", "stands in place", "stands and waits"]},
    "sword attack": {"": ["attacks with a sword", "swings a sword", "slashes with a sword"]},
    "block": {"": ["blocks with a shield", "raises a shield to block", "defends with a raised shield"]},
    "parry": {"": ["parries with a sword", "deflects a blow with a sword", "parries an attack"]},
    "dodge": {"side": ["dodges to the {side}", "leaps aside to the {side}"], "": ["dodges backwards", "dodges"]},
    "taunt": {"": ["taunts someone", "makes a taunting gesture", "provokes an opponent"]},
    "martial arts": {"": ["does a martial arts move", "performs a martial arts technique", "does a kung fu move"]},
}

# manner word -> adverbial phrases
STYLE_PHRASES = {
    "zombie": ["like a zombie", "stiffly like a zombie"], "feminine": ["in a feminine way"],
    "depressed": ["in a depressed way", "sadly"], "happy": ["happily", "cheerfully"], "old": ["like an old person"],
    "strutting": ["with a strut", "proudly"], "spinning": ["while spinning around"], "indian": ["in an indian style"],
    "fake": ["as a fake"], "backwards": ["backwards"], "recovering": ["and gets back up", "then stands up again"],
    "backwards recovering": ["backwards and gets back up"], "spinning recovering": ["while spinning, then gets up"],
    "running": ["while running"], "jumping": ["while jumping"],
    "in a circle": ["in a circle"],
    "with a sword": ["holding a sword and shield"], "angry": ["angrily"], "sexy": ["in a sexy way"],
    "neutral": [""], "crouching": ["while crouching"],
}


def swap_side(side: str) -> str:
    return {"left": "right", "right": "left"}.get(side, side)


# The one caption -> action classifier of the package (corpus labels, the human-caption pool, the evaluation's
# action rules and known actions all read it): (regex, action) over lowercase text, first match wins, so the
# specific come before the general: whole-body actions before the hand gestures that often go with them ("squats
# and raises both arms" is a squat), gestures before locomotion ("walks forward and waves" is a wave), and "walks
# back" alone is not walking backwards ("turns around and walks back" is a turn).
_HANDS = r"(?:hands?|arms?)"
ACTION_KEYWORDS: list[tuple[str, str]] = [
    (r"\bpick(s|ed|ing)? (up|\w+ up)\b", "pick up"),
    (r"\b(set|sets|put|puts|putting|place|places|placing)\b(?!\s+(it|them|((his|her|their|its|the|both)\s+)?(\w+\s+)?"
     + _HANDS + r")\b).*\bdown\b", "put down"),
    (r"\blie?s? down\b|\blying down\b|\blays? down\b", "lie down"),
    (r"\b(gets?|getting|stands?|standing) up from (the )?(floor|ground|lying|laying)|\bget(s|ting)? up\b(?!.*chair)"
     r"|\b(stands?|standing) up\b(?!.*\b(chair|sits?|sitting|seat|stool|bench)\b)", "get up"),
    (r"\bcartwheel", "cartwheel"), (r"\bback ?flip", "backflip"), (r"\bcrawl", "crawl"),
    (r"\bjumping jacks?\b|\bstar jumps?\b", "jumping jack"), (r"\bsquat", "squat"), (r"\bkick", "kick"),
    (r"\bpunch", "punch"), (r"\bbox(es|ing)\b|\bshadow ?box", "box"), (r"\bhop", "hop"), (r"\bjump", "jump"),
    (r"\bthrow", "throw"), (r"\bcatch", "catch"), (r"\bdanc", "dance"), (r"\b(fall|falls|falling|fell)\b", "fall"),
    (r"\bsit(s|ting)?\b|\bsat\b", "sit"),
    (r"\bslash|\bswings? a (sword|blade)\b", "sword attack"),
    (r"\bbows?\b|\bbowing\b|\bbowed\b", "bow"),
    (r"\b(calls? someone|beckons?|waves? someone over)\b", "beckon"),
    (r"\b(guides?|points? the way|shows? someone the way)\b", "guide"),
    (r"\bwav(e|es|ing)\b|\bgoodbye\b|\bbye\b", "wave"),
    (r"\b(raises?|raising|raised|lifts?|lifting|lifted)\b[^.;]*?\b" + _HANDS + r"\b|\bputs? (\w+ ){0,2}"
     + _HANDS + r" (up|in the air)\b", "raise hand"),
    (r"\bresponds?\b", "respond"),
    (r"\bsneak|\btiptoe", "sneak"), (r"\bswim", "swim"),
    (r"\b(runs?|running|jogs?|jogging) backwards?\b|\bbackpedal", "run backwards"),
    (r"\b(walk|walks|walking|walked|steps?|stepping|moves?|moving) backwards?\b|\bbackwards? walk"
     r"|\b(steps?|stepping|moves?|moving) back\b(?! (to|into|and forth|forward))", "walk backwards"),
    (r"\b(walks?|walking|steps?|stepping|moves?|moving|shuffles?|shuffling) (\w+ )?sideways\b|\bside-? ?steps?\b"
     r"|\bsidestepping\b", "sidestep"),
    (r"\bturns? in place\b|\bturns? around\b", "turn"),
    (r"\b(dash|dashes|dashing|sprints?|sprinting)\b", "dash"),
    (r"\b(jog|jogs|jogging)\b", "jog"), (r"\b(run|runs|running)\b", "run"),
    (r"\bturn", "turn"),
    (r"\b(walk|walks|walking|walked|limps?|limping|strolls?|strolling|march|marches|marching)\b", "walk"),
]
_KEYWORD_RES = [(re.compile(p), a) for p, a in ACTION_KEYWORDS]


def classify_text(text: str) -> tuple[str, str]:
    """(action, side) from free text by :data:`ACTION_KEYWORDS`; ("", "") when nothing matches. The side is the
    first "left"/"right" of the text, kept only for actions with sided phrases in :data:`ACTION_PHRASES`."""
    t = text.lower()
    for pattern, action in _KEYWORD_RES:
        if pattern.search(t):
            side = ""
            m = re.search(r"\b(left|right)\b", t)
            if m and "side" in ACTION_PHRASES.get(action, {}):
                side = m.group(1)
            return action, side
    return "", ""
