"""The one rule for text people write (customers' messages and transcripts, agents' replies and notes).

Text reaches the core from providers that retry whatever they are refused
(Twilio resends a webhook answered 4xx or 5xx), so the core never refuses a
customer's words: it keeps them, cleaned.  Every way in (SMS, chat widget,
transcription, the HTTP API) goes through :func:`clean_text` in the service,
before anything is stored, so a stored body is always one the model accepts
and every reader (console, widget, outbound SMS, logs) sees the same text.

* Line breaks are normalised: ``\\r\\n`` and a lone ``\\r`` become ``\\n``.
* Control characters other than newline and tab are removed (NUL, escape
  sequences that repaint a terminal, DEL, the C1 block that Latin-1 decoding
  of stray bytes produces), and so are lone surrogates, which cannot be
  encoded as UTF-8 and would fail every later serialisation.
* Past :data:`MAX_TEXT` characters the text is cut, ending with
  :data:`TRUNCATION_MARKER` so the reader sees that something is missing;
  the result is never longer than the limit.

Cleaning is idempotent: cleaning a cleaned text changes nothing.
"""

from __future__ import annotations

import re

#: The longest text kept, in characters (marker included); longer text is truncated, never refused.
MAX_TEXT = 10_000
#: Ends a truncated text: visible to agents and customers alike.
TRUNCATION_MARKER = " […truncated]"

_LINE_BREAK = re.compile(r"\r\n?")
#: C0 controls but tab (\x09) and newline (\x0a), DEL and C1 (\x7f-\x9f), and UTF-16 surrogates.
_UNWANTED = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")


def clean_text(text: str, limit: int = MAX_TEXT) -> str:
    """``text`` as the core keeps it: line breaks normalised,
    control characters removed, at most ``limit`` characters."""
    text = _UNWANTED.sub("", _LINE_BREAK.sub("\n", text))
    if len(text) > limit:
        text = text[: limit - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER
    return text
