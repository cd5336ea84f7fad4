"""HTTP face of the sandbox platform (mounted at /sandbox/ when SOCIALHUB_SANDBOX is on).

These views speak OAuth 2 / platform-API JSON, not the socialhub envelope: to socialhub
they are a third-party platform.
"""

from __future__ import annotations

import json

from django.http import HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.services import sandbox as sandbox_services
from accounts.services.sandbox import SandboxOAuthError

IDEMPOTENCY_KEY_MAX_LENGTH = 191  # SandboxPost.idempotency_key


def _oauth_error(exc: SandboxOAuthError) -> JsonResponse:
    response = JsonResponse(
        {"error": exc.code, "error_description": exc.description}, status=exc.status
    )
    if exc.status == 401:
        response["WWW-Authenticate"] = f'Bearer error="{exc.code}"'
    return response


def _bearer(request) -> str:
    header = request.META.get("HTTP_AUTHORIZATION", "")
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def _token_json(tokens: sandbox_services.SandboxTokens) -> JsonResponse:
    body = {
        "access_token": tokens.access_token,
        "token_type": "Bearer",
        "expires_in": tokens.expires_in,
        "scope": tokens.scope,
    }
    if tokens.refresh_token:
        body["refresh_token"] = tokens.refresh_token
    response = JsonResponse(body)
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def authorize(request):
    """Approves at once and redirects back with ``code`` and ``state``.

    ``sandbox_user=<handle>`` and ``sandbox_followers=<n>`` choose the account you get.
    """
    params = request.GET
    try:
        location = sandbox_services.sandbox_authorize(
            platform=params.get("platform", ""),
            redirect_uri=params.get("redirect_uri", ""),
            state=params.get("state", ""),
            code_challenge=params.get("code_challenge", ""),
            code_challenge_method=params.get("code_challenge_method", ""),
            response_type=params.get("response_type", ""),
            scope=params.get("scope", ""),
            handle=params.get("sandbox_user"),
            followers=params.get("sandbox_followers"),
        )
    except SandboxOAuthError as exc:
        return _oauth_error(exc)
    return HttpResponseRedirect(location)


@csrf_exempt
@require_POST
def token(request):
    data = request.POST
    grant_type = data.get("grant_type", "")
    try:
        if grant_type == "authorization_code":
            tokens = sandbox_services.sandbox_exchange_code(
                code=data.get("code", ""),
                redirect_uri=data.get("redirect_uri", ""),
                code_verifier=data.get("code_verifier", ""),
            )
        elif grant_type == "refresh_token":
            tokens = sandbox_services.sandbox_refresh(refresh_token=data.get("refresh_token", ""))
        else:
            raise SandboxOAuthError("unsupported_grant_type", "unsupported grant_type")
    except SandboxOAuthError as exc:
        return _oauth_error(exc)
    return _token_json(tokens)


@require_GET
def me(request):
    try:
        return JsonResponse(sandbox_services.sandbox_profile(access_token=_bearer(request)))
    except SandboxOAuthError as exc:
        return _oauth_error(exc)


@csrf_exempt
@require_POST
def posts(request):
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return _oauth_error(SandboxOAuthError("invalid_request", "body must be JSON"))
    if not isinstance(body, dict):
        return _oauth_error(SandboxOAuthError("invalid_request", "body must be an object"))
    text = body.get("text", "")
    media = body.get("media_urls", [])
    if not isinstance(text, str) or not isinstance(media, list):
        return _oauth_error(SandboxOAuthError("invalid_request", "text and media_urls required"))
    idempotency_key = request.headers.get("Idempotency-Key") or None
    if idempotency_key is not None and len(idempotency_key) > IDEMPOTENCY_KEY_MAX_LENGTH:
        return _oauth_error(SandboxOAuthError("invalid_request", "Idempotency-Key is too long"))
    try:
        result = sandbox_services.sandbox_publish(
            access_token=_bearer(request),
            text=text,
            media_urls=[str(m) for m in media],
            idempotency_key=idempotency_key,
        )
    except SandboxOAuthError as exc:
        return _oauth_error(exc)
    # A repeat under the same Idempotency-Key answers like the first call did.
    response = JsonResponse({"id": result["id"]}, status=201)
    if result["replayed"]:
        response["Idempotent-Replayed"] = "true"
    return response


@csrf_exempt
@require_POST
def revoke(request):
    sandbox_services.sandbox_revoke(token=request.POST.get("token", ""))
    return JsonResponse({})
