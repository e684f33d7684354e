"""What a tutor knows about the 62 characters: how to form each one, and how to fix each common confusion.

Data, not logic: ``tutor.grading`` decides; this module only words it for learners.
"""

from __future__ import annotations

import string

CHARSET = string.digits + string.ascii_uppercase + string.ascii_lowercase  # the recogniser's 62 classes

# How to form each character: one short sentence a learner can follow.
TIPS: dict[str, str] = {
    "0": "Start at the top and go round anticlockwise in one oval, taller than it is wide.",
    "1": "One straight line down from the top; a small flag at the top is fine, no base needed.",
    "2": "Curve over the top to the right, slant down to the bottom left, then a flat line to the right.",
    "3": "Two bumps open to the left: a small top curve, then a bigger bottom curve.",
    "4": "Down and across like an L, then a tall line down through the crossbar; keep the top open.",
    "5": "A short flag on top, a line down, then a round belly open to the left.",
    "6": "Start at the top, curve down to the left and close a small loop at the bottom.",
    "7": "A flat line across the top, then a straight slant down to the left.",
    "8": "An S, then come back up to close it: two loops stacked, the bottom one a little bigger.",
    "9": "A small closed loop at the top, then a straight line down from its right side.",
    "A": "Two slanted lines meeting in a point at the top, and a crossbar halfway down.",
    "B": "A tall line down, then two bumps on the right: top bump a little smaller.",
    "C": "A big open curve, like most of a circle, open on the right; as tall as a capital.",
    "D": "A tall line down, then one big curve from top to bottom on the right.",
    "E": "A tall line down and three lines to the right: top, middle (a little shorter), bottom.",
    "F": "A tall line down with two lines to the right: top and middle, nothing at the bottom.",
    "G": "A big C, then a short bar going in at the bottom right.",
    "H": "Two tall lines down, and a crossbar joining them in the middle.",
    "I": "One tall line down, with short bars across the top and the bottom.",
    "J": "A line down that hooks to the left at the bottom; a bar on top is fine.",
    "K": "A tall line down, then two slants meeting it in the middle: one up, one down.",
    "L": "A tall line down, then a line to the right along the bottom.",
    "M": "Two tall outside lines with a V between them that reaches down to the middle or lower.",
    "N": "Up, diagonal down to the right, then up again: three strokes, as tall as a capital.",
    "O": "A big round oval, as tall as a capital, closed at the top.",
    "P": "A tall line down and one bump at the top right, closed halfway down.",
    "Q": "A big O with a short tail crossing its bottom right.",
    "R": "A P, then a leg slanting out from the bump to the bottom right.",
    "S": "A capital S: a big curve starting top right, crossing the middle, ending bottom left.",
    "T": "A bar across the top and a line straight down from its middle.",
    "U": "Down, round the bottom, and back up: a deep cup with no tail.",
    "V": "Two straight lines meeting in a sharp point at the bottom.",
    "W": "Down, up, down, up: two Vs side by side, points at the bottom.",
    "X": "Two straight lines crossing in the middle.",
    "Y": "Two short slants meeting in the middle, then one line straight down.",
    "Z": "Across the top, a slant down to the bottom left, then across the bottom.",
    "a": "A small round o, then a short line down its right side (sitting on the line).",
    "b": "A tall line down, then a small round belly at the bottom right.",
    "c": "A small open curve, half as tall as a capital, open on the right.",
    "d": "A small round o, then a tall line down its right side, taller than the o.",
    "e": "A short line across the middle, then curve up, over and round, leaving it open at the bottom right.",
    "f": "A hook at the top curving left, a line down, and a short bar across.",
    "g": "A small o, then a line down its right side that hooks left below the line.",
    "h": "A tall line down, then from the middle a hump over and down on the right.",
    "i": "A short line down, and a dot above it.",
    "j": "A short line down that hooks left below the line, and a dot above it.",
    "k": "A tall line down; the slants only reach half the height.",
    "l": "One tall line down, with no bars (a small curl at the bottom is fine).",
    "m": "A short line down, then two humps to the right: small, as tall as an n.",
    "n": "A short line down, then one hump over to the right and down.",
    "o": "A small round o, half as tall as a capital.",
    "p": "A line down that goes below the line, and a small bump at the top right.",
    "q": "A small o, then a line down its right side below the line (a little flick right at the end helps).",
    "r": "A short line down, then a small shoulder starting to curve right, stopping early.",
    "s": "A small s: the same curve as S, half as tall.",
    "t": "A line down with a small curve right at the bottom, and a short cross bar near the top.",
    "u": "A small cup: down, round and up, then a short line down on the right.",
    "v": "A small V: two short slants meeting at a point on the line.",
    "w": "A small W: two small Vs side by side.",
    "x": "Two short lines crossing, half as tall as a capital.",
    "y": "A short slant down to the right, and a long one from the top right crossing below the line.",
    "z": "A small z: across, slant down to the left, across again.",
}

# Characters that differ (mostly) only in size: the recogniser cannot be sure which case was meant.
CASE_PAIRS = {c: c.upper() for c in "cosuvwxzkmpy"}
CASE_PAIRS.update({v: k for k, v in list(CASE_PAIRS.items())})

# Groups that look alike whatever the size: a miss inside a group is "close", not "wrong shape".
LOOKALIKE_GROUPS: list[set[str]] = [
    {"o", "O", "0"},
    {"l", "1", "I", "i", "j", "|"},
    {"s", "S", "5"},
    {"z", "Z", "2"},
    {"b", "6"},
    {"g", "q", "9"},
    {"B", "8"},
    {"D", "O"},
    {"u", "U", "v", "V"},
    {"n", "h"},
    {"a", "d"},
]

# Specific advice for "you were asked for X and it looked like Y": (target, looked_like) -> hint.
CONFUSION_HINTS: dict[tuple[str, str], str] = {
    ("4", "9"): "your 4 looks like a 9: keep the top open.",
    ("9", "4"): "your 9 looks like a 4: close the loop at the top.",
    ("1", "7"): "your 1 looks like a 7: keep the flag at the top short, or leave it off.",
    ("7", "1"): "your 7 looks like a 1: make the top bar longer and flat.",
    ("5", "S"): "your 5 looks like an S: give it a flat flag on top and a corner.",
    ("S", "5"): "your S looks like a 5: make the top a smooth curve, no corner.",
    ("2", "Z"): "your 2 looks like a Z: make the top a round curve.",
    ("Z", "2"): "your Z looks like a 2: keep the top straight and flat.",
    ("6", "b"): "your 6 looks like a b: curve the top over to the right.",
    ("b", "6"): "your b looks like a 6: make the first line straight and tall.",
    ("0", "O"): "your 0 looks like an O: make it narrower and taller.",
    ("O", "0"): "your O looks like a 0: make it rounder and wider.",
    ("8", "B"): "your 8 looks like a B: round the left side too.",
    ("B", "8"): "your B looks like an 8: make the left side one straight line.",
    ("a", "d"): "your a looks like a d: keep the right line as short as the o.",
    ("d", "a"): "your d looks like an a: make the right line much taller than the o.",
    ("h", "n"): "your h looks like an n: make the first line twice as tall.",
    ("n", "h"): "your n looks like an h: keep the first line short.",
    ("u", "v"): "your u looks like a v: round the bottom.",
    ("v", "u"): "your v looks like a u: make the bottom a sharp point.",
    ("g", "q"): "your g looks like a q: hook the tail to the left.",
    ("q", "g"): "your q looks like a g: keep the tail straight, flick it right.",
    ("g", "9"): "your g looks like a 9: keep the loop small and hook the tail left.",
    ("q", "9"): "your q looks like a 9: keep the loop round and small, the line straight.",
    ("D", "O"): "your D looks like an O: make the left side one straight line.",
    ("l", "1"): "your l looks like a 1: no flag at the top.",
    ("1", "l"): "your 1 looks like an l: a small flag at the top tells them apart.",
    ("I", "l"): "your I looks like an l: add short bars at the top and the bottom.",
    ("e", "c"): "your e looks like a c: start with the line across the middle.",
    ("c", "e"): "your c looks like an e: no line across the middle.",
    ("r", "n"): "your r looks like an n: stop the shoulder early, don't come back down.",
    ("n", "r"): "your n looks like an r: bring the hump all the way down.",
    ("t", "f"): "your t looks like an f: start straight at the top and curve right at the bottom.",
    ("f", "t"): "your f looks like a t: hook the top to the left.",
    ("y", "v"): "your y looks like a v: carry the long stroke down below the line.",
}

# A good target that is the same shape as another character: what tells them apart on a line.
TWIN_HINTS: dict[tuple[str, str], str] = {
    ("0", "o"): "a 0 is as tall as a capital and narrower than an o.",
    ("0", "O"): "a 0 is narrower than an O.",
    ("O", "0"): "an O is rounder and wider than a 0.",
    ("o", "0"): "an o is half as tall as a capital.",
    ("1", "l"): "a small flag at the top tells a 1 from an l.",
    ("1", "I"): "an I has short bars at the top and the bottom; a 1 has none.",
    ("l", "1"): "an l has no flag at the top.",
    ("l", "I"): "an l has no bars; an I has short bars at the top and the bottom.",
    ("I", "1"): "short bars at the top and the bottom make it an I.",
    ("I", "l"): "short bars at the top and the bottom make it an I.",
    ("i", "I"): "the dot above makes it an i.",
    ("j", "J"): "the dot above makes it a j.",
    ("l", "L"): "no foot at the bottom keeps it an l.",
    ("L", "l"): "the foot at the bottom makes it an L.",
}

CASE_HINT = "your {target} looks like {article} {seen}: they differ only in size, so make it {size}."


def tip(char: str) -> str:
    return TIPS.get(char, "")


def lookalikes(char: str) -> set[str]:
    """Every character that can pass for ``char`` at a glance (its case twin included)."""
    out = {CASE_PAIRS[char]} if char in CASE_PAIRS else set()
    for group in LOOKALIKE_GROUPS:
        if char in group:
            out |= group
    out.discard(char)
    return {c for c in out if c in TIPS}


def article(char: str) -> str:
    return "an" if char.lower() in "aefhilmnorsx8" else "a"
