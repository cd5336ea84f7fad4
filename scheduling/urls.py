from django.urls import path

from . import views

urlpatterns = [
    path("scheduled-posts", views.ScheduledPostListView.as_view(), name="scheduled-post-list"),
    path(
        "scheduled-posts/<str:scheduled_post_id>",
        views.ScheduledPostDetailView.as_view(),
        name="scheduled-post-detail",
    ),
    path(
        "scheduled-posts/<str:scheduled_post_id>/cancel",
        views.ScheduledPostCancelView.as_view(),
        name="scheduled-post-cancel",
    ),
]
