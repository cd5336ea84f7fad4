from django.urls import path

from .views import sandbox

app_name = "sandbox"

urlpatterns = [
    path("oauth/authorize", sandbox.authorize, name="authorize"),
    path("oauth/token", sandbox.token, name="token"),
    path("oauth/revoke", sandbox.revoke, name="revoke"),
    path("api/me", sandbox.me, name="me"),
    path("api/posts", sandbox.posts, name="posts"),
]
