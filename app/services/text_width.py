"""How wide a text prints, estimated without the font (the label strips are sized from it):
every estimate is on the wide side of the common sans fonts, so a name sized by it fits."""

import math
import unicodedata

ELLIPSIS = "\u2026"

# Widths in em, on the wide side of the common sans fonts (DejaVu Sans is the widest of them).
_NARROW = frozenset(" !'(),./:;I[]fijlrt|")
_WIDE = frozenset("%@MWmw")


def char_ems(char: str) -> float:
    """A conservative estimate of one character's advance, in em."""
    if char.isascii():
        if char in _NARROW:
            return 0.45
        if char in _WIDE:
            return 1.0
        return 0.65 if char.islower() or char.isdigit() else 0.85
    category = unicodedata.category(char)
    if category in ("Mn", "Me", "Cf"):  # combining marks, joiners, variation selectors
        return 0.0
    if category == "So" or ord(char) >= 0x1F000:  # emoji: a colour glyph is about 1.25 em
        return 1.3
    return 1.0  # CJK, other scripts, and the ellipsis, all at most 1 em


def text_ems(text: str) -> float:
    return sum(char_ems(char) for char in text)


def _clusters(text: str) -> list[str]:
    """The text cut into what must not be split: a character with its combining marks, emoji
    joined by ZWJ or modified, and flags (pairs of regional indicators)."""
    clusters: list[str] = []
    for char in text:
        if clusters:
            last = clusters[-1]
            attached = (
                unicodedata.category(char) in ("Mn", "Me")
                or char == "\u200d"
                or last.endswith("\u200d")
                or 0x1F3FB <= ord(char) <= 0x1F3FF  # skin tones
                or (_regional(char) and len(last) == 1 and _regional(last))
            )
            if attached:
                clusters[-1] += char
                continue
        clusters.append(char)
    return clusters


def _regional(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def fit(text: str, *, width: float, sizes: tuple[float, float]) -> tuple[str, float]:
    """The text and a font size (mm) at which its estimated width is at most `width`: the
    largest size up to `sizes[1]`, else cut with an ellipsis at `sizes[0]` (empty if not even
    the ellipsis fits)."""
    smallest, largest = sizes
    ems = text_ems(text)
    if ems * largest <= width:
        return text, largest
    if ems * smallest <= width:
        return text, math.floor(width / ems * 100) / 100
    budget = width / smallest - char_ems(ELLIPSIS)
    if budget < 0:
        return "", smallest
    kept, used = "", 0.0
    for cluster in _clusters(text):
        used += text_ems(cluster)
        if used > budget:
            break
        kept += cluster
    return kept.rstrip() + ELLIPSIS, smallest
