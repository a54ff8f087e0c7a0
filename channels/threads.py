"""Which interaction a provider's identifiers belong to.

A call SID, a message SID, a recording SID, and the conversation thread
(customer number + our number) each point at one interaction.  The thread is
what keeps a phone call that continues by SMS one interaction: whatever
channel the customer uses next from that number to that number lands in the
interaction the thread points at, while it is active.
"""

from __future__ import annotations

from sessions.stores import Store

CALLS, MESSAGES, RECORDINGS, THREADS = "twilio:calls", "twilio:messages", "twilio:recordings", "twilio:threads"
#: Interaction id -> its current call SID (to redirect a live call).
CALL_OF = "twilio:call_of"
#: Call SID of an outside number dialled for a warm transfer's consult -> the interaction.
CONSULT_CALLS = "twilio:consult_calls"


def thread_key(customer_number: str, our_number: str) -> str:
    return f"{customer_number}|{our_number}"


class Threads:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def lookup(self, kind: str, key: str) -> str | None:
        return await self.store.map_get(kind, key)

    async def link(self, kind: str, key: str, interaction_id: str) -> None:
        await self.store.map_set(kind, key, interaction_id)
