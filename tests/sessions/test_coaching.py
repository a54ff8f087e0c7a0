"""Coaching: forms, scoring, who evaluates, and evaluations kept beside (never inside) what happened."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from sessions import coaching
from sessions.coaching import FormDraft, Question, Scale
from sessions.errors import IllegalTransition, InvalidCommand, NotFound, PermissionDenied
from sessions.model import CommType, Customer, Direction, Interaction, Outcome, Role, Subtype, User
from sessions.stores.live import LiveStore
from tests.conftest import REDIS_URL, World, seed
from tests.seen import events_seen_by
from tests.sessions.test_store_contract import inbound

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
#: Greeting (weight 1, yes/no), accuracy (weight 3, 0..4), tone (weight 1, 0..5).
DRAFT = FormDraft(
    questions=[
        Question(id="greeting", text="Greeted the customer by name?", weight=1, scale=Scale.YES_NO),
        Question(id="accuracy", text="Accurate answer", weight=3, max=4),
        Question(id="tone", text="Tone", weight=1, max=5),
    ]
)
ANSWERS = {"greeting": True, "accuracy": 3, "tone": 5}
#: By hand: (1*1 + 3*(3/4) + 1*(5/5)) / (1+3+1) = 4.25/5 = 85 %.
SCORE = 85.0

COMPLETION_FIELDS = (
    "state",
    "status",
    "outcome",
    "completed_at",
    "completed_by",
    "auto_completed",
    "assigned_to",
    "wrap_up_at",
    "claimed_at",
)


def completion(ix: Interaction) -> dict:
    return {f: getattr(ix, f) for f in COMPLETION_FIELDS}


async def handled(world: World, agent=None, queue: str = "sales") -> Interaction:
    """An interaction the agent claimed, ended resolved and completed."""
    s, agent = world.sessions, agent or world.alice
    ix = await inbound(world, queue)
    await s.claim(agent, ix.id)
    await s.end(agent, ix.id, Outcome.RESOLVED)
    done = (await s.complete(agent, ix.id)).interaction
    world.clock.advance(60)  # so what follows is ordered in time
    return done


class TestForm:
    def test_weights_must_be_positive_and_ids_unique(self):
        with pytest.raises(ValidationError, match="greater than 0"):
            Question(id="q", text="Q", weight=0)
        with pytest.raises(ValidationError, match="unique"):
            FormDraft(questions=[Question(id="q", text="A", weight=1), Question(id="q", text="B", weight=2)])
        with pytest.raises(ValidationError):
            FormDraft(questions=[])

    def test_each_save_is_a_new_version(self):
        sup = User(id="s", username="s", name="Sam", role=Role.SUPERVISOR, queues=["sales"])
        v1 = coaching.new_form(sup, "sales", DRAFT, None, NOW)
        v2 = coaching.new_form(sup, "sales", DRAFT, v1, NOW)
        assert (v1.version, v2.version, v2.created_by) == (1, 2, "s")

    def test_members_and_admins_pass_membership_and_the_evaluate_right_decides_the_rest(self):
        coaching.require_evaluator(
            User(id="s", username="s", name="Sam", role=Role.SUPERVISOR, queues=["sales"]), "sales"
        )
        coaching.require_evaluator(User(id="ad", username="ad", name="Ada", role=Role.ADMIN), "sales")
        coaching.require_evaluator(
            User(id="a", username="a", name="Al", queues=["sales"]), "sales"
        )  # refused by the right, not here
        with pytest.raises(PermissionDenied, match="not a member of queue sales"):
            coaching.require_evaluator(
                User(id="s", username="s", name="Sam", role=Role.SUPERVISOR, queues=["billing"]), "sales"
            )

    async def test_agents_cannot_set_a_form(self, world: World):
        with pytest.raises(PermissionDenied, match="needs the right evaluate, which role agent does not have"):
            await world.sessions.set_evaluation_form(world.alice, "sales", DRAFT)
        with pytest.raises(NotFound):
            await world.sessions.evaluation_form(world.alice, "sales")

    async def test_two_saves_at_once_both_become_versions(self, world: World):
        """Both read version 1 and decide on version 2: the second to write gets version 3, neither replaces the
        other."""
        s = world.sessions
        await s.set_evaluation_form(world.supervisor, "sales", DRAFT)
        barrier, read = asyncio.Barrier(2), s.store.get_evaluation_form
        calls = 0

        async def gated(queue_id: str, version: int | None = None):
            nonlocal calls
            form = await read(queue_id, version)
            calls += 1
            if calls <= 2:
                await asyncio.wait_for(barrier.wait(), 30)
            return form

        s.store.get_evaluation_form = gated
        one, two = (
            FormDraft(questions=[Question(id="one", text="One", weight=1)]),
            FormDraft(questions=[Question(id="two", text="Two", weight=1)]),
        )
        saved = await asyncio.gather(
            s.set_evaluation_form(world.supervisor, "sales", one), s.set_evaluation_form(world.admin, "sales", two)
        )
        s.store.get_evaluation_form = read
        assert sorted(f.version for f in saved) == [2, 3]
        stored = {v: (await s.evaluation_form(world.supervisor, "sales", v)).questions[0].id for v in (2, 3)}
        assert sorted(stored.values()) == ["one", "two"], "both saves kept, each under its own version"
        assert {f.version: f.questions[0].id for f in saved} == stored


class TestScore:
    def test_weighted_score_by_hand(self):
        assert coaching.score(DRAFT.questions, ANSWERS) == SCORE
        assert coaching.score(DRAFT.questions, {"greeting": False, "accuracy": 0, "tone": 0}) == 0
        assert coaching.score(DRAFT.questions, {"greeting": True, "accuracy": 4, "tone": 5}) == 100
        # (0 + 3*(1/4) + 1*(2/5)) / 5 = 1.15/5 = 23 %
        assert coaching.score(DRAFT.questions, {"greeting": False, "accuracy": 1, "tone": 2}) == 23.0

    @pytest.mark.parametrize(
        ("answers", "why"),
        [
            ({"greeting": True, "accuracy": 3}, "missing: tone"),
            ({**ANSWERS, "extra": 1}, "No such question on this form: extra"),
            ({**ANSWERS, "accuracy": 5}, "from 0 to 4"),
            ({**ANSWERS, "accuracy": -1}, "from 0 to 4"),
            ({**ANSWERS, "accuracy": 2.5}, "from 0 to 4"),
            ({**ANSWERS, "accuracy": True}, "from 0 to 4"),
            ({**ANSWERS, "greeting": 1}, "yes or no"),
            ({**ANSWERS, "tone": "5"}, "from 0 to 5"),
        ],
    )
    def test_answers_off_the_form_are_refused(self, answers, why):
        with pytest.raises(InvalidCommand, match=why):
            coaching.validate_answers(DRAFT.questions, answers)


class TestEvaluating:
    async def test_supervisor_scores_a_completed_interaction_without_touching_what_happened(self, world: World):
        s = world.sessions
        await s.set_evaluation_form(world.supervisor, "sales", DRAFT)
        ix = await handled(world)
        event, ev = await s.evaluate(world.supervisor, ix.id, ANSWERS, "Good close; slow on the refund policy.")
        after = await s.store.get_interaction(ix.id)
        assert completion(after) == completion(ix)
        assert after.version == ix.version + 1 and after.activity[:-1] == ix.activity
        entry = after.activity[-1]
        assert (entry.kind, entry.by, entry.data["evaluation_id"]) == ("evaluated", world.supervisor.id, ev.id)
        assert "85" not in entry.detail  # the feed, which every member reads, does not carry the score
        assert (ev.agent, ev.evaluator, ev.score, ev.form_version) == (world.alice.id, world.supervisor.id, SCORE, 1)
        assert ev.notes == "Good close; slow on the refund policy."
        assert event.type == "interaction.evaluated" and event.data["score"] == SCORE
        assert (
            event.users == [world.alice.id, world.supervisor.id]
            and event.roles == ["supervisor", "admin"]
            and event.queues == ["sales"]
        )
        assert await s.store.get_evaluation(ev.id) == ev

    async def test_the_event_reaches_the_agent_and_supervisors_but_not_peers(self, world: World):
        s = world.sessions
        await s.set_evaluation_form(world.supervisor, "sales", DRAFT)
        ix = await handled(world)
        cursor = await s.store.last_cursor()
        await s.evaluate(world.supervisor, ix.id, ANSWERS)

        async def types(user):
            return [e.type for e in (await events_seen_by(s, user, cursor)).events]

        assert await types(world.alice) == ["interaction.evaluated"]
        assert await types(world.supervisor) == ["interaction.evaluated"]
        assert await types(world.bob) == []  # a peer in the same queue

    async def test_agents_cannot_evaluate_and_outsiders_learn_nothing(self, world: World):
        s = world.sessions
        await s.set_evaluation_form(world.supervisor, "sales", DRAFT)
        ix = await handled(world)
        with pytest.raises(
            PermissionDenied, match="Evaluating interactions needs the right evaluate, which role agent does not have"
        ):
            await s.evaluate(world.bob, ix.id, ANSWERS)
        with pytest.raises(PermissionDenied, match="not a member of queue sales"):
            await s.evaluate(world.carol, ix.id, ANSWERS)
        assert await s.store.get_interaction(ix.id) == ix
        assert await s.store.list_evaluations() == []

    async def test_only_completed_interactions_with_a_handler(self, world: World):
        s = world.sessions
        await s.set_evaluation_form(world.supervisor, "sales", DRAFT)
        active = await inbound(world)
        with pytest.raises(IllegalTransition, match="only completed interactions are evaluated"):
            await s.evaluate(world.supervisor, active.id, ANSWERS)
        abandoned = (await s.call_ended(active.id, "completed")).interaction
        with pytest.raises(IllegalTransition, match="no one to evaluate"):
            await s.evaluate(world.supervisor, abandoned.id, ANSWERS)

    async def test_no_form_no_evaluation_and_nobody_evaluates_themself(self, world: World):
        s = world.sessions
        ix = await handled(world)
        with pytest.raises(IllegalTransition, match="no evaluation form yet"):
            await s.evaluate(world.supervisor, ix.id, ANSWERS)
        await s.set_evaluation_form(world.admin, "sales", DRAFT)
        own = await handled(world, world.supervisor)
        with pytest.raises(PermissionDenied, match="nobody evaluates their own work"):
            await s.evaluate(world.supervisor, own.id, ANSWERS)
        _, ev = await s.evaluate(world.admin, own.id, ANSWERS)
        assert ev.agent == world.supervisor.id

    async def test_a_later_form_edit_leaves_old_scores_and_revisions_on_their_version(self, world: World):
        s = world.sessions
        await s.set_evaluation_form(world.supervisor, "sales", DRAFT)
        ix = await handled(world)
        _, ev = await s.evaluate(world.supervisor, ix.id, ANSWERS)
        v2 = await s.set_evaluation_form(
            world.supervisor,
            "sales",
            FormDraft(questions=[Question(id="empathy", text="Empathy", weight=2, scale=Scale.YES_NO)]),
        )
        assert v2.version == 2 and (await s.evaluation_form(world.alice, "sales")).version == 2
        assert (await s.evaluation_form(world.alice, "sales", 1)).questions == DRAFT.questions
        assert await s.store.get_evaluation(ev.id) == ev
        # Revised later: scored on version 1's questions still. (1 + 3*(4/4) + 0) / 5 = 80 %.
        event, revised = await s.revise_evaluation(
            world.supervisor, ev.id, {"greeting": True, "accuracy": 4, "tone": 0}, "Better."
        )
        assert (revised.form_version, revised.score, revised.notes, revised.created_at) == (
            1,
            80.0,
            "Better.",
            ev.created_at,
        )
        assert event.type == "interaction.reevaluated" and event.data["fields"] == ["answers", "notes"]
        after = await s.store.get_interaction(ix.id)
        assert completion(after) == completion(ix) and after.activity[-1].kind == "reevaluated"
        with pytest.raises(InvalidCommand, match="changes nothing"):
            await s.revise_evaluation(world.supervisor, ev.id, None, "Better.")

    async def test_reading_is_scoped(self, world: World):
        s = world.sessions
        await s.set_evaluation_form(world.supervisor, "sales", DRAFT)
        await s.set_evaluation_form(world.supervisor, "billing", DRAFT)
        _, of_alice = await s.evaluate(world.supervisor, (await handled(world)).id, ANSWERS)
        _, of_bob = await s.evaluate(world.supervisor, (await handled(world, world.bob, "billing")).id, ANSWERS)
        assert [e.id for e in await s.evaluations(world.alice)] == [of_alice.id]
        assert [e.id for e in await s.evaluations(world.bob)] == [of_bob.id]
        assert (
            await s.evaluations_of(world.bob, of_alice.interaction_id) == []
        )  # a peer sees the interaction, not the evaluation
        assert [e.id for e in await s.evaluations(world.supervisor)] == [of_bob.id, of_alice.id]
        assert [e.id for e in await s.evaluations(world.supervisor, queue="sales")] == [of_alice.id]
        with pytest.raises(PermissionDenied, match="only their own"):
            await s.evaluations(world.alice, agent=world.bob.id)
        with pytest.raises(PermissionDenied, match="roll-ups"):
            await s.evaluation_summary(world.alice)
        with pytest.raises(NotFound):
            await s.revise_evaluation(world.bob, of_alice.id, None, "mine now")

    async def test_an_agent_granted_evaluate_reads_and_revises_what_they_wrote(self, world: World):
        s = world.sessions
        await s.change_permissions(world.admin, {"agent": {"evaluate": True}})
        await s.set_evaluation_form(world.bob, "sales", DRAFT)
        await s.set_evaluation_form(world.supervisor, "billing", DRAFT)
        _, ev = await s.evaluate(world.bob, (await handled(world)).id, ANSWERS)
        _, by_sam = await s.evaluate(
            world.supervisor, (await handled(world, world.carol, "billing")).id, ANSWERS
        )  # bob is in billing too
        assert [e.id for e in await s.evaluations_of(world.bob, ev.interaction_id)] == [ev.id]
        _, revised = await s.revise_evaluation(world.bob, ev.id, None, "typo fixed")
        assert (revised.notes, revised.updated_by) == ("typo fixed", world.bob.id)
        assert [e.id for e in await s.evaluations(world.bob)] == [by_sam.id, ev.id], (
            "with the right, his queues' evaluations"
        )
        assert [e.id for e in await s.evaluations(world.bob, queue="billing")] == [by_sam.id]
        assert [(a.agent, a.count) for a in (await s.evaluation_summary(world.bob)).agents] == [
            (world.alice.id, 1),
            (world.carol.id, 1),
        ]
        assert [e.id for e in await s.evaluations_of(world.alice, ev.interaction_id)] == [ev.id], (
            "and the agent evaluated reads it"
        )

        await s.change_permissions(
            world.admin, {"agent": {"evaluate": None}}
        )  # back to the default: agents do not evaluate
        assert [e.id for e in await s.evaluations(world.bob)] == [ev.id], "what he wrote, still; the queue's, no more"
        assert [e.id for e in await s.evaluations_of(world.bob, ev.interaction_id)] == [ev.id]
        assert await s.evaluations_of(world.bob, by_sam.interaction_id) == []
        with pytest.raises(PermissionDenied, match="needs the right evaluate"):
            await s.revise_evaluation(world.bob, ev.id, None, "again")
        with pytest.raises(PermissionDenied, match="roll-ups"):
            await s.evaluation_summary(world.bob)

    async def test_reading_a_queues_evaluations_follows_the_right_not_the_role(self, world: World):
        s = world.sessions
        await s.set_evaluation_form(world.supervisor, "sales", DRAFT)
        _, ev = await s.evaluate(world.admin, (await handled(world)).id, ANSWERS)
        await s.change_permissions(world.admin, {"supervisor": {"evaluate": False}})
        assert await s.evaluations(world.supervisor) == []
        assert await s.evaluations_of(world.supervisor, ev.interaction_id) == []
        with pytest.raises(PermissionDenied, match="roll-ups"):
            await s.evaluation_summary(world.supervisor)

    async def test_a_merged_away_interaction_is_not_scored_as_the_mergers_work(self, world: World):
        """Merging completes the other interaction as the merger's: its conversation is the survivor's to evaluate."""
        s = world.sessions
        await s.set_evaluation_form(world.admin, "sales", DRAFT)
        pat = Customer(name="Pat", phone="+14155550100")
        survivor, other = [
            (
                await s.create(
                    None,
                    queue_id="sales",
                    direction=Direction.INBOUND,
                    type=CommType.MESSAGING,
                    subtype=Subtype.TEXT,
                    customer=pat,
                )
            ).interaction.id
            for _ in range(2)
        ]
        await s.claim(world.alice, survivor)
        await s.claim(world.bob, other)
        await s.merge(world.supervisor, survivor, other)
        gone = await s.store.get_interaction(other)
        assert gone.completed_by == world.supervisor.id
        with pytest.raises(IllegalTransition, match=f"merged into interaction {survivor}: evaluate that one"):
            await s.evaluate(world.admin, other, ANSWERS)
        assert await s.store.get_interaction(other) == gone
        await s.end(world.alice, survivor, Outcome.RESOLVED)
        await s.complete(world.alice, survivor)
        _, ev = await s.evaluate(world.admin, survivor, ANSWERS)
        assert ev.agent == world.alice.id
        assert [(a.agent, a.count) for a in (await s.evaluation_summary(world.admin)).agents] == [
            (world.alice.id, 1)
        ], "never the merger"


class TestRollups:
    async def test_averages_and_counts_per_agent_and_queue(self, world: World):
        s = world.sessions
        await s.set_evaluation_form(world.supervisor, "sales", DRAFT)
        await s.set_evaluation_form(world.supervisor, "billing", DRAFT)
        # alice in sales: 85 and 23; bob in sales: 100; bob in billing: 0.
        for agent, queue, answers in [
            (world.alice, "sales", ANSWERS),
            (world.alice, "sales", {"greeting": False, "accuracy": 1, "tone": 2}),
            (world.bob, "sales", {"greeting": True, "accuracy": 4, "tone": 5}),
            (world.bob, "billing", {"greeting": False, "accuracy": 0, "tone": 0}),
        ]:
            await s.evaluate(world.supervisor, (await handled(world, agent, queue)).id, answers)
        summary = await s.evaluation_summary(world.supervisor)
        assert [(a.agent, a.count, a.average) for a in summary.agents] == [
            (world.alice.id, 2, 54.0),
            (world.bob.id, 2, 50.0),
        ]
        assert [(q.queue_id, q.count, q.average) for q in summary.queues] == [("billing", 1, 0.0), ("sales", 3, 69.33)]
        only_sales = await s.evaluation_summary(world.admin, "sales")
        assert [(a.agent, a.count, a.average) for a in only_sales.agents] == [
            (world.alice.id, 2, 54.0),
            (world.bob.id, 1, 100.0),
        ]
        assert [(q.queue_id, q.count) for q in only_sales.queues] == [("sales", 3)]


class TestLiveLayer:
    async def test_an_evaluation_through_the_live_layer_wakes_the_relay(self, store):
        """With Redis, an evaluation is a change like any other: committed in SQL, and the relay told at once (not at
        its next poll)."""
        live = LiveStore(store, REDIS_URL, prefix=f"test:{uuid.uuid4().hex}")
        try:
            world = await seed(live)
            await world.sessions.set_evaluation_form(world.supervisor, "sales", DRAFT)
            ix = await handled(world)
            wake = live.key("relay", "wake")
            await live.redis.delete(wake)
            event, ev = await world.sessions.evaluate(world.supervisor, ix.id, ANSWERS)
            assert await live.redis.llen(wake) == 1
            assert (await store.events_since(str(int(event.id) - 1))).events[0].type == "interaction.evaluated"
            assert await store.get_evaluation(ev.id) == ev
        finally:
            keys = [k async for k in live.redis.scan_iter(match=live.key("*"))]
            if keys:
                await live.redis.delete(*keys)
            await live.redis.aclose()
