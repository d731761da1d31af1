"""What the fault tests share: a flow with actions, a decision, a timer and two event waits;
worker processes; an event storm that delivers every run's events shuffled, some twice,
while the faults happen; and the audit of the database afterwards, with its counts.

The storm stands for the API processes and brokers: it takes events in through its own
``App`` (its own connections), retrying through outages as a broker would redeliver.
"""

from __future__ import annotations

import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine

from andon import bootstrap
from andon.config import Settings
from andon.errors import StoreError
from andon.governance import audit

TEMPLATE = """
id: fault-flow
version: 1
input:
  type: object
  required: [n, lot]
  properties: {n: {type: integer}, lot: {type: string}}
steps:
  - {id: a, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms, max: 50ms}}
  - {id: result, kind: wait, event: lab.result, key: input.lot}
  - {id: b, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms, max: 50ms}}
  - id: route
    kind: decide
    rules:
      - {id: even, when: "input.n % 2 == 0", then: {even: true}, next: c}
    default: {even: false}
    next: d
  - {id: c, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms}, next: pause}
  - {id: d, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms}, next: pause}
  - {id: pause, kind: timer, duration: 20ms}
  - {id: signed, kind: wait, event: lab.signed, key: input.lot}
  - {id: f, kind: action, action: crash.effect, retry: {max_attempts: 20, initial: 10ms, max: 50ms}}
  - {id: done, kind: end, outcome: closed}
"""
WAITS = ("result", "signed")
KEY = re.compile(r"(?P<run>[0-9a-f]{16}):(?P<step>[a-z_]+):(?P<activation>\d+)")


def run_input(n: int) -> dict[str, object]:
    return {"n": n, "lot": f"LOT-{n:05d}"}


def worker_env(settings: Settings, effects_db: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ANDON_DATABASE_URL": settings.store.url,
        "ANDON_SIGNING_KEY": str(settings.signing_key_path),
        "ANDON_SECRETS_KEY": str(settings.secrets_key_path),
        "ANDON_ACTIONS": "crash_actions",
        "CRASH_EFFECTS_DB": str(effects_db),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), *sys.path]),
    }


def start_worker(env: dict[str, str], log: Path, lease_s: str = "1") -> subprocess.Popen[bytes]:
    with log.open("ab") as sink:
        return subprocess.Popen(
            [sys.executable, "-m", "andon.cli.main", "worker", "--lease", lease_s, "--batch", "8"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )


@dataclass(eq=False)  # a thread: identity, not value
class EventStorm(threading.Thread):
    """Sends each run's ``lab.result`` and ``lab.signed`` once, in shuffled order (so a
    run's ``signed`` often comes before its ``result``, and most come before the run waits),
    and re-sends ``duplicate_share`` of them again later under the same event id."""

    settings: Settings
    runs: int
    seed: int
    duplicate_share: float = 0.1
    pace_s: float = 0.0
    """A pause after each delivery, to spread the storm over the faults."""
    sent: int = 0
    duplicates_acknowledged: int = 0
    retries: int = 0
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        threading.Thread.__init__(self, daemon=True)

    def deliveries(self) -> list[tuple[str, str, str]]:
        rng = random.Random(self.seed)
        distinct = [
            (event_type, run_input(n)["lot"], f"{event_type}:{n}")
            for n in range(self.runs)
            for event_type in ("lab.result", "lab.signed")
        ]
        rng.shuffle(distinct)
        again = rng.sample(distinct, int(len(distinct) * self.duplicate_share))
        out = list(distinct)
        for item in again:  # each duplicate somewhere after its first delivery
            first = out.index(item)
            out.insert(rng.randrange(first + 1, len(out) + 1), item)
        return [(str(t), str(k), str(i)) for t, k, i in out]

    def run(self) -> None:
        app = bootstrap.build(self.settings)
        try:
            admin = app.actor()
            for event_type, key, event_id in self.deliveries():
                for _ in range(240):
                    try:
                        got = app.service.send_event(
                            admin, event_type, key, {"id": event_id}, source="lab",
                            event_id=event_id,
                        )  # fmt: skip
                        break
                    except StoreError:  # the database is restarting: redeliver, as a broker
                        self.retries += 1
                        time.sleep(0.25)
                else:
                    raise StoreError(f"gave up delivering {event_id} after 240 tries")
                self.sent += 1
                self.duplicates_acknowledged += got.duplicate
                time.sleep(self.pace_s)
        except Exception as exc:  # reported by the test, not lost in a thread
            self.errors.append(repr(exc))
        finally:
            app.close()


@dataclass(frozen=True)
class Audit:
    runs: int
    completed: int
    seq_gaps: int
    double_steps: int
    broken_chains: int
    waits_without_event: int
    events_received_twice: int
    inbox_events: int
    unmatched_events: int
    delivered_late: int
    calls: int
    effect_keys: int
    redelivered_keys: int
    activations: int
    """Step visits of action steps, as the journal shows them."""
    extra_effects: int
    """Effects beyond the first of a visit: a retry or a re-delivery that came under a
    new key and so was applied again."""

    def summary(self) -> str:
        return (
            f"runs={self.runs} completed={self.completed} lost={self.runs - self.completed} "
            f"seq_gaps={self.seq_gaps} double_steps={self.double_steps} "
            f"broken_chains={self.broken_chains} inbox_events={self.inbox_events} "
            f"unmatched={self.unmatched_events} events_twice={self.events_received_twice} "
            f"delivered_before_wait={self.delivered_late} calls={self.calls} "
            f"effect_keys={self.effect_keys} redelivered_keys={self.redelivered_keys} "
            f"activations={self.activations} extra_effects={self.extra_effects}"
        )


def audit_database(url: str, run_ids: list[str], effects_db: Path) -> Audit:
    """Read everything back and count what went wrong; asserts that need the detail."""
    engine = create_engine(url)
    with engine.connect() as conn:
        journal = conn.exec_driver_sql(
            "SELECT run_id, seq, type, body, trace, actor, at, hash FROM run_events "
            "ORDER BY run_id, seq"
        ).all()
        completed = conn.exec_driver_sql(
            "SELECT count(*) FROM runs WHERE status = 'completed'"
        ).scalar_one()
        inbox = {
            str(event_id): (int(matched), float(at))
            for event_id, matched, at in conn.exec_driver_sql(
                "SELECT event_id, matched_runs, received_at FROM inbox"
            )
        }
    engine.dispose()
    by_run: dict[str, list[tuple[object, ...]]] = {}
    for row in journal:
        by_run.setdefault(str(row[0]), []).append(tuple(row))
    assert sorted(by_run) == sorted(run_ids), "a run has no journal"
    seq_gaps = double_steps = broken = waits_missing = late = 0
    received: Counter[str] = Counter()
    success_keys: set[str] = set()
    visits: set[tuple[str, str, int]] = set()
    for run_id, rows in by_run.items():
        seqs = [int(str(r[1])) for r in rows]
        seq_gaps += seqs != list(range(1, len(seqs) + 1))
        records = [
            (
                int(str(r[1])),
                audit.journal_record(
                    "default", run_id, int(str(r[1])), str(r[2]), json.loads(str(r[3])),
                    json.loads(str(r[4])), str(r[5]), float(str(r[6])),
                ),
                str(r[7]),
            )
            for r in rows
        ]  # fmt: skip
        broken += audit.verify(records) is not None
        steps: Counter[str] = Counter()
        waits: Counter[str] = Counter()
        entered: dict[str, int] = {}
        for before, r in zip([None, *rows], rows, strict=False):
            body = json.loads(str(r[3]))
            if r[2] in ("StepSucceeded", "StepFailed") and body["step"] not in entered:
                # The flow is a line and each action step is visited once: nothing else
                # happens to the run between the fact entering the step and its outcome.
                assert before is not None
                entered[body["step"]] = int(str(before[1]))
                visits.add((run_id, body["step"], entered[body["step"]]))
            if r[2] == "StepSucceeded":
                steps[body["step"]] += 1
                success_keys.add(f"{run_id}:{body['step']}:{entered[body['step']]}")
            elif r[2] == "EventReceived":
                waits[body["step"]] += 1
                received[body["event_id"]] += 1
                late += float(str(r[6])) > inbox[body["event_id"]][1]
        double_steps += sum(1 for n in steps.values() if n > 1)
        waits_missing += sum(1 for w in WAITS if waits[w] != 1)
    with closing(sqlite3.connect(effects_db)) as effects:
        calls = [str(k) for (k,) in effects.execute("SELECT key FROM calls")]
        deduped = {str(k) for (k,) in effects.execute("SELECT key FROM effects")}
        per_step = Counter(
            (str(run), str(step))
            for run, step in effects.execute("SELECT run_id, step FROM effects")
        )
    assert calls and all(KEY.fullmatch(k) for k in calls), "an effect lacks its idempotency key"
    missing = sorted(success_keys - deduped)
    assert not missing, (
        f"{len(missing)} journaled successes have no effect under their key, e.g. {missing[:3]}; "
        f"calls of that step: {sorted(k for k in deduped if k.startswith(missing[0][:-2]))}; "
        f"journal of its run: {[(r[1], r[2], r[3], r[5]) for r in by_run[missing[0][:16]]]}"
    )
    assert len(deduped) == len(set(calls))
    effect_visits = {
        (m["run"], m["step"], int(m["activation"])) for k in deduped if (m := KEY.fullmatch(k))
    }
    assert effect_visits <= visits, (
        f"effects under keys of no visit: {sorted(effect_visits - visits)[:3]}"
    )
    return Audit(
        runs=len(run_ids),
        completed=int(completed),
        seq_gaps=seq_gaps,
        double_steps=double_steps,
        broken_chains=broken,
        waits_without_event=waits_missing,
        events_received_twice=sum(1 for n in received.values() if n > 1),
        inbox_events=len(inbox),
        unmatched_events=sum(1 for event_id in inbox if received[event_id] == 0),
        delivered_late=late,
        calls=len(calls),
        effect_keys=len(deduped),
        redelivered_keys=sum(1 for n in Counter(calls).values() if n > 1),
        activations=len(visits),
        extra_effects=sum(n - 1 for n in per_step.values()),
    )


def assert_clean(found: Audit, storm: EventStorm) -> None:
    """The Done-when of the fault tests, as one statement of counts."""
    assert storm.errors == [], storm.errors
    assert found.completed == found.runs, found.summary()
    assert (found.seq_gaps, found.double_steps, found.broken_chains) == (0, 0, 0), found.summary()
    assert found.waits_without_event == 0, found.summary()
    # exactly one effect per step visit: every attempt of a visit came under its one key
    assert found.extra_effects == 0, found.summary()
    assert found.effect_keys == found.activations, found.summary()
    assert found.inbox_events == 2 * found.runs, found.summary()  # every distinct event kept
    assert (found.unmatched_events, found.events_received_twice) == (0, 0), found.summary()
    assert storm.duplicates_acknowledged == storm.sent - 2 * found.runs
