"""Number options' limits, and numbers as messages say them: as given, not as the float
they became (a value past a limit that rounds onto it is refused as itself)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

# Each number option's limits: (low, high, whether low itself is refused). A number given
# as text is also held to them exactly (exact_number_problem): 19.99999999999999999 is 20.0
# once a float, and must still be refused as below 20.
NUMBER_LIMITS: dict[str, tuple[float, float, bool]] = {
    "bpm": (20.0, 400.0, False),
    "silence_beats": (0.0, 16.0, True),
    "min_answer_beats": (0.0, 64.0, True),
    "max_answer_beats": (0.0, 64.0, True),
    "grid_beats": (0.0, 16.0, True),
    "temperature": (0.0, 10.0, True),
    "top_p": (0.0, 1.0, True),
    "max_opening_rest_beats": (0.0, 16.0, False),
    "key_bias": (0.0, 20.0, False),
    "max_hold_beats": (0.0, 1024.0, True),
    "reconnect_timeout": (0.0, 86400.0, False),
    "output_latency_ms": (0.0, 1000.0, False),
}


def range_problem(low: float, high: float, low_open: bool, shown: str) -> str:
    bound = f"> {shown_number(low)}" if low_open else f">= {shown_number(low)}"
    return f"must be {bound} and <= {shown_number(high)}, got {shown}"


def exact_number_problem(name: str, text: str, number: float) -> str | None:
    """Why `text`, read as the float `number`, is no value for number option `name` where
    the float hides it, else None: a decimal past a limit that rounds onto it
    (19.99999999999999999 is 20.0) or a number too small to be told from 0 (1e-400), said
    as the text given."""
    try:
        exact = Decimal(text.strip())
    except (InvalidOperation, ValueError):
        return None
    if not exact.is_finite() or exact == Decimal(number):  # inf and nan: as floats
        return None
    shown = text.strip() if len(text.strip()) <= 40 else f"{text.strip()[:40]}..."
    if name in NUMBER_LIMITS:
        low, high, low_open = NUMBER_LIMITS[name]
        if not ((low < exact if low_open else low <= exact) and exact <= high):
            return range_problem(low, high, low_open, shown)
    if number == 0 and exact != 0:
        return f"got {shown}, too small to be told from 0"
    return None


def shown_number(value: float) -> str:
    """A number as a message shows it: a whole number in full (a seed's bound too), unless
    it runs to more digits than anyone typed on purpose; a float short where that is exact,
    else in full (19.9999999 is refused as itself, not as the "20" it rounds to)."""
    if isinstance(value, int):
        digits = str(abs(value))
        return str(value) if len(digits) <= 20 else f"a number of {len(digits)} digits"
    short = f"{value:g}"
    return short if float(short) == value else repr(value)
