"""Access events: which sockets a sign-out ends, and what scope a user change leaves them."""

from __future__ import annotations

from datetime import UTC, datetime

from sessions import access
from sessions.access import Scope
from sessions.model import Role, User

AT = datetime(2026, 11, 25, tzinfo=UTC)
ALICE = User(id="alice", username="alice", name="Alice", queues=["sales"])
SOCKET = Scope.of(ALICE, "digest-1")


def test_a_revocation_ends_the_sockets_of_the_tokens_it_names_only():
    assert access.revokes(access.tokens_revoked("alice", ["digest-1", "digest-9"], AT), SOCKET)
    assert not access.revokes(access.tokens_revoked("alice", ["digest-2"], AT), SOCKET)
    assert not access.revokes(access.tokens_revoked("bob", ["digest-1"], AT), SOCKET), "a digest is only its user's"


def test_disabling_ends_every_socket_of_the_user():
    disabled = access.user_changed(ALICE.model_copy(update={"disabled": True}), AT)
    assert access.revokes(disabled, SOCKET) and access.revokes(disabled, Scope.of(ALICE, "digest-2"))


def test_a_user_change_rescopes_to_the_new_queues_and_role():
    moved = access.user_changed(ALICE.model_copy(update={"queues": ["billing"]}), AT)
    assert access.rescoped(moved, SOCKET) == Scope("alice", "digest-1", "agent", frozenset({"billing"}))
    promoted = access.user_changed(ALICE.model_copy(update={"role": Role.ADMIN}), AT)
    assert access.rescoped(promoted, SOCKET).queues is None, "admins see every queue"
    assert access.rescoped(access.user_changed(User(id="bob", username="bob", name="Bob"), AT), SOCKET) is None


def test_access_events_reach_no_subscriber_and_carry_no_token():
    for event in (access.user_changed(ALICE, AT), access.tokens_revoked("alice", ["digest-1"], AT)):
        assert not event.concerns({"sales"}, {"alice"}, "agent") and not event.concerns(None, {"alice"}, "admin")
        assert event.type in access.TYPES and event.interaction is None
