from .audit import AuditEvent
from .base import PublicIdModel
from .idempotency import IdempotencyRecord
from .keys import ApiKey, KillSwitch
from .oauth import OAuthState
from .sandbox import SandboxAccount, SandboxCredential, SandboxPost
from .social import (
    InboxItem,
    Lease,
    MetricsSnapshot,
    Platform,
    SocialAccount,
    SocialMetrics,
    TokenRevocation,
)
from .users import CreatorProfile, Membership, User, UserManager, Workspace
from .webhooks import WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey",
    "AuditEvent",
    "CreatorProfile",
    "IdempotencyRecord",
    "InboxItem",
    "KillSwitch",
    "Lease",
    "Membership",
    "MetricsSnapshot",
    "OAuthState",
    "Platform",
    "PublicIdModel",
    "SandboxAccount",
    "SandboxCredential",
    "SandboxPost",
    "SocialAccount",
    "SocialMetrics",
    "TokenRevocation",
    "User",
    "UserManager",
    "WebhookDelivery",
    "WebhookEndpoint",
    "Workspace",
]
