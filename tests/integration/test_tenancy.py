"""Tenant isolation: for every runtime operation, an actor of tenant B addressing an object
of tenant A gets not-found or denied, and nothing of A changes.

The cases are keyed by the operations the runtime registers (``runtime.operations``): an
operation added without a case here fails ``test_every_operation_has_an_isolation_case``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest

from andon import bootstrap
from andon.analytics import Analytics, Window
from andon.core.template import EndSpec
from andon.errors import ConflictError, GovernanceError, NotFoundError, RateLimitedError
from andon.governance import authz
from andon.governance.identity import Actor
from andon.intake import InboundEvent
from andon.runtime.hooks import EventMapping
from andon.runtime.operations import OPERATIONS
from andon.runtime.run_migration import Plan, RunMigrations
from andon.runtime.service import Received, StartRequest, TaskDecision
from andon.runtime.template_diffs import OverlayVersion
from andon.testing import person, publish, tenant_reader
from andon.webhooks import signing

FLOW = """
id: flow
version: 1
roles: [QE]
input: {type: object, required: [lot], properties: {lot: {type: string}}}
triggers: [{event: lab.sample_taken, key: input.lot}]
steps:
  - {id: review, kind: approval, roles: [QE]}
  - {id: answer, kind: wait, event: supplier.answered, key: input.lot}
  - {id: done, kind: end, outcome: closed}
"""
B = "acme-b"
DENIED = (NotFoundError, GovernanceError)
A_CONTRACT = "lab.result_posted"
UNKNOWN_EVENT = InboundEvent("press.unmapped_signal", "P-1", {"raw": 1}, "edge-1", "m-1")
A_CONNECTION = "erp"
A_ERP = {"url": "https://erp.a.example", "auth": "bearer"}
A_MES = "10.20.0.0/16"
LAB_RESULT = {"type": "object", "required": ["lot"], "properties": {"lot": {"type": "string"}}}


@dataclass
class World:
    app: bootstrap.App
    run_a: str
    task_a: str
    user_a: str
    mallory: Actor
    """Tenant B's most powerful person: every administrative role and QE, tenant-wide."""
    hold_a: str
    token_a: str
    subscription_a: str
    letter_a: str


@pytest.fixture
def world(app: bootstrap.App) -> World:
    publish(app.service, app.actor(), FLOW)
    app.directory.create_site(app.actor(), "DE-STR", "Stuttgart")
    app.service.publish_overlay(app.actor(), "template: flow\nplant: DE-STR\nparameters: {}\n")
    qe = person(app, "anna", "QE")
    run_a = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}))
    app.service.decide_task(qe, TaskDecision(f"{run_a}:review:1"))  # now waiting for the event
    second = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L2"}))
    ended = app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L3"}))
    app.service.cancel(app.actor(), ended, "raised twice")  # ended: purgeable in A
    app.directory.create_tenant(B, "Other manufacturer")
    roles = (authz.TENANT_ADMIN, authz.PROCESS_OWNER, authz.OPERATOR, authz.AUDITOR, "QE")
    mallory = person(app, "mallory", *roles, tenant=B)
    publish(app.service, mallory, FLOW.replace("closed", "b_closed"))
    app.retention.set_period(app.actor(), "standard", 1)
    hold = app.retention.place_hold(app.actor(), "audit of lot L1", run_id=run_a)
    token = app.tokens.issue(app.actor(), "anna", "anna's inbox").token_id
    app.hooks.add_source(
        app.actor(), "portal", scheme=signing.STANDARD, secret="whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQ=",
        mapping=EventMapping(type="'supplier.answered'", key="event.lot"), acting_user="anna",
    )  # fmt: skip
    subscription = _subscription_a(app)
    app.connections.set_connection(app.actor(), A_CONNECTION, "http", A_ERP, "tok-of-a")
    app.egress_allow.allow(app.actor(), A_MES, "the plant's MES")
    app.service.register_contract(app.actor(), A_CONTRACT, LAB_RESULT)
    app.service.send_event(app.actor(), "lab.sample_taken", "L9", {"lot": "L9"}, event_id="s-9")
    letter = app.service.take_event(app.actor(), "mqtt:line-1", UNKNOWN_EVENT).dead_letter
    assert letter is not None
    app.lifecycle.set_stages(app.actor(), ["dev", "qa", "production"], governed=[])
    for stage in ("qa", "production"):
        app.lifecycle.put_in_force(app.actor(), "flow", 1, stage)
    return World(
        app, run_a, f"{second}:review:1", "anna", mallory, hold, token, subscription, letter
    )


def _subscription_a(app: bootstrap.App) -> str:
    """A subscription of A (written directly: no network is reachable from the tests)."""
    with app.service.store.transaction() as tx:
        tx.conn.exec_driver_sql(
            "INSERT INTO webhook_subscriptions VALUES "
            "('default', 'sub-a', 'https://a.example/hook', '[\"*\"]', 'sealed', 1, 'admin', 0)"
        )
    return "sub-a"


def snapshot(world: World) -> object:
    """Everything of tenant A that an operation of B could touch."""
    app = world.app
    with tenant_reader(app) as reader:
        runs = [(r.run_id, r.status, r.revision, r.last_hash) for r in reader.runs(None, 100)]
        tasks = [(t.task_id, t.status, t.claimed_by) for t in reader.tasks(None, None, 100)]
        templates = [(t.template_id, t.version, t.digest) for t in reader.templates()]
        admin = [(a.seq, a.hash) for a in reader.admin_log()]
    with app.service.store.transaction() as tx:
        user = tx.user(world.user_a)
        grants = tx.scoped("default").grants(world.user_a)
        kept = tx.conn.exec_driver_sql(
            "SELECT retention_class, days FROM retention_classes WHERE tenant_id='default'"
        ).all()
        holds = tx.conn.exec_driver_sql(
            "SELECT hold_id, released_at FROM legal_holds WHERE tenant_id='default'"
        ).all()
        tokens = tx.conn.exec_driver_sql(
            "SELECT token_id, revoked_at FROM api_tokens WHERE tenant_id='default'"
        ).all()
        sources = tx.conn.exec_driver_sql(
            "SELECT source_id, secrets, updated_at FROM webhook_sources WHERE tenant_id='default'"
        ).all()
        subscriptions = tx.conn.exec_driver_sql(
            "SELECT subscription_id, active FROM webhook_subscriptions WHERE tenant_id='default'"
        ).all()
        contracts = tx.conn.exec_driver_sql(
            "SELECT event_type, version, digest FROM event_contracts WHERE tenant_id='default'"
        ).all()
        letters = tx.conn.exec_driver_sql(
            "SELECT letter_id, deliveries, resolved_at FROM dead_letters WHERE tenant_id='default'"
        ).all()
        connections = tx.conn.exec_driver_sql(
            "SELECT name, settings, secrets, updated_at FROM connections WHERE tenant_id='default'"
        ).all()
        allowed = tx.conn.exec_driver_sql(
            "SELECT network, reason FROM egress_allow WHERE tenant_id='default'"
        ).all()
        rollouts = tx.conn.exec_driver_sql(
            "SELECT seq, template_id, stage, plant, version FROM rollouts "
            "WHERE tenant_id='default' ORDER BY seq"
        ).all()
        stages = tx.scoped("default").stages()
        overlays = tx.conn.exec_driver_sql(
            "SELECT template_id, plant, revision, digest FROM overlay_revisions "
            "WHERE tenant_id='default' ORDER BY revision"
        ).all()
    return (
        runs, tasks, templates, admin, user, grants, kept, holds, tokens, sources,
        subscriptions, contracts, letters, connections, allowed, rollouts, stages, overlays,
    )  # fmt: skip


def denied(call: Callable[[], object]) -> None:
    with pytest.raises(DENIED):
        call()


def _publish_template(w: World) -> None:
    # B's "flow" is B's own: publishing under A's id neither conflicts with nor replaces
    # A's template (the snapshot shows A's digest unchanged).
    publish(w.app.service, w.mallory, FLOW.replace("version: 1", "version: 2"))
    mine = w.app.service.template(w.mallory, "flow", 1)
    assert mine.step("done").spec == EndSpec("b_closed")


def _publish_overlay(w: World) -> None:
    overlay = "template: nowhere\nplant: DE-STR\nparameters: {}\n"
    denied(lambda: w.app.service.publish_overlay(w.mallory, overlay))


def _start(w: World, many: bool) -> None:
    request = StartRequest("flow", {"lot": "L1"}, plant="DE-STR")
    if many:
        run_ids = w.app.service.start_runs(w.mallory, [request])
    else:
        run_ids = [w.app.service.start_run(w.mallory, request)]
    # It starts B's own flow (B has no site DE-STR overlay: defaults), never A's.
    assert w.app.service.run(w.mallory, run_ids[0]).overlay_digest == ""


def _own_letter(w: World) -> None:
    # The same message sent to B is B's dead letter; A's is not counted again.
    assert w.app.service.take_event(w.mallory, "mqtt:line-1", UNKNOWN_EVENT).dead_letter
    assert [d.deliveries for d in w.app.service.dead_letters(w.mallory)] == [1]


def _replay_own_inbox(w: World) -> None:
    since, until = w.app.service.clock.now() - timedelta(days=1), w.app.service.clock.now()
    replayed = w.app.service.replay_inbox(w.mallory, "flow", 1, since, until + timedelta(1))
    assert (replayed.events, replayed.started) == (0, ()), "A's inbox is not B's"


def _dashboards(w: World, name: str) -> None:
    """B's dashboards are empty although A's are not: A has runs started, an approval
    decided and a step visit ended; B has published a template and nothing else."""
    analytics = Analytics(w.app.service.store)
    everything = Window()
    mine = {
        "cycle_times": lambda who: analytics.cycle_times(who, everything).total,
        "approval_latency": lambda who: analytics.approval_latency(who, everything),
        "bottleneck_steps": lambda who: analytics.bottleneck_steps(who, everything),
        "trends": lambda who: sum(r.started for r in analytics.trends(who, everything)),
        "open_incidents": lambda who: analytics.open_incidents(who, everything),
        "scope": lambda who: analytics.scope(who)[0],
    }[name]
    if name not in ("cycle_times", "open_incidents"):  # A has none of these to leak
        assert mine(w.app.actor())
    assert not mine(w.mallory)
    assert analytics.scope(w.mallory) == ([], ["flow"])


CASES: dict[str, Callable[[World], None]] = {
    **{
        f"Analytics.{name}": lambda w, name=name: _dashboards(w, name)
        for name in (
            "cycle_times",
            "approval_latency",
            "bottleneck_steps",
            "trends",
            "open_incidents",
            "scope",
        )
    },
    "DeadLetterDesk.take_event": _own_letter,
    "DeadLetterDesk.keep_dead_letter": lambda w: _absent(
        w.letter_a,
        [w.app.service.keep_dead_letter(w.mallory, "nats:in", "mapping", "bad", "{")],
    ),
    "DeadLetterDesk.dead_letters": lambda w: _absent(
        w.letter_a, [d.letter_id for d in w.app.service.dead_letters(w.mallory)]
    ),
    "DeadLetterDesk.dead_letter": lambda w: denied(
        lambda: w.app.service.dead_letter(w.mallory, w.letter_a)
    ),
    "DeadLetterDesk.replay_dead_letter": lambda w: denied(
        lambda: w.app.service.replay_dead_letter(w.mallory, w.letter_a)
    ),
    "DeadLetterDesk.discard_dead_letter": lambda w: denied(
        lambda: w.app.service.discard_dead_letter(w.mallory, w.letter_a, "not mine")
    ),
    "DeadLetterDesk.replay_inbox": _replay_own_inbox,
    "Andon.publish_template": _publish_template,
    "Andon.publish_overlay": _publish_overlay,
    "Andon.start_run": lambda w: _start(w, many=False),
    "Andon.start_runs": lambda w: _start(w, many=True),
    "Andon.cancel": lambda w: denied(lambda: w.app.service.cancel(w.mallory, w.run_a)),
    "Andon.retry_incident": lambda w: denied(
        lambda: w.app.service.retry_incident(w.mallory, w.run_a)
    ),
    "TaskDesk.claim_task": lambda w: denied(lambda: w.app.service.claim_task(w.mallory, w.task_a)),
    "TaskDesk.release_task": lambda w: denied(
        lambda: w.app.service.release_task(w.mallory, w.task_a)
    ),
    "Andon.template_source": lambda w: denied(
        lambda: w.app.service.template_source(w.mallory, "flow", 9)
    ),
    "DiffDesk.template_diff": lambda w: denied(
        lambda: w.app.service.template_diff(w.mallory, "flow", 1, 9)
    ),
    "DiffDesk.overlay_diff": lambda w: denied(
        lambda: w.app.service.overlay_diff(w.mallory, "flow", "DE-STR")
    ),
    "DiffDesk.overlay_history": lambda w: _no_overlays(
        w.app.service.overlay_history(w.mallory, "flow")
    ),
    "TaskDesk.decide_task": lambda w: denied(
        lambda: w.app.service.decide_task(w.mallory, TaskDecision(w.task_a))
    ),
    "TaskDesk.decide_tasks": lambda w: denied(
        lambda: w.app.service.decide_tasks([(w.mallory, TaskDecision(w.task_a))])
    ),
    "Andon.send_event": lambda w: _no_reach(
        w.app.service.send_event(w.mallory, "supplier.answered", "L1", {}, event_id="x")
    ),
    "Andon.run": lambda w: denied(lambda: w.app.service.run(w.mallory, w.run_a)),
    "Andon.runs": lambda w: _absent(w.run_a, [r.run_id for r in w.app.service.runs(w.mallory)]),
    "Andon.journal": lambda w: denied(lambda: w.app.service.journal(w.mallory, w.run_a)),
    "Andon.tasks": lambda w: _absent(
        w.task_a, [t.task_id for t in w.app.service.tasks(w.mallory, None)]
    ),
    "Andon.task": lambda w: denied(lambda: w.app.service.task(w.mallory, w.task_a)),
    "Andon.published_templates": lambda w: _only_b(w),
    # B's contract of the same type is B's own first version; A's stays as it was.
    "ContractDesk.register_contract": lambda w: _own_contract(w),
    "ContractDesk.contracts": lambda w: _absent(
        A_CONTRACT, [c.event_type for c in w.app.service.contracts(w.mallory)]
    ),
    "ContractDesk.contract": lambda w: denied(
        lambda: w.app.service.contract(w.mallory, A_CONTRACT)
    ),
    "Andon.template": lambda w: denied(lambda: w.app.service.template(w.mallory, "flow", 9)),
    "Andon.wait_until_ended": lambda w: denied(
        lambda: w.app.service.wait_until_ended(w.mallory, w.run_a, 0.01)
    ),
    "Directory.create_user": lambda w: _conflict(
        lambda: w.app.directory.create_user(w.mallory, w.user_a, "Impostor")
    ),
    "Directory.set_password": lambda w: denied(
        lambda: w.app.directory.set_password(w.mallory, w.user_a, "take-over-the-account")
    ),
    "Directory.grant": lambda w: denied(lambda: w.app.directory.grant(w.mallory, w.user_a, "QE")),
    "Directory.revoke": lambda w: denied(lambda: w.app.directory.revoke(w.mallory, w.user_a, "QE")),
    "Directory.create_site": lambda w: w.app.directory.create_site(w.mallory, "DE-STR", "B's own"),
    "Directory.set_authority": lambda w: w.app.directory.set_authority(w.mallory, "QE", 99),
    "Directory.delegate": lambda w: denied(
        lambda: w.app.directory.delegate(w.mallory, w.user_a, "QE", 4e9)
    ),
    "Directory.admin_log": lambda w: _admin_log_is_b_only(w),
    "Retention.set_period": lambda w: w.app.retention.set_period(w.mallory, "standard", 2),
    "Retention.place_hold": lambda w: denied(
        lambda: w.app.retention.place_hold(w.mallory, "take it", run_id=w.run_a)
    ),
    "Retention.release_hold": lambda w: denied(
        lambda: w.app.retention.release_hold(w.mallory, w.hold_a)
    ),
    "Retention.purge": lambda w: _purge_b(w),
    "Evidence.export": lambda w: denied(lambda: w.app.evidence.export(w.mallory, w.run_a)),
    "Tokens.issue": lambda w: denied(lambda: w.app.tokens.issue(w.mallory, w.user_a, "steal")),
    "Tokens.revoke": lambda w: denied(lambda: w.app.tokens.revoke(w.mallory, w.token_a)),
    "Tokens.list": lambda w: _absent(w.token_a, [t.token_id for t in w.app.tokens.list(w.mallory)]),
    "Hooks.add_source": lambda w: denied(
        lambda: w.app.hooks.add_source(
            w.mallory,
            "portal",
            scheme=signing.STANDARD,
            secret="whsec_bWFsbG9yeS1zZWNyZXQ=",
            mapping=EventMapping(type="'x.y'", key="event.k"),
            acting_user=w.user_a,
        )
    ),
    "Notifier.subscribe": lambda w: _own_subscription(w),
    "Notifier.unsubscribe": lambda w: denied(
        lambda: w.app.notifier.unsubscribe(w.mallory, w.subscription_a)
    ),
    "Notifier.deliveries": lambda w: _absent(
        w.subscription_a, [d.subscription_id for d in w.app.notifier.deliveries(w.mallory)]
    ),
    "Notifier.attempts": lambda w: denied(lambda: w.app.notifier.attempts(w.mallory, "wh-any")),
    "Notifier.replay": lambda w: denied(lambda: w.app.notifier.replay(w.mallory, "wh-anything")),
    "Hooks.rotate_secret": lambda w: denied(
        lambda: w.app.hooks.rotate_secret(w.mallory, "portal", "whsec_bWFsbG9yeS1zZWNyZXQ=")
    ),
    "Connections.set_connection": lambda w: _own_connection(w),
    "Connections.connections": lambda w: _absent(
        "https://erp.a.example",
        [str(c.settings["url"]) for c in w.app.connections.connections(w.mallory)],
    ),
    "Connections.connection": lambda w: denied(
        lambda: w.app.connections.connection(w.mallory, A_CONNECTION)
    ),
    "Connections.delete_connection": lambda w: denied(
        lambda: w.app.connections.delete_connection(w.mallory, A_CONNECTION)
    ),
    "EgressAllow.allow": lambda w: _own_allow_list(w),
    "EgressAllow.deny": lambda w: denied(lambda: w.app.egress_allow.deny(w.mallory, A_MES)),
    "EgressAllow.entries": lambda w: _absent(
        A_MES, [e.network for e in w.app.egress_allow.entries(w.mallory)]
    ),
    "Lifecycle.stages": lambda w: _default_stages(w),
    "Lifecycle.set_stages": lambda w: w.app.lifecycle.set_stages(w.mallory, ["build", "live"]),
    "Lifecycle.put_in_force": lambda w: _promote_own(w),
    "Lifecycle.rollback": lambda w: _conflict(
        lambda: w.app.lifecycle.rollback(w.mallory, "flow", stage="production")
    ),
    "Lifecycle.versions": lambda w: _own_versions(w),
    "Lifecycle.governed": lambda w: _default_governed(w),
    "Promotions.request": lambda w: _request_own(w),
    "RunMigrations.migrate": lambda w: _migrate_own(w),
    "DryRuns.run": lambda w: _dry_run_own(w),
    "Hooks.set_mapping": lambda w: denied(
        lambda: w.app.hooks.set_mapping(
            w.mallory, "portal", EventMapping(type="'x.y'", key="event.stolen")
        )
    ),
}


def _default_stages(w: World) -> None:
    assert w.app.lifecycle.stages(w.mallory) == ("dev", "test", "production")


def _default_governed(w: World) -> None:
    # A governs none of its stages; B has the default, its live stage governed.
    assert w.app.lifecycle.governed(w.app.actor()) == frozenset()
    assert w.app.lifecycle.governed(w.mallory) == {"production"}


def _request_own(w: World) -> None:
    # A's site is not B's, and B's request would start a run of B's (nothing of A's moves).
    with pytest.raises(NotFoundError):
        w.app.promotions.request(w.mallory, "flow", 1, "production", ["DE-STR"])
    assert w.app.lifecycle.versions(w.app.actor(), "flow").in_force[-1].record.version == 1


def _promote_own(w: World) -> None:
    # A's site is not B's; B's own flow goes to B's test stage, A's rollout is untouched.
    with pytest.raises(NotFoundError, match="no site"):
        w.app.lifecycle.put_in_force(w.mallory, "flow", 1, "test", ["DE-STR"])
    assert [r.stage for r in w.app.lifecycle.put_in_force(w.mallory, "flow", 1, "test")] == ["test"]


def _migrate_own(w: World) -> None:
    # B's own flow@2; A's runs are neither found by id nor among B's runs of flow@1.
    publish(w.app.service, w.mallory, FLOW.replace("version: 1", "version: 2"))
    migrations = RunMigrations(w.app.service)
    [refused] = migrations.migrate(w.mallory, Plan("flow", 1, 2, run_ids=[w.run_a]))
    assert refused.reason == f"no run '{w.run_a}'"
    assert migrations.migrate(w.mallory, Plan("flow", 1, 2)) == []


def _dry_run_own(w: World) -> None:
    # B's own flow@1 triggers on the type A took in (s-9): A's inbox and runs are not B's.
    report = w.app.dry_runs.run(w.mallory, "flow", 1)
    assert report.event_types == ("lab.sample_taken",)
    assert (report.considered, report.events) == (0, ())
    assert w.app.dry_runs.run(w.app.actor(), "flow", 1).considered == 1, "A's own sees it"


def _own_versions(w: World) -> None:
    found = w.app.lifecycle.versions(w.mallory, "flow")
    assert not found.managed and {r.by for r in found.history} == {"mallory"}


def _own_connection(w: World) -> None:
    # B's "erp" is B's own: A's settings and secret stay, and A's runs still get A's.
    evil = {"url": "https://evil.example", "auth": "bearer"}
    w.app.connections.set_connection(w.mallory, A_CONNECTION, "http", evil, "tok-of-b")
    found = w.app.connections.resolve("default", A_CONNECTION)
    assert found.settings["url"] == A_ERP["url"]
    assert found.secret is not None and found.secret.reveal() == "tok-of-a"


def _own_allow_list(w: World) -> None:
    # B's entry opens B's calls only: A's list is unchanged (snapshot) and A gains nothing.
    w.app.egress_allow.allow(w.mallory, "10.99.0.0/16", "B's plant")
    assert [str(n) for n in w.app.egress_allow.networks("default")] == [A_MES]


def _own_subscription(w: World) -> None:
    # B's subscription is B's: A's events never reach it (A's deliveries are in the snapshot).
    with pytest.raises(GovernanceError, match="internal address"):
        w.app.notifier.subscribe(
            w.mallory, "http://10.0.0.9/steal", ["*"], "whsec_c2VjcmV0LXNlY3JldA=="
        )


def _purge_b(w: World) -> None:
    w.app.service.clock.advance(timedelta(days=5000))  # type: ignore[attr-defined]
    assert w.app.retention.purge(w.mallory) == []  # B has no ended runs; A's are not B's


def _no_overlays(found: list[OverlayVersion]) -> None:
    assert found == []  # B's own "flow" has none; A's DE-STR overlay is not B's


def _no_reach(got: Received) -> None:
    assert (got.reached, got.started) == (0, ())


def _own_contract(w: World) -> None:
    other = {"type": "object", "properties": {"value": {"type": "number"}}}
    assert w.app.service.register_contract(w.mallory, A_CONTRACT, other).version == 1


def _absent(found_id: str, listed: list[str]) -> None:
    assert found_id not in listed


def _conflict(call: Callable[[], object]) -> None:
    with pytest.raises(ConflictError):  # user ids are global; the message names no tenant
        call()


def _only_b(w: World) -> None:
    rows = w.app.service.published_templates(w.mallory)
    assert rows and all("b_closed" in r.source for r in rows)


def _admin_log_is_b_only(w: World) -> None:
    entries = w.app.directory.admin_log(w.mallory)
    assert entries and all(e.tenant_id == B for e in entries)
    assert "anna" not in {e.subject for e in entries}


def test_every_operation_has_an_isolation_case() -> None:
    missing = sorted(set(OPERATIONS) - set(CASES))
    assert not missing, f"operations without a tenant-isolation case: {missing}"
    stale = sorted(set(CASES) - set(OPERATIONS))
    assert not stale, f"cases for operations that do not exist: {stale}"


@pytest.mark.parametrize("operation", sorted(CASES))
def test_tenant_b_cannot_reach_tenant_a(world: World, operation: str) -> None:
    before = snapshot(world)
    CASES[operation](world)
    assert snapshot(world) == before


def test_a_partner_user_acts_only_in_tenants_its_partner_manages(app: bootstrap.App) -> None:
    app.directory.create_partner("integrator", "Systems integrator")
    app.directory.create_tenant("managed", "Managed client", "integrator")
    app.directory.create_partner_user("integrator", "pat", "Pat Partner")
    with pytest.raises(GovernanceError, match="does not manage this tenant"):
        app.actor("pat", "default")
    with pytest.raises(NotFoundError):
        app.directory.grant(app.actor(), "pat", authz.OPERATOR)  # default is not theirs
    app.directory.grant(app.actor("admin@managed", "managed"), "pat", authz.OPERATOR)
    pat = app.actor("pat", "managed")
    assert authz.authorize(pat, authz.Permission.RUN_START)
    assert not authz.authorize(pat, authz.Permission.USERS_MANAGE)


def test_a_site_grant_reaches_only_that_site(app: bootstrap.App) -> None:
    publish(app.service, app.actor(), FLOW)
    for site in ("DE-STR", "US-GRR"):
        app.directory.create_site(app.actor(), site, site)
    app.service.start_run(app.actor(), StartRequest("flow", {"lot": "L1"}, plant="DE-STR"))
    elsewhere = app.service.start_run(
        app.actor(), StartRequest("flow", {"lot": "L2"}, plant="US-GRR")
    )
    local = person(app, "otto", "QE@DE-STR")
    assert {t.plant for t in app.service.tasks(local)} == {"DE-STR"}
    with pytest.raises(NotFoundError):
        app.service.run(local, elsewhere)
    with pytest.raises(GovernanceError, match=r"may not task\.decide in site US-GRR"):
        app.service.decide_task(local, TaskDecision(f"{elsewhere}:review:1"))
    with pytest.raises(GovernanceError, match=r"may not run\.start in site US-GRR"):
        app.service.start_run(local, StartRequest("flow", {"lot": "L3"}, plant="US-GRR"))


@pytest.mark.parametrize(
    ("call", "permission"),
    [
        (lambda app, a: app.directory.create_user(a, "x1", "X"), "users.manage"),
        (lambda app, a: app.directory.grant(a, "anna", "QAM"), "roles.manage"),
        (lambda app, a: publish(app.service, a, FLOW), "template.publish"),
        (lambda app, a: app.directory.admin_log(a), "audit.read"),
        (lambda app, a: app.service.cancel(a, "any-run"), None),
    ],
)
def test_a_person_without_the_permission_is_refused_and_nothing_changes(
    app: bootstrap.App, call: Callable[[bootstrap.App, Actor], object], permission: str | None
) -> None:
    anna = person(app, "anna", "QE")
    with tenant_reader(app) as reader:
        before = [(a.seq, a.hash) for a in reader.admin_log()]
    with pytest.raises(DENIED) as raised:
        call(app, anna)
    if permission:
        assert f"may not {permission}" in str(raised.value)
    with tenant_reader(app) as reader:
        assert [(a.seq, a.hash) for a in reader.admin_log()] == before


def test_failed_signing_attempts_slow_down_instead_of_locking(
    app: bootstrap.App, clock: object
) -> None:
    anna = person(app, "anna", "QE", password="right password 1")
    for _ in range(5):
        with pytest.raises(GovernanceError, match="re-authentication"):
            app.directory.authenticate(anna, "wrong password")
    with pytest.raises(RateLimitedError, match="too many failed sign-ins") as slowed:
        app.directory.authenticate(anna, "right password 1")
    assert 0 < slowed.value.retry_after <= 1.0  # the first delay: one second
    with tenant_reader(app) as reader:
        log = reader.admin_log()
    assert len([a for a in log if a.action == "auth.failed"]) == 5
    assert [a.body["throttled_s"] for a in log if a.action == "auth.throttled"] == [1.0]
    app.service.clock.advance(timedelta(seconds=2))  # type: ignore[attr-defined]
    assert app.directory.authenticate(anna, "right password 1") == "password"


def test_a_user_of_another_tenant_looks_like_no_user_at_all(world: World) -> None:
    app = world.app
    with pytest.raises(GovernanceError) as other_tenant:
        app.actor(world.user_a, B)
    with pytest.raises(GovernanceError) as nobody:
        app.actor("nobody-at-all", B)
    assert str(other_tenant.value).replace(world.user_a, "X") == str(nobody.value).replace(
        "nobody-at-all", "X"
    )
    assert "default" not in str(other_tenant.value)
