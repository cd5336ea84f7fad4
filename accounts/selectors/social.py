"""Social accounts as a workspace caller (a member, or the workspace's API key) sees them."""

from __future__ import annotations

import uuid
from collections import namedtuple

from django.db import connection
from django.db.models import Count, F, OuterRef, QuerySet, Subquery

from accounts.models import Membership, Platform, SocialAccount, SocialMetrics, User, Workspace
from accounts.services.actors import Actor
from scheduling.models import PostTarget
from socialhub.api.errors import not_found
from socialhub.db import select_rows

from .workspaces import workspace_check_for_caller


def social_accounts_visible_to(actor: Actor) -> QuerySet[SocialAccount]:
    """Accounts of the key's workspace, or of every workspace the user belongs to, with
    the user's role there as ``caller_role`` (``None`` for keys)."""
    accounts = SocialAccount.objects.defer("access_token", "refresh_token").annotate(
        follower_count=F("metrics__follower_count")
    )
    if actor.api_key is not None:
        return accounts.filter(workspace_id=actor.api_key.workspace_id)
    role = Membership.objects.filter(workspace_id=OuterRef("workspace_id"), user=actor.user)
    return accounts.annotate(caller_role=Subquery(role.values("role")[:1])).filter(
        caller_role__isnull=False
    )


def _account_not_found():
    return not_found("social_account.not_found", "Social account not found.")


# What a listed account shows (``SocialAccountItem``): every column but the tokens, and
# the follower count.
LISTED_FIELDS = (
    "id",
    "workspace_id",
    "user_id",
    "platform",
    "platform_user_id",
    "platform_username",
    "display_name",
    "avatar_url",
    "account_type",
    "verified",
    "status",
    "status_reason",
    "scopes",
    "follower_count",
    "connected_at",
    "last_refreshed_at",
    "token_expires_at",
    "last_refresh_attempt_at",
    "last_refresh_error",
    "last_refresh_http_status",
    "metadata",
    "updated_at",
)
ListedAccount = namedtuple("ListedAccount", LISTED_FIELDS)

# Written once: building this through the ORM on every request cost more than running it.
# The caller reaches the key's workspace, or the user's; a workspace may be named too.
_LISTED_SQL = """
    SELECT {columns}
    FROM {accounts} AS a
    LEFT JOIN {metrics} AS m ON m.social_account_id = a.id
    WHERE a.workspace_id IN ({reach}){one_workspace}
    ORDER BY a.connected_at, a.id
"""
_KEY_REACH = "%(key_workspace)s"
_USER_REACH = "SELECT workspace_id FROM {memberships} WHERE user_id = %(user)s"


def _listed_sql(*, by_key: bool, one_workspace: bool) -> str:
    """Names come from this module and model metadata; values are parameters."""
    return _LISTED_SQL.format(
        columns=", ".join(
            "m.follower_count" if name == "follower_count" else f"a.{name}"
            for name in LISTED_FIELDS
        ),
        accounts=SocialAccount._meta.db_table,
        metrics=SocialMetrics._meta.db_table,
        reach=_KEY_REACH if by_key else _USER_REACH.format(memberships=Membership._meta.db_table),
        one_workspace=" AND a.workspace_id = %(workspace)s" if one_workspace else "",
    )


_LISTED_SQL_BY = {
    (by_key, one_workspace): _listed_sql(by_key=by_key, one_workspace=one_workspace)
    for by_key in (False, True)
    for one_workspace in (False, True)
}


def _listed_accounts(*, actor: Actor, workspace_id: uuid.UUID | None) -> list[ListedAccount]:
    key, user = actor.api_key, actor.user
    prepared = Workspace._meta.pk.get_db_prep_value
    params = {
        "key_workspace": prepared(key.workspace_id, connection) if key is not None else None,
        "user": User._meta.pk.get_db_prep_value(user.pk, connection) if user is not None else None,
        "workspace": prepared(workspace_id, connection),
    }
    fields = [
        SocialMetrics._meta.get_field(name)
        if name == "follower_count"
        else SocialAccount._meta.get_field(name)
        for name in LISTED_FIELDS
    ]
    sql = _LISTED_SQL_BY[key is not None, workspace_id is not None]
    return [ListedAccount._make(row) for row in select_rows(sql, params, fields)]


def social_accounts_by_platform_for_caller(
    *, actor: Actor, workspace_id: uuid.UUID | None = None
) -> dict[str, list[ListedAccount]]:
    """Every platform as a key (empty lists included), accounts oldest first, as rows with
    the ``LISTED_FIELDS`` as attributes (no model instances: building a hundred of them cost
    more than reading the rows).

    One query. Only when a workspace is named and nothing is found, a second tells a
    workspace the caller may not see (404) from an empty one.
    """
    rows = _listed_accounts(actor=actor, workspace_id=workspace_id)
    grouped: dict[str, list[ListedAccount]] = {platform: [] for platform in Platform.values}
    for row in rows:
        grouped[row.platform].append(row)
    if workspace_id is not None and not rows:
        workspace_check_for_caller(actor=actor, workspace_id=workspace_id)
    return grouped


def social_account_get_for_caller(*, actor: Actor, account_id: uuid.UUID) -> SocialAccount:
    """The account if the caller may see it (``caller_role`` set for users); else 404."""
    account = social_accounts_visible_to(actor).filter(pk=account_id).first()
    if account is None:
        raise _account_not_found()
    return account


# Written once, like the list: only what a change needs to know (the account, the role).
_TO_CHANGE_BY_USER_SQL = """
    SELECT a.id, m.role AS caller_role
    FROM {accounts} AS a
    JOIN {memberships} AS m ON m.workspace_id = a.workspace_id AND m.user_id = %(user)s
    WHERE a.id = %(account)s
"""
_TO_CHANGE_BY_KEY_SQL = """
    SELECT a.id, NULL AS caller_role
    FROM {accounts} AS a
    WHERE a.id = %(account)s AND a.workspace_id = %(key_workspace)s
"""
_TO_CHANGE_SQL_BY = {
    by_key: sql.format(accounts=SocialAccount._meta.db_table, memberships=Membership._meta.db_table)
    for by_key, sql in ((False, _TO_CHANGE_BY_USER_SQL), (True, _TO_CHANGE_BY_KEY_SQL))
}


def social_account_to_change_for_caller(*, actor: Actor, account_id: uuid.UUID) -> SocialAccount:
    """The account if the caller may see it (404 if not), with ``caller_role`` (``None`` for
    keys) and nothing else loaded: what a disconnect or a lease release needs before it
    locks and reads the row itself."""
    by_key = actor.api_key is not None
    params = {
        "account": SocialAccount._meta.pk.get_db_prep_value(account_id, connection),
        "user": None if by_key else User._meta.pk.get_db_prep_value(actor.user.pk, connection),
        "key_workspace": (
            Workspace._meta.pk.get_db_prep_value(actor.api_key.workspace_id, connection)
            if by_key
            else None
        ),
    }
    account = next(iter(SocialAccount.objects.raw(_TO_CHANGE_SQL_BY[by_key], params)), None)
    if account is None:
        raise _account_not_found()
    return account


def post_target_usage_for_account(*, account: SocialAccount) -> list[dict]:
    """The account's post targets counted by status, in one query."""
    return list(
        PostTarget.objects.filter(social_account_id=account.pk)
        .order_by("status")
        .values("status")
        .annotate(count=Count("*"))
    )
