from django.urls import path

from .views import auth, creator

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
]
