"""Request and response shapes of the accounts API (camelCase on the wire)."""

from .auth import (
    LoginRequest,
    RefreshTokenRequest,
    RegisterRequest,
    RegisterResponse,
    TokenPairResponse,
)
from .creator import (
    ConnectRequest,
    ConnectResponse,
    ConnectStartRequest,
    ConnectStartResponse,
    CreatorProfileResponse,
    CreatorSocialItem,
    DisconnectRequest,
)
from .fields import PlatformField, PublicIdField
from .partner import (
    DisconnectReportResponse,
    LeaseReleaseResponse,
    SocialAccountItem,
    SocialAccountRead,
    SocialAccountsByPlatform,
    UsageItem,
)
from .webhooks import (
    WebhookCreated,
    WebhookCreateRequest,
    WebhookDeliveryItem,
    WebhookDeliveryPage,
    WebhookItem,
    WebhookList,
)
from .workspaces import (
    ApiKeyCreated,
    ApiKeyCreateRequest,
    ApiKeyItem,
    MemberAddRequest,
    MemberItem,
    WorkspaceCreateRequest,
    WorkspaceItem,
)

__all__ = [
    "ApiKeyCreateRequest",
    "ApiKeyCreated",
    "ApiKeyItem",
    "ConnectRequest",
    "ConnectResponse",
    "ConnectStartRequest",
    "ConnectStartResponse",
    "CreatorProfileResponse",
    "CreatorSocialItem",
    "DisconnectReportResponse",
    "DisconnectRequest",
    "LeaseReleaseResponse",
    "LoginRequest",
    "MemberAddRequest",
    "MemberItem",
    "PlatformField",
    "PublicIdField",
    "RefreshTokenRequest",
    "RegisterRequest",
    "RegisterResponse",
    "SocialAccountItem",
    "SocialAccountRead",
    "SocialAccountsByPlatform",
    "TokenPairResponse",
    "UsageItem",
    "WebhookCreateRequest",
    "WebhookCreated",
    "WebhookDeliveryItem",
    "WebhookDeliveryPage",
    "WebhookItem",
    "WebhookList",
    "WorkspaceCreateRequest",
    "WorkspaceItem",
]
