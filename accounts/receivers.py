"""Signal receivers. Deliberately none on MetricsSnapshot, InboxItem or PostTarget: a
receiver there would turn the disconnect's one-statement cascade into per-row work."""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save, pre_save


def social_metrics_changed(sender, instance, **kwargs) -> None:
    from .services.followers import creator_followers_recompute_for_account

    creator_followers_recompute_for_account(social_account_id=instance.social_account_id)


def user_saved(sender, instance, created, raw=False, **kwargs) -> None:
    if created and not raw:
        from .services.users import user_personal_space_ensure

        user_personal_space_ensure(user=instance)


def outstanding_token_saving(sender, instance, raw=False, **kwargs) -> None:
    """simplejwt's blacklist would store each refresh token whole; revoking one needs only
    its ``jti`` and expiry, so a database snapshot yields no usable token."""
    instance.token = ""


def connect_receivers() -> None:
    from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

    from .models import SocialMetrics, User

    pre_save.connect(
        outstanding_token_saving, sender=OutstandingToken, dispatch_uid="outstanding_token"
    )

    post_save.connect(user_saved, sender=User, dispatch_uid="user_saved_personal_space")

    post_save.connect(
        social_metrics_changed, sender=SocialMetrics, dispatch_uid="social_metrics_saved"
    )
    post_delete.connect(
        social_metrics_changed, sender=SocialMetrics, dispatch_uid="social_metrics_deleted"
    )
