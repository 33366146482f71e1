"""Text formats the Airbyte server produces with Java's standard library.

The public API renders times with ``OffsetDateTime.toString()`` and durations with
``Duration.toString()``. Both have quirks (the seconds vanish when they are zero) that clients must
survive, so the emulator reproduces them exactly instead of using Python's ``isoformat()``.
"""

from __future__ import annotations

import time

__all__ = ["java_duration", "java_offset_datetime"]


def java_offset_datetime(epoch_s: float) -> str:
    """Format epoch seconds (UTC) the way ``OffsetDateTime.toString()`` does.

    Java prints ``2023-03-25T01:30:50Z`` and drops the seconds field entirely when it is zero
    (``2023-03-25T01:30Z``); Airbyte's public API stores whole seconds, so there is no fraction.
    """
    t = time.gmtime(int(epoch_s))
    text = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}T{t.tm_hour:02d}:{t.tm_min:02d}"
    if t.tm_sec:
        text += f":{t.tm_sec:02d}"
    return text + "Z"


def java_duration(seconds: float) -> str:
    """Format a whole number of seconds the way ``java.time.Duration.toString()`` does.

    Zero components are omitted and days are expressed as hours: ``PT0S``, ``PT5S``, ``PT2M``,
    ``PT2M5S``, ``PT49H3S``.
    """
    total = max(0, int(seconds))
    if total == 0:
        return "PT0S"
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    text = "PT"
    if hours:
        text += f"{hours}H"
    if minutes:
        text += f"{minutes}M"
    if secs:
        text += f"{secs}S"
    return text
