"""PackML machine states to ``machine.state_changed`` events, debounced as DOMAIN.md (c) asks:
a stop opens a case only once it has lasted longer than ``min_stop``, flapping is merged into
one stop, and shorter stops are counted as micro-stops without an event.

Pure: observations carry their own times (the controller's clock); the adapter calls
:func:`due` with its own clock now and then, so a stop is reported even when no message follows.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from andon.core.json import JsonObject
from andon.intake import InboundEvent, sparkplug

EVENT_TYPE = "machine.state_changed"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATES = (
    "Undefined", "Clearing", "Stopped", "Starting", "Idle", "Suspended", "Execute", "Stopping",
    "Aborting", "Aborted", "Holding", "Held", "Unholding", "Suspending", "Unsuspending",
    "Resetting", "Completing", "Complete",
)  # fmt: skip
EXECUTE = 6
STOPS = frozenset({2, 5, 7, 8, 9, 10, 11, 13})
"""Stopped, Suspended, Stopping, Aborting, Aborted, Holding, Held, Suspending: not producing
and not on the way back (Idle and Complete are no order, not a stop)."""

STATE = "Status/StateCurrent"
MODE = "Status/UnitModeCurrent"
STOP_REASON = "Admin/StopReason/ID"
PROCESSED = "Admin/ProdProcessedCount"
DEFECTIVE = "Admin/ProdDefectiveCount"
TAGS = (STATE, MODE, STOP_REASON, PROCESSED, DEFECTIVE)

Tag = int | float | bool | str | None


@dataclass(frozen=True, slots=True)
class Rules:
    """Debounce per machine [est.], and the plant's stop-reason codes by PLC reason id."""

    min_stop: timedelta = timedelta(seconds=120)
    merge_gap: timedelta = timedelta(seconds=30)
    """A run shorter than this between two stops merges them into one (flapping)."""
    stop_reasons: Mapping[int, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Machine:
    """Who the events are about and from: ``source`` + event id is the inbox's dedupe key."""

    key: str
    id: str
    scope: str
    source: str
    plant: str = ""


@dataclass(frozen=True, slots=True)
class Observation:
    """PackML tag values true at ``at`` (origin clock), sent at ``sent_at`` (origin clock) and
    seen at ``received_at`` (host clock)."""

    machine: Machine
    at: datetime
    received_at: datetime
    tags: Mapping[str, Tag]
    seq: int | None = None
    protocol: str = "sparkplug"
    sent_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Episode:
    """One stop, possibly merged from several: open until Execute has held for ``merge_gap``."""

    started_at: datetime
    state: int
    seq: int | None
    previous: int | None
    ran_for: timedelta | None
    reason: int | None
    reported: bool = False
    resumed_at: datetime | None = None
    resume_seq: int | None = None
    flaps: int = 0


@dataclass(frozen=True, slots=True)
class MachineState:
    machine: Machine
    code: int | None = None
    since: datetime | None = None
    tags: Mapping[str, Tag] = field(default_factory=dict)
    episode: Episode | None = None
    stale: bool = False
    skew: timedelta = timedelta(0)
    """Host clock minus origin clock at the last observation."""
    micro_stops: int = 0
    protocol: str = "sparkplug"


@dataclass(frozen=True, slots=True)
class Debounce:
    machines: Mapping[str, MachineState] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class MicroStop:
    machine: Machine
    started_at: datetime
    duration: timedelta
    flaps: int


@dataclass(frozen=True, slots=True)
class Decision:
    state: Debounce
    events: tuple[InboundEvent, ...] = ()
    micro_stops: tuple[MicroStop, ...] = ()


def observe(state: Debounce, rules: Rules, obs: Observation) -> Decision:
    """Take one observation: first what fell due before it, then its state change. Seeing the
    same state again (a redelivery, a rebirth) changes nothing."""
    m = state.machines.get(obs.machine.key) or MachineState(obs.machine, protocol=obs.protocol)
    skew = m.skew if obs.sent_at is None else obs.received_at - obs.sent_at
    m = replace(m, machine=obs.machine, stale=False, skew=skew)
    m, events, micro = _advance(m, rules, obs.at)
    code = obs.tags.get(STATE)
    if isinstance(code, int) and not isinstance(code, bool) and 0 <= code < len(STATES):
        m = _transition(m, code, obs)
    m = _take_tags(m, obs)
    return Decision(_put(state, m), events, micro)


def due(state: Debounce, rules: Rules, now: datetime) -> Decision:
    """Report stops that have now lasted long enough and close finished episodes; ``now`` is
    the host clock, moved onto each machine's clock by the skew seen last."""
    events: list[InboundEvent] = []
    micro: list[MicroStop] = []
    machines = dict(state.machines)
    for key, m in state.machines.items():
        new, found, small = _advance(m, rules, now - m.skew)
        if new != m:
            machines[key] = new
            events += found
            micro += small
    return Decision(Debounce(machines), tuple(events), tuple(micro))


def mark_stale(state: Debounce, keys: tuple[str, ...]) -> Debounce:
    """Freeze machines whose data went stale (connectivity lost): nothing is reported for
    them until an observation (their next birth) says what they are doing."""
    machines = dict(state.machines)
    for key in keys:
        if key in machines:
            machines[key] = replace(machines[key], stale=True)
    return Debounce(machines)


def from_sparkplug(
    update: sparkplug.Update, machine: Machine, received_at: datetime
) -> Observation | None:
    """The PackML tags of a device's BIRTH or DATA, timed by the state metric's own
    timestamp (when the change happened) before the payload's (when it was sent)."""
    tags = {m.name: _tag(m.value) for m in update.metrics if m.name in TAGS}
    if update.topic.device is None or not tags:
        return None
    state = next((m for m in update.metrics if m.name == STATE), None)
    sent_at = None if update.timestamp is None else from_millis(update.timestamp)
    at = from_millis(state.timestamp) if state is not None and state.timestamp else sent_at
    return Observation(machine, at or received_at, received_at, tags, update.seq, sent_at=sent_at)


def from_millis(ms: int) -> datetime:
    """Sparkplug's milliseconds since the epoch, exactly (no float on the way)."""
    return EPOCH + timedelta(milliseconds=ms)


def to_millis(at: datetime) -> int:
    return (at - EPOCH) // timedelta(milliseconds=1)


def event_id(name: str, at: datetime) -> str:
    """A UUIDv7-shaped id, the same for the same ``name`` and ``at``: time-ordered like
    DOMAIN's ids, yet a redelivered message or a rebirth maps to the id already taken."""
    ms = to_millis(at) & (2**48 - 1)
    digest = int.from_bytes(hashlib.sha256(f"{name}@{ms}".encode()).digest()[:10])
    rand_a, rand_b = digest >> 68 & 0xFFF, digest & (2**62 - 1)
    value = ms << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    text = f"{value:032x}"
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _transition(m: MachineState, code: int, obs: Observation) -> MachineState:
    if code == m.code:
        return m
    ep = m.episode
    if code in STOPS:
        if ep is None:
            ran_for = obs.at - m.since if m.code == EXECUTE and m.since else None
            reason = _reason(obs.tags.get(STOP_REASON), m.tags.get(STOP_REASON))
            ep = Episode(obs.at, code, obs.seq, m.code, ran_for, reason)
        else:  # a stop again within the merge gap, or a move between stop states
            flaps = ep.flaps + (ep.resumed_at is not None)
            ep = replace(ep, state=code, resumed_at=None, resume_seq=None, flaps=flaps)
    elif code == EXECUTE:
        if ep is not None and ep.resumed_at is None:
            ep = replace(ep, resumed_at=obs.at, resume_seq=obs.seq)
        tags = {k: v for k, v in m.tags.items() if k != STOP_REASON}  # the stop is over
        m = replace(m, tags=tags)
    return replace(m, code=code, since=obs.at, episode=ep)


def _take_tags(m: MachineState, obs: Observation) -> MachineState:
    tags = {**m.tags, **{k: v for k, v in obs.tags.items() if k != STATE}}
    if m.code == EXECUTE and obs.tags.get(STATE) == EXECUTE:
        tags.pop(STOP_REASON, None)  # a reason left standing by the PLC belongs to the old stop
    ep = m.episode
    if ep is not None and ep.resumed_at is None:
        reason = _reason(obs.tags.get(STOP_REASON), None)
        ep = ep if reason is None else replace(ep, reason=reason)
    return replace(m, tags=tags, episode=ep)


def _advance(
    m: MachineState, rules: Rules, now: datetime
) -> tuple[MachineState, tuple[InboundEvent, ...], tuple[MicroStop, ...]]:
    ep = m.episode
    if ep is None or m.stale:
        return m, (), ()
    if ep.resumed_at is not None:
        if now - ep.resumed_at < rules.merge_gap:
            return m, (), ()
        m = replace(m, episode=None)
        if ep.reported:
            return m, (_resumed(m, ep),), ()
        small = MicroStop(m.machine, ep.started_at, ep.resumed_at - ep.started_at, ep.flaps)
        return replace(m, micro_stops=m.micro_stops + 1), (), (small,)
    if not ep.reported and now - ep.started_at > rules.min_stop:
        return replace(m, episode=replace(ep, reported=True)), (_stopped(m, ep, rules),), ()
    return m, (), ()


def _stopped(m: MachineState, ep: Episode, rules: Rules) -> InboundEvent:
    data = _data(m, ep.state, ep.previous, ep.ran_for, ep.seq)
    if ep.reason is not None:
        reason: JsonObject = {"id": ep.reason, "origin": "plc"}
        if ep.reason in rules.stop_reasons:
            reason["code"] = rules.stop_reasons[ep.reason]
        data["stop_reason"] = reason
    return _event(m, data, "stop", ep.started_at)


def _resumed(m: MachineState, ep: Episode) -> InboundEvent:
    at = ep.resumed_at or ep.started_at
    data = _data(m, EXECUTE, ep.state, at - ep.started_at, ep.resume_seq)
    return _event(m, data, "resume", at)


def _data(
    m: MachineState, code: int, previous: int | None, lasted: timedelta | None, seq: int | None
) -> JsonObject:
    state: JsonObject = {"model": "PackML", "current": STATES[code], "code": code}
    if previous is not None:
        state |= {"previous": STATES[previous], "previous_code": previous}
    mode = m.tags.get(MODE)
    if isinstance(mode, int) and not isinstance(mode, bool):
        state["mode_code"] = mode
    data: JsonObject = {"equipment": {"id": m.machine.id, "scope": m.machine.scope}}
    data["state"] = state
    if lasted is not None:
        data["previous_state_duration_s"] = round(max(lasted.total_seconds(), 0.0), 3)
    counters: JsonObject = {}
    for name, tag in (("processed", PROCESSED), ("defective", DEFECTIVE)):
        value = m.tags.get(tag)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            counters[name] = value
    if counters:
        data["counters"] = counters
    origin: JsonObject = {"protocol": m.protocol}
    if seq is not None:
        origin["seq"] = seq
    data["origin"] = origin
    return data


def _event(m: MachineState, data: JsonObject, kind: str, at: datetime) -> InboundEvent:
    key = m.machine
    # Keyed by the equipment id, as the OPC UA intake does: templates wait on
    # input.equipment.id whichever protocol the machine speaks.
    return InboundEvent(
        event_type=EVENT_TYPE,
        key=key.id,
        data=data,
        source=key.source,
        event_id=event_id(f"{key.source}|{key.key}|{kind}", at),
        plant=key.plant,
    )


def _reason(*values: Tag) -> int | None:
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool) and value != 0:
            return value
    return None


def _tag(value: sparkplug.Value) -> Tag:
    return None if isinstance(value, bytes) else value


def _put(state: Debounce, m: MachineState) -> Debounce:
    return Debounce({**state.machines, m.machine.key: m})
