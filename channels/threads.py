"""Which interaction a provider's identifiers belong to: the one port for them, named for what each maps.

A call SID, a message SID, a recording SID, a chat session token, and the conversation thread (customer
number + our number) each point at one interaction.  The thread is what keeps a phone call that continues
by SMS one interaction: whatever channel the customer uses next from that number to that number lands in
the interaction the thread points at, while it is active.

The maps are durable (the store's maps, in SQL), keyed by names private to this module.
"""

from __future__ import annotations

from sessions.stores import Store

_CALLS, _MESSAGES, _RECORDINGS, _THREADS = "twilio:calls", "twilio:messages", "twilio:recordings", "twilio:threads"
#: Interaction id -> its current call SID (to redirect a live call).
_CALL_OF = "twilio:call_of"
#: Call SID of an outside number dialled for a warm transfer's consult -> the interaction.
_CONSULT_CALLS = "twilio:consult_calls"
#: Recording SID -> interaction, while its audio is not downloaded yet.
_PENDING_RECORDINGS = "twilio:pending_recordings"
#: SHA-256 digest of a chat session token -> interaction (the token itself is never stored).
_CHAT_TOKENS = "chat:tokens"


def _thread_key(customer_number: str, our_number: str) -> str:
    return f"{customer_number}|{our_number}"


class Threads:
    """Provider ids <-> interactions.  Each ``link_*`` replaces what the id pointed at before."""

    def __init__(self, store: Store) -> None:
        self._store = store

    async def _get(self, name: str, key: str) -> str | None:
        return await self._store.map_get(name, key) if key else None

    # -- calls -------------------------------------------------------------------------

    async def interaction_of_call(self, call_sid: str) -> str | None:
        """The interaction a call (the customer's, or one dialled for a consult) belongs to."""
        return await self._get(_CALLS, call_sid)

    async def link_call(self, call_sid: str, interaction_id: str) -> None:
        """The customer's call of this interaction, from now on its current call (the one a redirect moves)."""
        await self._store.map_set(_CALLS, call_sid, interaction_id)
        await self._store.map_set(_CALL_OF, interaction_id, call_sid)

    async def current_call(self, interaction_id: str) -> str | None:
        """The SID of the interaction's current call with the customer; None for no Twilio call."""
        return await self._get(_CALL_OF, interaction_id)

    async def interaction_of_consult_call(self, call_sid: str) -> str | None:
        return await self._get(_CONSULT_CALLS, call_sid)

    async def link_consult_call(self, call_sid: str, interaction_id: str) -> None:
        """An outside number dialled for a consult: its progress is the consult's, and its media stream is recognised
        as the interaction's (``interaction_of_call``); it never becomes the current call."""
        await self._store.map_set(_CONSULT_CALLS, call_sid, interaction_id)
        await self._store.map_set(_CALLS, call_sid, interaction_id)

    # -- texts and threads -------------------------------------------------------------------

    async def interaction_of_message(self, message_sid: str) -> str | None:
        return await self._get(_MESSAGES, message_sid)

    async def link_message(self, message_sid: str, interaction_id: str) -> None:
        await self._store.map_set(_MESSAGES, message_sid, interaction_id)

    async def thread(self, customer_number: str, our_number: str) -> str | None:
        """The interaction the customer's next contact from ``customer_number`` to ``our_number`` joins, if active."""
        return await self._get(_THREADS, _thread_key(customer_number, our_number))

    async def link_thread(self, customer_number: str, our_number: str, interaction_id: str) -> None:
        await self._store.map_set(_THREADS, _thread_key(customer_number, our_number), interaction_id)

    # -- recordings -------------------------------------------------------------------------

    async def interaction_of_recording(self, recording_sid: str) -> str | None:
        return await self._get(_RECORDINGS, recording_sid)

    async def link_recording(self, recording_sid: str, interaction_id: str) -> None:
        """The recording belongs to the interaction, and its audio is pending until ``recording_stored``."""
        await self._store.map_set(_RECORDINGS, recording_sid, interaction_id)
        await self._store.map_set(_PENDING_RECORDINGS, recording_sid, interaction_id)

    async def recording_stored(self, recording_sid: str) -> None:
        """The recording's audio is kept: no longer pending."""
        await self._store.map_delete(_PENDING_RECORDINGS, recording_sid)

    async def pending_recordings(self) -> dict[str, str]:
        """Recording SID -> interaction, for every recording whose audio is not downloaded yet."""
        return await self._store.map_all(_PENDING_RECORDINGS)

    # -- chat ---------------------------------------------------------------------------------

    async def interaction_of_chat(self, token_digest: str) -> str | None:
        """The interaction a chat session belongs to, by its token's digest."""
        return await self._get(_CHAT_TOKENS, token_digest)

    async def link_chat(self, token_digest: str, interaction_id: str) -> None:
        await self._store.map_set(_CHAT_TOKENS, token_digest, interaction_id)
