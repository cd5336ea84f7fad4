"""Disconnect cost as an account's history grows, beside the floor: the same end state
reached by hand-written SQL in one transaction through psycopg."""

from __future__ import annotations

import statistics
import uuid

import psycopg
from django.conf import settings
from django.db import connection

from accounts.models import SocialAccount
from accounts.services.actors import Actor
from accounts.services.disconnect import DisconnectReason, social_account_disconnect

from .measure import Measurement, measured
from .seed import History, seed_workspace, vacuum

NEIGHBOURS = History(queued=1_000, snapshots=10_000, inbox=1_000)

# One statement per step a careful hand would not merge further: lock and read the account;
# settle the posts whose last open target this was; cancel and detach the targets in one
# pass; then everything else (revocation outbox, purges, lease detach, account, follower
# total, audit event, webhook deliveries) in one statement of data-modifying CTEs.
FLOOR_LOCK = """
    SELECT platform, platform_username, user_id, workspace_id
    FROM accounts_socialaccount WHERE id = %(account)s FOR UPDATE
"""
FLOOR_SETTLE_POSTS = """
    UPDATE scheduling_scheduledpost p
    SET status = CASE
            WHEN NOT EXISTS (SELECT 1 FROM scheduling_posttarget o
                             WHERE o.post_id = p.id AND o.id <> t.id
                               AND o.status <> 'canceled') THEN 'canceled'
            WHEN EXISTS (SELECT 1 FROM scheduling_posttarget o
                         WHERE o.post_id = p.id AND o.id <> t.id
                           AND o.status = 'published') THEN 'partially_published'
            ELSE 'failed' END,
        updated_at = now()
    FROM scheduling_posttarget t
    WHERE t.social_account_id = %(account)s AND t.status = 'queued' AND p.id = t.post_id
      AND p.status IN ('queued', 'publishing')
      AND NOT EXISTS (SELECT 1 FROM scheduling_posttarget o
                      WHERE o.post_id = p.id AND o.id <> t.id
                        AND o.status IN ('queued', 'publishing'))
"""
FLOOR_TARGETS = """
    WITH canceled AS (
        UPDATE scheduling_posttarget
        SET status = 'canceled', canceled_reason = 'account_disconnected',
            updated_at = now(), social_account_id = NULL
        WHERE social_account_id = %(account)s AND status = 'queued'
        RETURNING 1
    ), kept AS (
        UPDATE scheduling_posttarget SET social_account_id = NULL
        WHERE social_account_id = %(account)s AND status <> 'queued'
        RETURNING 1
    )
    SELECT (SELECT count(*) FROM canceled), (SELECT count(*) FROM kept)
"""
FLOOR_REST = """
    WITH revocation AS (
        INSERT INTO accounts_tokenrevocation (platform, account_public_id, platform_user_id,
                                              account_user_id, access_token, refresh_token,
                                              attempts, last_error, created_at, next_attempt_at)
        SELECT platform, 'sa_' || id, platform_user_id, user_id, access_token, refresh_token,
               0, '', now(), now()
        FROM accounts_socialaccount
        WHERE id = %(account)s AND (access_token <> '' OR refresh_token <> '')
        RETURNING id
    ), snapshots AS (
        DELETE FROM accounts_metricssnapshot WHERE social_account_id = %(account)s
        RETURNING 1
    ), inbox AS (
        DELETE FROM accounts_inboxitem WHERE social_account_id = %(account)s RETURNING 1
    ), leases AS (
        UPDATE accounts_lease SET social_account_id = NULL
        WHERE social_account_id = %(account)s RETURNING 1
    ), metrics AS (
        DELETE FROM accounts_socialmetrics WHERE social_account_id = %(account)s RETURNING 1
    ), account AS (
        DELETE FROM accounts_socialaccount WHERE id = %(account)s RETURNING id
    ), counts AS (
        SELECT (SELECT count(*) FROM snapshots) AS snapshots,
               (SELECT count(*) FROM inbox) AS inbox,
               (SELECT count(*) FROM metrics) AS metrics,
               (SELECT count(*) FROM leases) AS leases
    ), profile AS (
        UPDATE accounts_creatorprofile
        SET total_followers = COALESCE((
                SELECT SUM(m.follower_count) FROM accounts_socialmetrics m
                JOIN accounts_socialaccount a ON a.id = m.social_account_id
                WHERE a.user_id = %(user)s AND a.id <> %(account)s), 0),
            updated_at = now()
        WHERE user_id = %(user)s
        RETURNING 1
    ), audit AS (
        INSERT INTO accounts_auditevent (id, actor_type, actor_id, action, workspace_id,
                                         subject_ids, data, correlation_id, created_at)
        SELECT gen_random_uuid(), 'system', 'bench', 'social_account.disconnected',
               'ws_' || %(workspace)s::text,
               jsonb_build_array('sa_' || %(account)s::text, 'usr_' || %(user)s::text),
               jsonb_build_object(
                   'platform', %(platform)s::text, 'handle', %(handle)s::text,
                   'reason', 'revoked_by_user', 'canceledScheduledPosts', %(canceled)s::int,
                   'purged', jsonb_build_object('metrics', counts.metrics,
                                                'metricsSnapshots', counts.snapshots,
                                                'inboxItems', counts.inbox)),
               '', now()
        FROM counts
        RETURNING 1
    ), deliveries AS (
        INSERT INTO accounts_webhookdelivery (id, endpoint_id, event, body, status,
                                              attempts, next_attempt_at, last_http_status,
                                              last_error, delivered_at, created_at)
        SELECT gen_random_uuid(), e.id, 'account.disconnected', '{}', 'pending', 0, now(),
               NULL, '', NULL, now()
        FROM accounts_webhookendpoint e
        WHERE e.workspace_id = %(workspace)s AND e.active
          AND e.events ? 'account.disconnected'
        RETURNING 1
    )
    SELECT counts.*, (SELECT count(*) FROM account), (SELECT count(*) FROM profile),
           (SELECT count(*) FROM audit), (SELECT count(*) FROM deliveries),
           (SELECT count(*) FROM revocation)
    FROM counts
"""


def _seed(size: int, tag: str) -> uuid.UUID:
    history = History(queued=size, snapshots=10 * size, inbox=size)
    seeded = seed_workspace(tag, creators=1, accounts_per_creator=1, history=history)
    vacuum()
    with connection.cursor() as cursor:
        cursor.execute("CHECKPOINT")
    return seeded.account_ids[0]


def _service(account_id: uuid.UUID) -> Measurement:
    account = SocialAccount.objects.get(pk=account_id)
    with measured() as result:
        report = social_account_disconnect(
            account=account, actor=Actor.system("bench"), reason=DisconnectReason.REVOKED_BY_USER
        )
    result.extra = {"canceled": report.canceled_scheduled_posts}
    return result


def _dsn() -> str:
    db = settings.DATABASES["default"]
    return psycopg.conninfo.make_conninfo(
        host=db["HOST"],
        port=db["PORT"] or 5432,
        user=db["USER"],
        password=db["PASSWORD"] or None,
        dbname=db["NAME"],
    )


def _floor(account_id: uuid.UUID) -> Measurement:
    with psycopg.connect(_dsn()) as pg, measured() as result:
        with pg.transaction(), pg.cursor() as cursor:
            params = {"account": account_id}
            cursor.execute(FLOOR_LOCK, params)
            platform, handle, user_id, workspace_id = cursor.fetchone()
            params |= {
                "platform": platform,
                "handle": handle,
                "user": user_id,
                "workspace": workspace_id,
            }
            cursor.execute(FLOOR_SETTLE_POSTS, params)
            cursor.execute(FLOOR_TARGETS, params)
            params["canceled"] = cursor.fetchone()[0]
            cursor.execute(FLOOR_REST, params)
            cursor.fetchone()
        result.statements = 4
    result.extra = {"canceled": params["canceled"]}
    return result


def run(sizes: list[int], repeats: int, log=print) -> list[dict]:
    """For each size N: median wall time of the service and of the floor over ``repeats``
    fresh accounts, their statement counts and peak memory, and the ratio."""
    log(f"seeding neighbours: 20 accounts with {NEIGHBOURS}")
    seed_workspace("neighbours", creators=20, accounts_per_creator=1, history=NEIGHBOURS)
    # Warm up both paths (imports, connections, the broker's) on throwaway accounts.
    for name, measure in (("service", _service), ("floor", _floor)):
        measure(_seed(10, f"warmup-{name}"))
    rows = []
    for size in sizes:
        service, floor = [], []
        for attempt in range(repeats):
            # Alternate which goes first so neither always meets the warmer cache.
            order = [("service", _service, service), ("floor", _floor, floor)]
            if attempt % 2:
                order.reverse()
            for name, measure, into in order:
                account_id = _seed(size, f"d{size}-{attempt}-{name}")
                result = measure(account_id)
                if result.extra["canceled"] != size:
                    raise RuntimeError(f"{name} canceled {result.extra['canceled']} of {size}")
                into.append(result)
                log(
                    f"  N={size:>7} {name:<7} {result.seconds * 1000:9.1f} ms "
                    f"{result.statements:3d} statements {result.peak_mib:6.1f} MiB"
                )
        row = {
            "size": size,
            "service_ms": statistics.median(m.seconds for m in service) * 1000,
            "floor_ms": statistics.median(m.seconds for m in floor) * 1000,
            "service_statements": max(m.statements for m in service),
            "floor_statements": max(m.statements for m in floor),
            "service_peak_mib": max(m.peak_mib for m in service),
            "floor_peak_mib": max(m.peak_mib for m in floor),
        }
        row["ratio"] = row["service_ms"] / row["floor_ms"]
        # Where the service's time went, slowest statements first (the first account's).
        row["service_slowest_statements"] = [
            {"sql": sql, "ms": round(seconds * 1000, 2)}
            for sql, seconds in sorted(service[0].timings, key=lambda timing: -timing[1])[:5]
        ]
        rows.append(row)
    return rows
