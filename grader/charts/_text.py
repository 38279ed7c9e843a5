"""Text in a chart: escaping, estimated widths, shortening and wrapping, number formats."""

from __future__ import annotations

import math
import re
from html import escape

_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _escape(text: object) -> str:
    """Text safe in SVG/XML content and in double- or single-quoted attributes."""
    return escape(_XML_INVALID.sub("", str(text)), quote=True)


# Advance widths of DejaVu Sans, the widest common fallback sans-serif, in em. Estimating
# with the widest font leaves a little slack in others but never lets labels collide.
_NARROW = dict.fromkeys("ijl.,:;'|!", 0.32) | dict.fromkeys("ft ()[]-/", 0.40)
_WIDE = dict.fromkeys("mwMW%@", 0.95) | {"\u2212": 0.84, "\u2026": 1.0, "\u00d7": 0.84}


def _text_width(text: str, size: float) -> float:
    """Estimated rendered width of ``text`` at font ``size`` px."""
    width = 0.0
    for char in text:
        if char in _NARROW:
            width += _NARROW[char]
        elif char in _WIDE:
            width += _WIDE[char]
        elif char.isupper():
            width += 0.74
        elif ord(char) >= 0x2E80:  # CJK and other full-width scripts
            width += 1.0
        else:
            width += 0.64
    return width * size


def _fit(text: str, size: float, width: float) -> str:
    """``text`` shortened with an ellipsis until it fits in ``width`` px."""
    if _text_width(text, size) <= width:
        return text
    text = text[: max(0, int(width / (0.32 * size)))]  # no more than this many could fit
    while text and _text_width(text + "\u2026", size) > width:
        text = text[:-1]
    return text.rstrip() + "\u2026"


def _wrap(text: str, size: float, width: float) -> list[str]:
    """Greedy word wrap of ``text`` into lines no wider than ``width`` px."""
    lines: list[str] = []
    for word in text.split():
        if lines and _text_width(f"{lines[-1]} {word}", size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(_fit(word, size, width))
    return lines


def _minus(text: str) -> str:
    # A true minus sign: the hyphen is shorter and reads as a dash in tick labels.
    return text.replace("-", "\u2212")


def _format_value(value: float) -> str:
    """A metric value for labels: three decimals below 10, fewer above."""
    if not math.isfinite(value):
        return "n/a"
    magnitude = abs(value)
    if magnitude < 10:
        return _minus(f"{value:.3f}")
    if magnitude >= 1e6:
        return _minus(f"{value:.3g}")
    return _minus(f"{value:.1f}" if magnitude < 1000 else f"{value:,.0f}")


def _short_value(value: float) -> str:
    """A value as given, in at most four significant digits: a rubric's 0.97 stays 0.97
    and a median of 45.5 marks stays 45.5, where :func:`_format_value` pads decimals."""
    return _minus(f"{value:.4g}")


def _estimate_text(value: float, low: float, high: float) -> str:
    """``"0.812 (0.750\u20130.870)"``, or the value alone without a finite interval."""
    if math.isfinite(low) and math.isfinite(high):
        return f"{_format_value(value)} ({_format_value(low)}\u2013{_format_value(high)})"
    return _format_value(value)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
