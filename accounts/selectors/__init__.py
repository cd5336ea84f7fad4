"""Reads more than one caller needs, with the tenant scoping: a row the caller may not see
is reported as absent (404), never as forbidden."""

from .creator import (
    CREATOR_LIST_LIMIT,
    creator_profile_get,
    creator_social_not_found,
    social_account_get_for_creator,
    social_account_list_for_creator,
)
from .social import (
    post_target_usage_for_account,
    social_account_get_for_caller,
    social_account_to_change_for_caller,
    social_accounts_by_platform_for_caller,
)
from .workspaces import (
    api_key_get_for_workspace,
    api_key_list_for_workspace,
    membership_get_for_user,
    membership_list_for_workspace,
    workspace_list_for_user,
)

__all__ = [
    "CREATOR_LIST_LIMIT",
    "api_key_get_for_workspace",
    "api_key_list_for_workspace",
    "creator_profile_get",
    "creator_social_not_found",
    "membership_get_for_user",
    "membership_list_for_workspace",
    "post_target_usage_for_account",
    "social_account_get_for_caller",
    "social_account_get_for_creator",
    "social_account_list_for_creator",
    "social_account_to_change_for_caller",
    "social_accounts_by_platform_for_caller",
    "workspace_list_for_user",
]
