"""The soak's invariants, checked against the database once the traffic has stopped and the
worker has drained: what must hold whatever the interleaving of requests and tasks was.

Each check is a read; none changes anything. ``Seen`` carries what the clients counted,
``Counts`` what the database held before the traffic, so the counted checks compare the
database's growth with the answers the clients got.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from django.apps import apps
from django.db import connection
from django.db.models import Count
from django.utils import timezone

from accounts.crypto import TokenDecryptionError, decrypt_token
from accounts.fields import EncryptedTextField
from accounts.models import (
    AuditEvent,
    CreatorProfile,
    SandboxAccount,
    SandboxCredential,
    SocialAccount,
    SocialMetrics,
    TokenRevocation,
)
from bench.soak_traffic import Seen
from scheduling.models import PostTarget, ScheduledPost

CHECKED_APPS = ("accounts", "scheduling")
DISCONNECTED = "social_account.disconnected"
CONNECTED = ("social_account.connected", "social_account.reconnected")
# Every token the sandbox platform issues starts with one of these; it stores only hashes.
SANDBOX_TOKEN = re.compile(r"sbx_(?:acc|ref|cod)_[A-Za-z0-9_-]{16,}")
EXAMPLES = 3  # offending rows named in a failed check's detail

OPEN_TARGET = (PostTarget.Status.QUEUED, PostTarget.Status.PUBLISHING)
OPEN_POST = (ScheduledPost.Status.QUEUED, ScheduledPost.Status.PUBLISHING)


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class Counts:
    """Rows the clients' answers account for, counted before and after the traffic."""

    disconnect_audits: int
    connect_audits: int
    posts: int


def counts() -> Counts:
    return Counts(
        disconnect_audits=AuditEvent.objects.filter(action=DISCONNECTED).count(),
        connect_audits=AuditEvent.objects.filter(action__in=CONNECTED).count(),
        posts=ScheduledPost.objects.count(),
    )


def _table(model) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _tables(*models) -> tuple[str, ...]:
    return tuple(_table(model) for model in models)


def _column(model, name: str) -> str:
    return connection.ops.quote_name(model._meta.get_field(name).column)


def _rows(sql: str, params=None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params or [])
        return cursor.fetchall()


def _examples(rows: list[tuple]) -> str:
    shown = "; ".join(" ".join(str(value) for value in row) for row in rows[:EXAMPLES])
    return f" (e.g. {shown})" if shown else ""


def creator_totals() -> Check:
    """Every creator's ``total_followers`` is the sum of its accounts' followers."""
    profile, account, metrics = _tables(CreatorProfile, SocialAccount, SocialMetrics)
    wrong = _rows(
        f"""
        SELECT p.user_id, p.total_followers, COALESCE(s.total, 0)
        FROM {profile} AS p
        LEFT JOIN (SELECT a.user_id, SUM(m.follower_count) AS total
                   FROM {account} AS a JOIN {metrics} AS m ON m.social_account_id = a.id
                   GROUP BY a.user_id) AS s ON s.user_id = p.user_id
        WHERE p.total_followers <> COALESCE(s.total, 0)
        ORDER BY p.user_id
        """
    )
    checked = CreatorProfile.objects.count()
    return Check(
        "creator totals = sum of followers",
        not wrong,
        f"{checked} creators, {len(wrong)} wrong{_examples(wrong)}",
    )


def _foreign_keys():
    for label in CHECKED_APPS:
        for model in apps.get_app_config(label).get_models():
            for model_field in model._meta.concrete_fields:
                if model_field.is_relation and (model_field.many_to_one or model_field.one_to_one):
                    yield model, model_field


def foreign_keys() -> Check:
    """No row points at a row that is gone (every foreign key of the service's tables)."""
    broken, checked = [], 0
    for model, model_field in _foreign_keys():
        target = model_field.related_model
        checked += 1
        (orphans,) = _rows(
            f"""
            SELECT COUNT(*) FROM {_table(model)} AS c
            WHERE c.{connection.ops.quote_name(model_field.column)} IS NOT NULL
              AND NOT EXISTS (SELECT 1 FROM {_table(target)} AS p
                              WHERE p.{_column(target, target._meta.pk.name)}
                                  = c.{connection.ops.quote_name(model_field.column)})
            """
        )[0]
        if orphans:
            broken.append((f"{model._meta.label}.{model_field.name}", orphans))
    detail = ", ".join(f"{name}: {orphans}" for name, orphans in broken)
    return Check(
        "no orphan rows", not broken, f"{checked} foreign keys" + (f"; {detail}" if detail else "")
    )


def open_targets_have_accounts() -> Check:
    """No queued or publishing target whose account is gone (a disconnect cancels them);
    published history is detached by design and keeps the platform and handle."""
    detached = PostTarget.objects.filter(social_account__isnull=True)
    open_detached = list(
        detached.filter(status__in=OPEN_TARGET).values_list("id", "status")[: EXAMPLES + 1]
    )
    history = detached.filter(status=PostTarget.Status.PUBLISHED)
    unnamed = history.filter(account_platform="").count()
    return Check(
        "no open target without its account",
        not open_detached and not unnamed,
        f"{detached.filter(status__in=OPEN_TARGET).count()} open targets detached, "
        f"{history.count()} published targets kept as history ({unnamed} without platform)"
        f"{_examples(open_detached)}",
    )


def post_status_follows_targets() -> Check:
    """A post is open exactly while a target is open, and a settled post's status is the
    one its targets give (all canceled, all published, some published, else failed)."""
    posts, targets = _tables(ScheduledPost, PostTarget)
    wrong = _rows(
        f"""
        SELECT p.id, p.status, expected FROM (
            SELECT p.id, p.status,
                CASE
                    WHEN EXISTS (SELECT 1 FROM {targets} AS t WHERE t.post_id = p.id
                                 AND t.status IN (%(queued)s, %(publishing)s)) THEN 'open'
                    WHEN NOT EXISTS (SELECT 1 FROM {targets} AS t WHERE t.post_id = p.id
                                     AND t.status <> %(canceled)s) THEN 'canceled'
                    WHEN NOT EXISTS (SELECT 1 FROM {targets} AS t WHERE t.post_id = p.id
                                     AND t.status <> %(published)s) THEN 'published'
                    WHEN EXISTS (SELECT 1 FROM {targets} AS t WHERE t.post_id = p.id
                                 AND t.status = %(published)s) THEN 'partially_published'
                    ELSE 'failed'
                END AS expected
            FROM {posts} AS p
        ) AS p
        WHERE CASE WHEN p.status IN (%(queued)s, %(publishing)s) THEN 'open' ELSE p.status END
              <> expected
        ORDER BY p.id
        """,
        {status: status for status in PostTarget.Status.values},
    )
    return Check(
        "post status follows its targets",
        not wrong,
        f"{ScheduledPost.objects.count()} posts, {len(wrong)} inconsistent{_examples(wrong)}",
    )


def publisher_drained() -> Check:
    """Nothing due is left queued and nothing is stuck publishing."""
    now = timezone.now()
    due = PostTarget.objects.filter(
        status=PostTarget.Status.QUEUED, post__scheduled_at__lte=now
    ).count()
    publishing = PostTarget.objects.filter(status=PostTarget.Status.PUBLISHING).count()
    by_status = dict(PostTarget.objects.order_by().values_list("status").annotate(n=Count("*")))
    return Check(
        "no due target left unpublished",
        not due and not publishing,
        f"{due} due and queued, {publishing} publishing; targets by status {by_status}",
    )


def revocation_outbox_empty() -> Check:
    left = TokenRevocation.objects.count()
    return Check("revocation outbox drained", not left, f"{left} rows left")


def upstream_grants_revoked() -> Check:
    """No live sandbox token for an upstream account that is connected nowhere: every
    disconnected (or refused) grant was revoked at the platform."""
    credentials, upstream, account = _tables(SandboxCredential, SandboxAccount, SocialAccount)
    live = _rows(
        f"""
        SELECT u.platform, u.handle, c.kind
        FROM {credentials} AS c JOIN {upstream} AS u ON u.id = c.account_id
        WHERE c.kind IN (%(access)s, %(refresh)s) AND c.revoked_at IS NULL
          AND (c.expires_at IS NULL OR c.expires_at > %(now)s)
          AND NOT EXISTS (SELECT 1 FROM {account} AS a
                          WHERE a.platform = u.platform AND a.platform_user_id = u.upstream_id)
        ORDER BY u.platform, u.handle
        """,
        {
            "access": SandboxCredential.Kind.ACCESS,
            "refresh": SandboxCredential.Kind.REFRESH,
            "now": timezone.now(),
        },
    )
    disconnected = SandboxAccount.objects.count() - SocialAccount.objects.count()
    return Check(
        "disconnected grants revoked upstream",
        not live,
        f"{max(disconnected, 0)} upstream accounts not connected, {len(live)} live tokens "
        f"among them{_examples(live)}",
    )


def _encrypted_columns():
    for model in apps.get_models():
        for model_field in model._meta.concrete_fields:
            if isinstance(model_field, EncryptedTextField):
                yield model, model_field


def tokens_encrypted() -> Check:
    """Every value of an encrypted column decrypts with the configured keys: none was
    written in the clear."""
    checked, clear = 0, []
    for model, model_field in _encrypted_columns():
        column = connection.ops.quote_name(model_field.column)
        for pk, value in _rows(
            f"SELECT {_column(model, model._meta.pk.name)}, {column} FROM {_table(model)} "
            f"WHERE {column} <> ''"
        ):
            checked += 1
            try:
                decrypt_token(value)
            except TokenDecryptionError:
                clear.append((f"{model._meta.label}.{model_field.name}", pk))
    return Check(
        "token columns encrypted",
        not clear,
        f"{checked} values decrypt, {len(clear)} do not{_examples(clear)}",
    )


def known_tokens(limit: int = 25) -> list[str]:
    """Plaintext of some tokens the service holds now (decrypted): they must appear in no
    row and no log. A value that does not decrypt is ``tokens_encrypted``'s to report."""
    found = []
    account = _table(SocialAccount)
    for row in _rows(f"SELECT access_token, refresh_token FROM {account} LIMIT %s", [limit]):
        for value in row:
            try:
                found += [decrypt_token(value)] if value else []
            except TokenDecryptionError:
                continue
    return found


def no_plaintext_tokens(tokens: list[str], logs: str = "") -> Check:
    """Each table read as text, row by row (a dump of the data, in SQL): no sandbox-issued
    token and none of ``tokens`` in the clear; likewise the servers' ``logs``."""
    hits = []
    for model in apps.get_models():
        (count,) = _rows(
            f"""
            SELECT COUNT(*) FROM {_table(model)} AS t
            WHERE t::text ~ %s
               OR EXISTS (SELECT 1 FROM unnest(%s::text[]) AS k WHERE strpos(t::text, k) > 0)
            """,
            [SANDBOX_TOKEN.pattern, tokens],
        )[0]
        if count:
            hits.append((model._meta.label, count))
    in_logs = len(SANDBOX_TOKEN.findall(logs)) + sum(logs.count(token) for token in tokens)
    return Check(
        "no plaintext token in the data or logs",
        not hits and not in_logs,
        f"every table scanned for the sandbox's token prefix and {len(tokens)} known tokens; "
        f"{sum(count for _, count in hits)} rows, {in_logs} log hits{_examples(hits)}",
    )


def connected_grants_revoked() -> dict[str, int]:
    """Active accounts whose stored refresh token the platform has revoked (not an
    invariant: a disconnect's revocation that runs after the same upstream account was
    connected again ends the new grant on a platform that revokes per user, as the sandbox
    does; their posts then fail with 401)."""
    hashes = {
        hashlib.sha256(token.encode()).hexdigest()
        for token in SocialAccount.objects.filter(status=SocialAccount.Status.ACTIVE)
        .exclude(refresh_token="")
        .values_list("refresh_token", flat=True)
    }
    revoked = SandboxCredential.objects.filter(
        value_hash__in=hashes, revoked_at__isnull=False
    ).count()
    return {"active_accounts_with_grant": len(hashes), "of_them_revoked_upstream": revoked}


def publish_outcomes() -> dict[str, int]:
    """Targets by final status, failures by reason (for the report, not an invariant)."""
    outcomes: dict[str, int] = {}
    for status, error, n in (
        PostTarget.objects.order_by().values_list("status", "error").annotate(n=Count("*"))
    ):
        reason = re.sub(r"^\w+ refused", "<platform> refused", error)[:80]
        key = f"{status}: {reason}" if reason else status
        outcomes[key] = outcomes.get(key, 0) + n
    return dict(sorted(outcomes.items(), key=lambda item: -item[1]))


def counted(*, baseline: Counts, seen: Seen) -> list[Check]:
    """The database grew by what the clients were told: one audit row per successful
    disconnect and connect, one post per 201 (idempotent replays counted once)."""
    now = counts()
    pairs = [
        (
            "disconnect audits = 200s seen",
            now.disconnect_audits - baseline.disconnect_audits,
            seen.disconnects,
        ),
        (
            "connect audits = 200s seen",
            now.connect_audits - baseline.connect_audits,
            seen.connects,
        ),
        ("posts created = 201s seen", now.posts - baseline.posts, seen.posts_created),
    ]
    return [
        Check(name, rows == answers, f"{rows} rows, {answers} answers")
        for name, rows, answers in pairs
    ]


def answers(seen: Seen) -> list[Check]:
    return [
        Check(
            "no 5xx and no failed request",
            not (seen.server_errors or seen.transport_errors or seen.client_errors),
            f"{seen.server_errors} 5xx, {seen.transport_errors} without an answer, "
            f"{seen.client_errors} client errors",
        ),
        Check(
            "idempotent replays repeat the first answer",
            not seen.replay_mismatches,
            f"{seen.replay_mismatches} differed",
        ),
    ]


def database_checks() -> list[Check]:
    """The checks that need only the database."""
    return [
        creator_totals(),
        foreign_keys(),
        open_targets_have_accounts(),
        post_status_follows_targets(),
        publisher_drained(),
        revocation_outbox_empty(),
        upstream_grants_revoked(),
        tokens_encrypted(),
    ]


def run_checks(*, baseline: Counts, seen: Seen, tokens: list[str], logs: str = "") -> list[Check]:
    """Every invariant; ``tokens`` are plaintexts to look for (``known_tokens``)."""
    return [
        *database_checks(),
        no_plaintext_tokens(tokens, logs),
        *counted(baseline=baseline, seen=seen),
        *answers(seen),
    ]
