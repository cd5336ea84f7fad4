from django.urls import path

from .views import audit, auth, creator, partner, webhooks, workspaces

urlpatterns = [
    path("auth/register", auth.RegisterView.as_view(), name="auth-register"),
    path("auth/login", auth.LoginView.as_view(), name="auth-login"),
    path("auth/refresh", auth.RefreshView.as_view(), name="auth-refresh"),
    path("auth/logout", auth.LogoutView.as_view(), name="auth-logout"),
    path("creators/social", creator.CreatorSocialListView.as_view(), name="creator-social-list"),
    path(
        "creators/social/connect/start",
        creator.CreatorSocialConnectStartView.as_view(),
        name="creator-social-connect-start",
    ),
    path(
        "creators/social/connect",
        creator.CreatorSocialConnectView.as_view(),
        name="creator-social-connect",
    ),
    path(
        "creators/social/disconnect",
        creator.CreatorSocialDisconnectView.as_view(),
        name="creator-social-disconnect",
    ),
    path("creators/profile", creator.CreatorProfileView.as_view(), name="creator-profile"),
    path("social-accounts", partner.SocialAccountListView.as_view(), name="social-account-list"),
    path(
        "social-accounts/<str:social_account_id>",
        partner.SocialAccountDetailView.as_view(),
        name="social-account-detail",
    ),
    path(
        "leased-accounts/<str:social_account_id>",
        partner.LeasedAccountView.as_view(),
        name="leased-account",
    ),
    path("audit-events", audit.AuditEventListView.as_view(), name="audit-event-list"),
    path("workspaces", workspaces.WorkspaceListView.as_view(), name="workspace-list"),
    path(
        "workspaces/<str:workspace_id>/members",
        workspaces.WorkspaceMembersView.as_view(),
        name="workspace-members",
    ),
    path(
        "workspaces/<str:workspace_id>/api-keys",
        workspaces.WorkspaceApiKeysView.as_view(),
        name="workspace-api-keys",
    ),
    path(
        "workspaces/<str:workspace_id>/api-keys/<str:api_key_id>",
        workspaces.WorkspaceApiKeyView.as_view(),
        name="workspace-api-key",
    ),
    path("webhooks", webhooks.WebhookListView.as_view(), name="webhook-list"),
    path("webhooks/<str:webhook_id>", webhooks.WebhookDetailView.as_view(), name="webhook-detail"),
    path(
        "webhooks/<str:webhook_id>/enable",
        webhooks.WebhookEnableView.as_view(),
        name="webhook-enable",
    ),
    path(
        "webhooks/<str:webhook_id>/deliveries",
        webhooks.WebhookDeliveryListView.as_view(),
        name="webhook-deliveries",
    ),
]
