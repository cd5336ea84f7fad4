"""Seeding PostgreSQL in bulk with set-based SQL (millions of rows in seconds).

Rows look like the ones the service writes: users with a personal workspace and a creator
profile, accounts with encrypted tokens and metrics, queued posts with one target each,
daily metrics snapshots and inbox items.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.contrib.auth.hashers import make_password
from django.db import connection, transaction

from accounts.crypto import encrypt_token
from accounts.models import Platform

PLATFORMS = [choice.value for choice in Platform]
PASSWORD = "bench-password-not-secret"


@dataclass(frozen=True)
class History:
    """Per account: queued targets (one post each), metrics snapshots, inbox items."""

    queued: int = 0
    snapshots: int = 0
    inbox: int = 0
    leases: int = 0


@dataclass(frozen=True)
class Seeded:
    workspace_id: uuid.UUID
    owner_id: uuid.UUID
    owner_email: str
    account_ids: list[uuid.UUID]


_password_hash: str | None = None


def _hashed_password() -> str:
    global _password_hash
    if _password_hash is None:
        _password_hash = make_password(PASSWORD)
    return _password_hash


def _insert_users(cursor, tag: str, count: int) -> None:
    """``count`` users ``<tag>-<n>@bench.local``, each with a personal workspace it owns and
    a creator profile; their ids land in the temporary table ``seed_users``."""
    cursor.execute("DROP TABLE IF EXISTS seed_users")
    cursor.execute(
        """
        CREATE TEMPORARY TABLE seed_users AS
        SELECT gen_random_uuid() AS id, gen_random_uuid() AS personal_id, n,
               %s || '-' || n || '@bench.local' AS email
        FROM generate_series(1, %s) AS n
        """,
        [tag, count],
    )
    cursor.execute(
        """
        INSERT INTO accounts_user (id, password, is_superuser, email, name, is_active,
                                   is_staff, date_joined)
        SELECT id, %s, false, email, 'Bench ' || n, true, false, now() FROM seed_users
        """,
        [_hashed_password()],
    )
    cursor.execute(
        """
        INSERT INTO accounts_workspace (id, name, is_personal, created_at)
        SELECT personal_id, 'Personal', true, now() FROM seed_users
        """
    )
    cursor.execute(
        """
        INSERT INTO accounts_membership (role, created_at, user_id, workspace_id)
        SELECT 'owner', now(), id, personal_id FROM seed_users
        """
    )
    cursor.execute(
        """
        INSERT INTO accounts_creatorprofile (total_followers, updated_at, user_id)
        SELECT 0, now(), id FROM seed_users
        """
    )


def seed_workspace(
    tag: str,
    *,
    creators: int,
    accounts_per_creator: int,
    history: History,
) -> Seeded:
    """A team workspace ``tag``: an owner (who connects nothing) and ``creators`` members,
    each with ``accounts_per_creator`` accounts (one per platform) carrying ``history``."""
    if not 0 < accounts_per_creator <= len(PLATFORMS):
        raise ValueError(f"1 to {len(PLATFORMS)} accounts per creator")
    access, refresh = encrypt_token(f"{tag}-access"), encrypt_token(f"{tag}-refresh")
    workspace_id = uuid.uuid4()
    with transaction.atomic(), connection.cursor() as cursor:
        _insert_users(cursor, f"{tag}-owner", 1)
        cursor.execute("SELECT id, email FROM seed_users")
        owner_id, owner_email = cursor.fetchone()
        cursor.execute(
            "INSERT INTO accounts_workspace (id, name, is_personal, created_at) "
            "VALUES (%s, %s, false, now())",
            [workspace_id, f"Bench {tag}"],
        )
        cursor.execute(
            "INSERT INTO accounts_membership (role, created_at, user_id, workspace_id) "
            "VALUES ('owner', now(), %s, %s)",
            [owner_id, workspace_id],
        )
        _insert_users(cursor, tag, creators)
        cursor.execute(
            """
            INSERT INTO accounts_membership (role, created_at, user_id, workspace_id)
            SELECT 'member', now(), id, %s FROM seed_users
            """,
            [workspace_id],
        )
        cursor.execute("DROP TABLE IF EXISTS seed_accounts")
        cursor.execute(
            """
            CREATE TEMPORARY TABLE seed_accounts AS
            SELECT gen_random_uuid() AS id, u.id AS user_id, p.platform,
                   u.n || '-' || p.platform AS handle,
                   clock_timestamp() + (u.n * 20 + p.k) * interval '1 microsecond' AS connected_at
            FROM seed_users u
            CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS p(platform, k)
            WHERE p.k <= %s
            """,
            [PLATFORMS, accounts_per_creator],
        )
        cursor.execute(
            """
            INSERT INTO accounts_socialaccount (
                id, platform, platform_user_id, platform_username, display_name, avatar_url,
                account_type, verified, status, status_reason, scopes, access_token,
                refresh_token, token_expires_at, last_refreshed_at, last_refresh_attempt_at,
                last_refresh_error, last_refresh_http_status, metadata, connected_at,
                updated_at, user_id, workspace_id)
            SELECT id, platform, 'up-' || handle, handle, 'Bench ' || handle, NULL,
                   'creator', true, 'active', '', '["read", "write"]'::jsonb, %s, %s,
                   now() + interval '30 days', now(), NULL, '', NULL, '{}'::jsonb,
                   connected_at, now(), user_id, %s
            FROM seed_accounts
            """,
            [access, refresh, workspace_id],
        )
        cursor.execute(
            """
            INSERT INTO accounts_socialmetrics (follower_count, following_count, post_count,
                                                synced_at, social_account_id)
            SELECT 1000 + (random() * 100000)::int, 100, 10, now(), id FROM seed_accounts
            """
        )
        _insert_history(cursor, workspace_id, owner_id, history)
        cursor.execute(
            """
            UPDATE accounts_creatorprofile p SET total_followers = s.total
            FROM (SELECT a.user_id, SUM(m.follower_count) AS total
                  FROM seed_accounts a
                  JOIN accounts_socialmetrics m ON m.social_account_id = a.id
                  GROUP BY a.user_id) AS s
            WHERE p.user_id = s.user_id
            """
        )
        cursor.execute("SELECT id FROM seed_accounts ORDER BY connected_at")
        account_ids = [row[0] for row in cursor.fetchall()]
    return Seeded(workspace_id, owner_id, owner_email, account_ids)


def _insert_history(cursor, workspace_id, owner_id, history: History) -> None:
    if history.queued:
        cursor.execute("DROP TABLE IF EXISTS seed_posts")
        cursor.execute(
            """
            CREATE TEMPORARY TABLE seed_posts AS
            SELECT gen_random_uuid() AS post_id, gen_random_uuid() AS target_id,
                   a.id AS account_id, a.platform, a.handle, g
            FROM seed_accounts a CROSS JOIN generate_series(1, %s) AS g
            """,
            [history.queued],
        )
        cursor.execute(
            """
            INSERT INTO scheduling_scheduledpost (id, text, media_urls, scheduled_at, status,
                                                  created_at, updated_at, author_id,
                                                  workspace_id)
            SELECT post_id, 'Scheduled post ' || g, '[]'::jsonb,
                   now() + interval '30 days' + g * interval '1 minute', 'queued', now(),
                   now(), %s, %s
            FROM seed_posts
            """,
            [owner_id, workspace_id],
        )
        cursor.execute(
            """
            INSERT INTO scheduling_posttarget (id, account_platform, account_handle, status,
                                               canceled_reason, platform_post_id, error,
                                               published_at, created_at, updated_at,
                                               social_account_id, post_id, attempts,
                                               claimed_until)
            SELECT target_id, platform, handle, 'queued', '', '', '', NULL, now(), now(),
                   account_id, post_id, 0, NULL
            FROM seed_posts
            """
        )
        cursor.execute("DROP TABLE seed_posts")
    if history.snapshots:
        cursor.execute(
            """
            INSERT INTO accounts_metricssnapshot (day, follower_count, following_count,
                                                  post_count, social_account_id)
            SELECT current_date - g, 1000 + g, 100, 10, a.id
            FROM seed_accounts a CROSS JOIN generate_series(1, %s) AS g
            """,
            [history.snapshots],
        )
    if history.inbox:
        cursor.execute(
            """
            INSERT INTO accounts_inboxitem (platform_item_id, author_handle, text,
                                            received_at, social_account_id)
            SELECT 'item-' || a.handle || '-' || g, 'fan' || g, 'Comment number ' || g,
                   now() - g * interval '1 minute', a.id
            FROM seed_accounts a CROSS JOIN generate_series(1, %s) AS g
            """,
            [history.inbox],
        )
    if history.leases:
        cursor.execute(
            """
            INSERT INTO accounts_lease (account_public_id, price_cents, currency, started_at,
                                        released_at, social_account_id, workspace_id)
            SELECT 'sa_' || a.id, 900, 'USD', now(), NULL, a.id, %s
            FROM seed_accounts a CROSS JOIN generate_series(1, %s)
            """,
            [workspace_id, history.leases],
        )


def vacuum() -> None:
    """Leave the tables as autovacuum leaves a live database's history: hint bits and the
    visibility map set, planner statistics fresh. Without it the first statement to read a
    freshly seeded row pays for writing its hint bits, whichever side of a comparison that is.
    """
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
