"""Who hears whom on a live call, and how voices add up: the mixer's rules, without any network."""

from __future__ import annotations

import numpy as np
import pytest

from channels.mixer import MAX_BACKLOG, TICK, Floor, Jitter, MonitorMode, Part, Party, hears, mix

CALLER, AGENT, CONSULT = Party(Part.CALLER), Party(Part.AGENT), Party(Part.CONSULT)


def sup(mode: MonitorMode) -> Party:
    return Party(Part.MONITOR, mode)


def audience(speaker: Party, floor: Floor, others: dict[str, Party]) -> set[str]:
    return {name for name, p in others.items() if p is not speaker and hears(p, speaker, floor)}


EVERYONE = {"caller": CALLER, "agent": AGENT, "consult": CONSULT, "listener": sup(MonitorMode.LISTEN)}


def test_caller_and_agent_hear_each_other_and_a_listening_supervisor_hears_both():
    floor = Floor()
    assert hears(CALLER, AGENT, floor) and hears(AGENT, CALLER, floor)
    assert hears(sup(MonitorMode.LISTEN), CALLER, floor) and hears(sup(MonitorMode.LISTEN), AGENT, floor)
    assert audience(sup(MonitorMode.LISTEN), floor, EVERYONE) == set(), "nobody hears a listening supervisor"


def test_hold_silences_the_caller_both_ways():
    floor = Floor(held=True)
    assert not hears(CALLER, AGENT, floor) and not hears(AGENT, CALLER, floor)
    assert not hears(sup(MonitorMode.BARGE), CALLER, floor) and not hears(CALLER, sup(MonitorMode.BARGE), floor)


def test_consult_holds_the_caller_while_agent_and_target_talk_then_three_way_joins_all():
    consulting = Floor(consulting=True)
    assert hears(AGENT, CONSULT, consulting) and hears(CONSULT, AGENT, consulting)
    assert audience(AGENT, consulting, EVERYONE) == {"consult", "listener"}
    assert audience(CALLER, consulting, EVERYONE) == set()
    three = Floor(consulting=True, three_way=True)
    assert audience(CALLER, three, EVERYONE) == {"agent", "consult", "listener"}
    assert audience(CONSULT, three, EVERYONE) == {"caller", "agent", "listener"}


def test_whisper_reaches_only_the_agent_and_barge_reaches_everyone():
    assert audience(sup(MonitorMode.WHISPER), Floor(), EVERYONE) == {"agent"}
    assert audience(sup(MonitorMode.BARGE), Floor(), EVERYONE) == {"caller", "agent", "consult", "listener"}


def test_a_muted_party_reaches_nobody():
    muted = Party(Part.AGENT, muted=True)
    assert audience(muted, Floor(), EVERYONE) == set()
    assert hears(muted, CALLER, Floor()), "mute is the microphone only: the agent still hears"


def tone(value: int) -> np.ndarray:
    return np.full(TICK, value, dtype=np.int16)


def test_mix_sums_what_each_party_hears_and_saturates_instead_of_wrapping():
    parties = {"caller": CALLER, "agent": AGENT, "sup": sup(MonitorMode.BARGE)}
    out = mix({"caller": tone(100), "agent": tone(30000), "sup": tone(5000)}, parties, Floor())
    assert (out["caller"] == 32767).all(), "30000 + 5000 clips at the int16 ceiling"
    assert (out["agent"] == 5100).all()
    assert (out["sup"] == 30100).all()


def test_mix_gives_none_to_a_party_that_hears_nobody_and_skips_a_silent_source():
    parties = {"caller": CALLER, "agent": AGENT}
    out = mix({"caller": tone(7), "agent": None}, parties, Floor())
    assert out["caller"] is None and (out["agent"] == 7).all()
    held = mix({"caller": tone(7), "agent": tone(9)}, parties, Floor(held=True))
    assert held == {"caller": None, "agent": None}


def test_jitter_cuts_any_framing_into_ticks_and_keeps_the_remainder():
    j = Jitter()
    j.push(np.arange(TICK + 100, dtype=np.int16))
    first = j.take()
    assert first is not None and len(first) == TICK and first[0] == 0
    assert j.take() is None, "a partial tick waits for more samples"
    j.push(np.arange(TICK - 100, dtype=np.int16))
    second = j.take()
    assert second is not None and second[0] == TICK and len(second) == TICK


@pytest.mark.parametrize("pushed", [MAX_BACKLOG + 1, 3 * MAX_BACKLOG])
def test_jitter_drops_the_oldest_audio_when_a_source_runs_ahead(pushed: int):
    j = Jitter()
    for i in range(pushed):
        j.push(np.full(TICK, i, dtype=np.int16))
    kept = []
    while (t := j.take()) is not None:
        kept.append(int(t[0]))
    assert kept == list(range(pushed - MAX_BACKLOG, pushed)), "bounded delay: only the newest ticks stay"


def test_jitter_drains_a_standing_backlog_but_absorbs_a_burst():
    from channels.mixer import STANDING, TARGET_BACKLOG

    j = Jitter()
    for i in range(TARGET_BACKLOG + 2):  # a burst: more ticks than the target at once
        j.push(np.full(TICK, i, dtype=np.int16))
    taken = []
    for i in range(TARGET_BACKLOG + 2, TARGET_BACKLOG + 2 + STANDING):  # then one in, one out: the backlog stands
        taken.append(int(j.take()[0]))
        j.push(np.full(TICK, i, dtype=np.int16))
    assert taken[: STANDING - 1] == list(range(STANDING - 1)), "nothing is dropped while the backlog is young"
    assert taken[-1] == STANDING, "a backlog standing for STANDING ticks loses one tick"
    assert len(j.ticks) == TARGET_BACKLOG + 1
