"""Prometheus text exposition (format 0.0.4) as the real exporters print it, number for number.

Exporters differ in how they print a value, and a test that compares what Prometheus stored with what
was served must not trip over that: Go's client_golang (node_exporter) prints ``strconv.FormatFloat
(v, 'g', -1, 64)``, so ``3.3325338624e+10`` and ``0.21``; dcgm-exporter prints integers with ``%d``
and doubles with ``%f`` (``24.124000``); Python's prometheus_client (vLLM, Ray) prints ``repr`` with
Go's switch to exponents above 1e6 (``1234.0``, ``1.234567e+06``).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal

Labels = tuple[tuple[str, str], ...]


def go_float(value: float) -> str:
    """``strconv.FormatFloat(value, 'g', -1, 64)``, which client_golang's text writer calls.

    Shortest round-trip digits; an exponent when the decimal exponent is below -4 or at least 6
    (strconv's 'g' decides with precision 6 when asked for the shortest form).
    """
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(float(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp10 = len(digits) + exponent - 1
    prefix = "-" if sign else ""
    if exp10 < -4 or exp10 >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{prefix}{mantissa}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if exp10 < 0:
        return f"{prefix}0.{'0' * (-exp10 - 1)}{text}"
    if len(text) <= exp10 + 1:
        return prefix + text + "0" * (exp10 + 1 - len(text))
    return f"{prefix}{text[: exp10 + 1]}.{text[exp10 + 1 :]}"


def py_float(value: float) -> str:
    """prometheus_client's ``floatToGoString``: ``repr``, with an exponent once 7+ integer digits."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = repr(value)
    dot = text.find(".")
    if value > 0 and dot > 6:
        mantissa = f"{text[0]}.{text[1:dot]}{text[dot + 1 :]}".rstrip("0.")
        return f"{mantissa}e+0{dot - 1}"
    return text


def escape(value: str) -> str:
    """A label value as the text format wants it: backslash, quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def sample(name: str, labels: Labels, value: str) -> str:
    if not labels:
        return f"{name} {value}\n"
    inner = ",".join(f'{k}="{escape(v)}"' for k, v in labels)
    return f"{name}{{{inner}}} {value}\n"


def family(name: str, help_text: str, kind: str, samples: Iterable[str]) -> str:
    """``# HELP`` and ``# TYPE`` lines, then the samples (already rendered)."""
    return f"# HELP {name} {help_text}\n# TYPE {name} {kind}\n" + "".join(samples)
