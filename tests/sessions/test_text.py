"""clean_text: what the core keeps of any text a person typed, whichever way it came in."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sessions.model import Message
from sessions.text import MAX_TEXT, TRUNCATION_MARKER, clean_text


class TestControlCharacters:
    def test_nul_and_other_control_characters_are_removed_newline_and_tab_kept(self):
        assert clean_text("a\x00b\x07c\nd\te\x1bf\x7fg\x85h\x9fi\x0bj\x0ck") == "abc\nd\tefghijk"

    def test_carriage_returns_become_newlines(self):
        assert clean_text("one\r\ntwo\rthree") == "one\ntwo\nthree"

    def test_lone_surrogates_are_removed(self):
        assert clean_text("a\ud800b\udfffc") == "abc"

    @pytest.mark.parametrize("text", ["", "plain", "Grüße, 你好 👩‍👩‍👧 \u200d\u202e", "line\n\tindented"])
    def test_ordinary_text_is_unchanged(self, text):
        assert clean_text(text) == text


class TestLength:
    def test_text_at_the_limit_is_kept_whole(self):
        assert clean_text("x" * MAX_TEXT) == "x" * MAX_TEXT

    def test_longer_text_keeps_its_beginning_and_ends_with_the_marker(self):
        text = "".join(str(i % 10) for i in range(12_000))
        kept = clean_text(text)
        assert len(kept) == MAX_TEXT
        assert kept.endswith(TRUNCATION_MARKER)
        assert kept == text[: MAX_TEXT - len(TRUNCATION_MARKER)] + TRUNCATION_MARKER

    def test_control_characters_do_not_count_toward_the_limit(self):
        assert clean_text("\x00" * 5 + "x" * MAX_TEXT) == "x" * MAX_TEXT

    def test_cleaning_twice_changes_nothing_more(self):
        once = clean_text("a\x00\r\n" + "y" * 20_000)
        assert clean_text(once) == once

    def test_the_marker_is_visible_text(self):
        assert TRUNCATION_MARKER.strip() and clean_text(TRUNCATION_MARKER) == TRUNCATION_MARKER

    def test_the_limit_is_what_a_stored_message_accepts(self):
        def message(body: str) -> Message:
            return Message(
                id="m",
                at=datetime(2026, 1, 1, tzinfo=UTC),
                direction="inbound",
                author="customer",
                body=body,
                channel="text",
            )

        assert message(clean_text("x" * 50_000)).body.endswith(TRUNCATION_MARKER)
        with pytest.raises(ValidationError):
            message("x" * (MAX_TEXT + 1))
