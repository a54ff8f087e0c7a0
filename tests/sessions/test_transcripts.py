"""Live-call transcripts: final utterances kept on the interaction in spoken order, once, whatever its state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from sessions.errors import IllegalTransition
from sessions.model import CommType, Direction, Interaction, Outcome, Speaker, Subtype, TranscriptSegment
from sessions.transcripts import add_segment, ordered
from tests.conftest import World
from tests.sessions.scenarios import claimed_by, completed

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def seg(
    sequence: int, text: str = "", *, session: str = "GT1", speaker: Speaker = Speaker.CUSTOMER, at: float | None = None
) -> TranscriptSegment:
    return TranscriptSegment(
        id=f"{session}:{sequence}",
        transcription_id=session,
        sequence=sequence,
        speaker=speaker,
        text=text or f"utterance {sequence}",
        at=T0 + timedelta(seconds=sequence if at is None else at),
    )


class TestRules:
    def test_a_segment_is_kept_with_an_event_that_names_it(self):
        ix = claimed_by()
        change = add_segment(ix, segment=seg(3, "My order is late", speaker=Speaker.CUSTOMER), now=T0)
        assert change.type == "interaction.transcript_segment_added"
        assert change.data == {"segment_id": "GT1:3", "sequence": 3, "speaker": "customer", "late": False}
        assert [s.text for s in change.interaction.live_transcript] == ["My order is late"]
        assert change.interaction.version == ix.version + 1
        assert ix.live_transcript == [], "the current interaction is never mutated"
        assert change.interaction.activity == ix.activity, "utterances are not written into the activity feed"

    def test_out_of_order_arrivals_are_kept_in_sequence_order(self):
        ix = claimed_by()
        for n in (5, 2, 9, 3):
            ix = add_segment(ix, segment=seg(n), now=T0).interaction
        assert [s.sequence for s in ix.live_transcript] == [2, 3, 5, 9]

    def test_sequence_wins_over_reported_times(self):
        """Within one session the provider's numbering is the order, even if its timestamps disagree."""
        ix = add_segment(claimed_by(), segment=seg(2, at=0), now=T0).interaction
        ix = add_segment(ix, segment=seg(1, at=30), now=T0).interaction
        assert [s.sequence for s in ix.live_transcript] == [1, 2]

    def test_sessions_read_in_the_order_they_began(self):
        """A restarted transcription numbers from the start again: its utterances follow the first session's."""
        items = [
            seg(1, session="GT2", at=100),
            seg(2, session="GT1", at=2),
            seg(1, session="GT1", at=1),
            seg(2, session="GT2", at=101),
        ]
        assert [s.id for s in ordered(items)] == ["GT1:1", "GT1:2", "GT2:1", "GT2:2"]

    def test_a_redelivered_segment_is_refused(self):
        ix = add_segment(claimed_by(), segment=seg(1), now=T0).interaction
        with pytest.raises(IllegalTransition):
            add_segment(ix, segment=seg(1), now=T0)

    def test_a_late_segment_after_completion_is_still_kept_in_place(self):
        ix = completed()
        ix = add_segment(ix, segment=seg(4), now=T0).interaction
        change = add_segment(ix, segment=seg(2), now=T0)
        assert change.data["late"] is True
        assert [s.sequence for s in change.interaction.live_transcript] == [2, 4]
        assert (change.interaction.state, change.interaction.completed_by) == (ix.state, ix.completed_by), (
            "completion is untouched"
        )


async def alices_call(world: World) -> Interaction:
    """An inbound call to sales, claimed by Alice."""
    ix = (
        await world.sessions.create(
            None, queue_id="sales", direction=Direction.INBOUND, type=CommType.CALL, subtype=Subtype.PHONE
        )
    ).interaction
    await world.sessions.claim(world.alice, ix.id)
    return ix


class TestService:
    """Through Sessions and the store of record (SQLite and PostgreSQL)."""

    async def test_segments_are_stored_cleaned_and_ordered_and_each_is_an_event(self, world: World):
        s = world.sessions
        ix = await alices_call(world)
        events = [
            await s.add_transcript_segment(ix.id, seg(n, text, speaker=who))
            for n, text, who in (
                (2, "Sure, one moment.", Speaker.AGENT),
                (1, "Hi,\x00 my order\x07 is late", Speaker.CUSTOMER),
            )
        ]
        assert [e.type for e in events] == ["interaction.transcript_segment_added"] * 2
        assert events[-1].users == [world.alice.id] and events[-1].queues == ["sales"], (
            "addressed like any change: the handler and the queue"
        )
        stored = await s.store.get_interaction(ix.id)
        assert [(t.speaker, t.text) for t in stored.live_transcript] == [
            (Speaker.CUSTOMER, "Hi, my order is late"),
            (Speaker.AGENT, "Sure, one moment."),
        ]
        with pytest.raises(IllegalTransition):
            await s.add_transcript_segment(ix.id, seg(1, "Hi, my order is late"))
        assert len((await s.store.get_interaction(ix.id)).live_transcript) == 2

    async def test_a_segment_arriving_after_completion_stays_on_the_completed_interaction(self, world: World):
        s = world.sessions
        ix = await alices_call(world)
        await s.add_transcript_segment(ix.id, seg(3, "Thanks, bye"))
        await s.end(world.alice, ix.id, Outcome.RESOLVED)
        await s.complete(world.alice, ix.id)
        await s.add_transcript_segment(ix.id, seg(1, "Hello"))
        done = await s.store.get_interaction(ix.id)
        assert [t.text for t in done.live_transcript] == ["Hello", "Thanks, bye"]
        assert done.completed_by == world.alice.id
