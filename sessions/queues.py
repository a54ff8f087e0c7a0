"""What a queue is: its settings (ringing, SLA, wrap-up, voicemail) and the tags it routes by.

Apart from :mod:`sessions.model` because an interaction never holds a queue, only its id.
"""

from __future__ import annotations

from pydantic import Field

from .model import Model, Tag, TagWeights


class QueueSettings(Model):
    """Per-queue behaviour; every duration is in seconds."""

    ring_time: int = Field(20, ge=1, le=600)
    sla_threshold: int = Field(20, ge=1, le=86400)
    #: Abandons within this many seconds leave the SLA denominator (Twilio Flex convention); 0 = off.
    sla_short_abandon: int = Field(0, ge=0, le=3600)
    #: Abandons within the threshold count as met (Amazon Connect convention).
    sla_abandons_within_threshold_met: bool = False
    wrap_up_limit: int = Field(120, ge=0, le=86400)
    auto_complete: bool = True
    recording: bool = False
    transcription: bool = False
    voicemail: bool = False
    #: Seconds an unanswered call waits before it goes to voicemail (when voicemail is on).
    voicemail_after: int = Field(60, ge=5, le=3600)
    voicemail_greeting: str = Field(
        "Sorry, nobody can take your call right now. Please leave a message after the tone.", max_length=500
    )
    #: The provider number customers call or text to reach this queue (E.164); the caller ID of its outbound contacts.
    phone_number: str | None = Field(None, pattern=r"^\+[1-9]\d{6,14}$")
    small_tabs: list[str] = Field(default_factory=lambda: ["customer"])
    large_tabs: list[str] = Field(default_factory=lambda: ["conversation", "activity", "notes", "coaching"])
    #: When the customer hangs up a claimed call or leaves a claimed chat, it goes to wrap-up at once
    #: (Flex, Connect); False keeps it claimed with the agent, who then ends it.
    wrap_up_on_disconnect: bool = True


class Queue(Model):
    id: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=200)
    settings: QueueSettings = Field(default_factory=QueueSettings)
    tags: TagWeights = Field(default_factory=dict)
    #: The queue takes only interactions carrying every one of these.
    required_tags: list[Tag] = Field(default_factory=list, max_length=20)
