"""The soak's clients: threads, each with its own ``requests`` session and seeded random
generator, acting as a creator (a user's JWT) or a partner (a workspace API key) and doing a
weighted random mix of operations until a deadline.

Every answer is recorded per operation (status, latency). Besides, each client counts what
the invariant checks compare with the database: the disconnects, connects and posts it was
told succeeded (an idempotent replay is not counted again) and the replays whose answer
differed from the first one. Nothing here imports Django: the clients only speak HTTP.
"""

from __future__ import annotations

import random
import threading
import time
import traceback
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

API = "/api/v1"
PLATFORMS = (
    "instagram",
    "facebook_page",
    "x",
    "linkedin_person",
    "linkedin_company",
    "tiktok_business",
    "tiktok_personal",
    "youtube",
    "pinterest",
    "threads",
    "bluesky",
)
API_KEY_SCOPES = ["social:read", "social:write", "posts:read", "posts:write"]
# The platform sends the browser here with code and state; the clients read the redirect
# and never follow it.
REDIRECT_URI = "http://127.0.0.1:9/soak/callback"
TIMEOUT = 60  # seconds; a request without an answer by then is a failure
KEYED = 0.3  # share of writes sent with an Idempotency-Key
REPLAYED = 0.5  # share of those sent a second time with the same key
SOON_SECONDS = (3, 20)  # posts the worker publishes during the run
LATER_SECONDS = (3600, 7 * 86400)  # posts a disconnect cancels, or that stay queued
SAMPLES = 5  # 5xx bodies and client exceptions kept for the report


@dataclass
class Operation:
    statuses: Counter = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)


@dataclass
class Seen:
    """What the clients saw: the writes they were told succeeded, each once (an idempotent
    replay is not counted again), and the answers that must not happen."""

    disconnects: int = 0
    connects: int = 0
    posts_created: int = 0
    server_errors: int = 0
    transport_errors: int = 0  # no answer within TIMEOUT, or no connection
    client_errors: int = 0  # an exception in a client's own code
    replay_mismatches: int = 0

    def add(self, other: Seen) -> None:
        for counter in fields(self):
            setattr(self, counter.name, getattr(self, counter.name) + getattr(other, counter.name))


@dataclass
class Tally:
    """One client's record; ``merge`` adds another's."""

    operations: dict[str, Operation] = field(default_factory=lambda: defaultdict(Operation))
    seen: Seen = field(default_factory=Seen)
    soon_due_until: float = 0.0  # latest time (epoch) a post was scheduled to publish
    samples: list[str] = field(default_factory=list)
    # The first body of each (operation, status) other than 2xx: what the 4xx were.
    examples: dict[str, str] = field(default_factory=dict)

    def record(self, op: str, response: requests.Response, seconds: float) -> None:
        operation = self.operations[op]
        operation.statuses[response.status_code] += 1
        operation.latencies_ms.append(seconds * 1000)
        if not 200 <= response.status_code < 400:
            self.examples.setdefault(f"{op} {response.status_code}", response.text[:300])
        if response.status_code >= 500:
            self.seen.server_errors += 1
            self.sample(
                f"{op}: {response.status_code} "
                f"(correlation {response.headers.get('X-Correlation-ID', '-')}) "
                f"{response.text[:600]}"
            )

    def failed(self, op: str, exc: Exception) -> None:
        self.operations[op].statuses["no answer"] += 1
        self.seen.transport_errors += 1
        self.sample(f"{op}: no answer: {exc!r}")

    def sample(self, text: str) -> None:
        if len(self.samples) < SAMPLES:
            self.samples.append(text)

    def merge(self, other: Tally) -> None:
        for op, theirs in other.operations.items():
            mine = self.operations[op]
            mine.statuses.update(theirs.statuses)
            mine.latencies_ms += theirs.latencies_ms
        self.seen.add(other.seen)
        self.soon_due_until = max(self.soon_due_until, other.soon_due_until)
        self.examples = {**other.examples, **self.examples}
        self.samples += other.samples[: max(0, SAMPLES * 4 - len(self.samples))]


def _fresh_success(response: requests.Response | None) -> bool:
    """A 2xx that did the work (not an idempotent replay of an earlier answer)."""
    return (
        response is not None
        and 200 <= response.status_code < 300
        and response.headers.get("Idempotent-Replayed") != "true"
    )


def _data(response: requests.Response | None):
    if response is None or not 200 <= response.status_code < 300:
        return None
    return response.json().get("data")


class Client:
    """A session against the API with its bearer credential (a JWT or an API key)."""

    weights: dict[str, int] = {}

    def __init__(self, base_url: str, name: str, rng: random.Random) -> None:
        self.base_url, self.name, self.rng = base_url, name, rng
        self.session = requests.Session()
        self.tally = Tally()
        self.bearer = ""
        self.requests = 0
        # What the last list showed: active account ids by workspace, and every account.
        self.schedulable: dict[str, list[str]] = {}
        self.accounts: list[dict] = []

    # HTTP -------------------------------------------------------------------------------

    def request(
        self,
        op: str,
        method: str,
        path: str,
        *,
        body: dict | None = None,
        params: dict | None = None,
        key: str | None = None,
        authenticated: bool = True,
    ) -> requests.Response | None:
        self.requests += 1
        headers = {"X-Correlation-ID": f"soak-{self.name}-{self.requests}"}
        if authenticated:
            headers["Authorization"] = f"Bearer {self.bearer}"
        if key is not None:
            headers["Idempotency-Key"] = key
        url = path if path.startswith("http") else f"{self.base_url}{API}{path}"
        started = time.perf_counter()
        try:
            response = self.session.request(
                method,
                url,
                json=body,
                params=params,
                headers=headers,
                timeout=TIMEOUT,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            self.tally.failed(op, exc)
            return None
        self.tally.record(op, response, time.perf_counter() - started)
        if response.status_code == 401 and authenticated:
            self.reauthenticate()
        return response

    def reauthenticate(self) -> None:
        """What a client does when its credential is refused (an API key cannot)."""

    def write(
        self, op: str, method: str, path: str, **request
    ) -> tuple[requests.Response | None, int]:
        """A write, sometimes under an Idempotency-Key and then sometimes sent again with it.
        Returns the first answer and how many answers did the work (replays excluded). A
        replay of a 2xx must repeat it exactly, marked ``Idempotent-Replayed``."""
        if self.rng.random() >= KEYED:
            first = self.request(op, method, path, **request)
            return first, int(_fresh_success(first))
        key = f"soak-{uuid.UUID(int=self.rng.getrandbits(128))}"
        first = self.request(op, method, path, key=key, **request)
        done = int(_fresh_success(first))
        if first is None or self.rng.random() >= REPLAYED:
            return first, done
        replay = self.request(f"{op} (replay)", method, path, key=key, **request)
        done += int(_fresh_success(replay))
        if 200 <= first.status_code < 300 and (
            replay is None
            or replay.status_code != first.status_code
            or replay.headers.get("Idempotent-Replayed") != "true"
            or replay.json() != first.json()
        ):
            self.tally.seen.replay_mismatches += 1
            self.tally.sample(
                f"{op}: replay differed: {first.text[:300]} / {replay and replay.text}"
            )
        return first, done

    # Operations both kinds of client do ----------------------------------------------------

    def list_accounts(self) -> None:
        data = _data(self.request("GET social-accounts", "GET", "/social-accounts"))
        if data is None:
            return
        self.accounts = [acc for group in data["socialAccounts"].values() for acc in group]
        schedulable = defaultdict(list)
        for account in self.accounts:
            if account["status"] == "active":
                schedulable[account["workspaceId"]].append(account["id"])
        self.schedulable = dict(schedulable)

    def list_posts(self) -> None:
        params = {"limit": self.rng.choice([5, 20, 50])}
        if self.rng.random() < 0.5:
            params["status"] = self.rng.choice(["queued", "published", "canceled", "failed"])
        self.request("GET scheduled-posts", "GET", "/scheduled-posts", params=params)

    def schedule(self) -> None:
        """A post to 1-3 active accounts of one workspace: due within seconds (the worker
        publishes it) or hours to days ahead (it stays queued, or a disconnect cancels it)."""
        if not self.schedulable:
            return self.list_accounts()
        workspace = self.rng.choice(sorted(self.schedulable))
        candidates = self.schedulable[workspace]
        targets = self.rng.sample(candidates, self.rng.randint(1, min(3, len(candidates))))
        soon = self.rng.random() < 0.5
        seconds = self.rng.uniform(*(SOON_SECONDS if soon else LATER_SECONDS))
        when = datetime.now(UTC) + timedelta(seconds=seconds)
        body = {
            "text": f"soak {self.name} {self.requests}",
            "scheduledAt": when.isoformat(),
            "socialAccountIds": targets,
        }
        response, done = self.write("POST scheduled-posts", "POST", "/scheduled-posts", body=body)
        self.tally.seen.posts_created += done
        if response is not None and response.status_code == 201 and soon:
            self.tally.soon_due_until = max(self.tally.soon_due_until, when.timestamp())
        return None

    # Running ------------------------------------------------------------------------------

    def start(self) -> None:
        """What a client reads before its first random operation."""
        self.list_accounts()

    def run(self, deadline: float) -> None:
        names, weights = list(self.weights), list(self.weights.values())
        while time.monotonic() < deadline:
            operation = self.rng.choices(names, weights)[0]
            try:
                getattr(self, operation)()
            except Exception:  # noqa: BLE001 - a bug in the client is reported, not fatal
                self.tally.seen.client_errors += 1
                self.tally.sample(f"client {self.name} in {operation}: {traceback.format_exc()}")


class Creator(Client):
    """A creator: connects through the sandbox's OAuth flow, disconnects, lists, schedules,
    cancels and refreshes its JWT. ``handle_prefix`` + platform names its upstream accounts,
    so a reconnect finds the same one."""

    weights = {
        "connect": 14,
        "disconnect": 9,
        "list_mine": 10,
        "list_accounts": 10,
        "list_posts": 6,
        "profile": 5,
        "schedule": 16,
        "cancel": 3,
        "refresh": 5,
    }

    def __init__(self, base_url, name, rng, *, email, password, handle_prefix, workspace):
        super().__init__(base_url, name, rng)
        self.email, self.password = email, password
        self.handle_prefix, self.workspace = handle_prefix, workspace
        self.refresh_token = ""
        self.user_id = ""
        self.connected: set[str] = set()
        self.posts: list[str] = []

    def login(self) -> None:
        body = {"email": self.email, "password": self.password}
        data = _data(
            self.request("POST auth/login", "POST", "/auth/login", body=body, authenticated=False)
        )
        if data is None:
            raise RuntimeError(f"{self.email} cannot log in")
        self.bearer, self.refresh_token = data["accessToken"], data["refreshToken"]

    def reauthenticate(self) -> None:
        self.login()

    def start(self) -> None:
        self.login()
        self.user_id = _data(self.request("GET creators/profile", "GET", "/creators/profile"))["id"]
        self.list_mine()
        super().start()

    def connect(self) -> None:
        """connect/start, the sandbox's authorize step (its redirect read, not followed),
        then connect with the code and state. Mostly a platform not connected yet; else a
        re-authorisation, or now and then another upstream account (a 409)."""
        free = [platform for platform in PLATFORMS if platform not in self.connected]
        if free and self.rng.random() < 0.85:
            platform = self.rng.choice(free)
        else:
            platform = self.rng.choice(PLATFORMS)
        handle = self.handle_prefix + platform
        if self.rng.random() < 0.05:
            handle += "_other"
        body = {"platform": platform, "redirectUri": REDIRECT_URI}
        if self.rng.random() < 0.5:
            body["workspace"] = self.workspace
        start = _data(
            self.request(
                "POST creators/social/connect/start",
                "POST",
                "/creators/social/connect/start",
                body=body,
            )
        )
        if start is None:
            return
        upstream = {"sandbox_user": handle, "sandbox_followers": self.rng.randint(0, 100_000)}
        authorized = self.request(
            "GET sandbox/oauth/authorize",
            "GET",
            f"{start['authorizationUrl']}&{urlencode(upstream)}",
            authenticated=False,
        )
        if authorized is None or authorized.status_code != 302:
            return
        query = parse_qs(urlsplit(authorized.headers["Location"]).query)
        response, done = self.write(
            "POST creators/social/connect",
            "POST",
            "/creators/social/connect",
            body={"platform": platform, "code": query["code"][0], "state": query["state"][0]},
        )
        self.tally.seen.connects += done
        if response is not None and response.status_code == 200:
            self.connected.add(platform)

    def disconnect(self) -> None:
        if self.connected and self.rng.random() < 0.9:
            platform = self.rng.choice(sorted(self.connected))
        else:
            platform = self.rng.choice(PLATFORMS)
        response, done = self.write(
            "POST creators/social/disconnect",
            "POST",
            "/creators/social/disconnect",
            body={"platform": platform},
        )
        self.tally.seen.disconnects += done
        if response is not None and response.status_code in (200, 404):
            self.connected.discard(platform)

    def list_mine(self) -> None:
        data = _data(self.request("GET creators/social", "GET", "/creators/social"))
        if data is not None:
            self.connected = {account["platform"] for account in data}

    def profile(self) -> None:
        self.request("GET creators/profile", "GET", "/creators/profile")

    def posts_seen(self) -> None:
        data = _data(
            self.request(
                "GET scheduled-posts",
                "GET",
                "/scheduled-posts",
                params={"status": "queued", "limit": 20},
            )
        )
        if data is not None:
            mine = [post for post in data["scheduledPosts"] if post["authorId"] == self.user_id]
            self.posts = [post["id"] for post in mine]

    def cancel(self) -> None:
        if not self.posts:
            return self.posts_seen()
        post = self.posts.pop(self.rng.randrange(len(self.posts)))
        self.write("POST scheduled-posts/{id}/cancel", "POST", f"/scheduled-posts/{post}/cancel")
        return None

    def refresh(self) -> None:
        data = _data(
            self.request(
                "POST auth/refresh",
                "POST",
                "/auth/refresh",
                body={"refreshToken": self.refresh_token},
                authenticated=False,
            )
        )
        if data is None:
            return self.login()
        self.bearer, self.refresh_token = data["accessToken"], data["refreshToken"]
        return None


class Partner(Client):
    """A workspace's API key: lists, reads, schedules, disconnects (sometimes a dry run)
    and releases leased accounts (``leased``: ids seeded with an open lease)."""

    weights = {
        "list_accounts": 20,
        "detail": 10,
        "list_posts": 8,
        "schedule": 14,
        "disconnect": 10,
        "release_lease": 4,
    }

    def __init__(self, base_url, name, rng, *, key: str, leased: set[str]):
        super().__init__(base_url, name, rng)
        self.bearer, self.leased = key, leased

    def _pick(self, among: list[str]) -> str | None:
        return self.rng.choice(among) if among else None

    def detail(self) -> None:
        account = self._pick([account["id"] for account in self.accounts])
        if account is not None:
            self.request("GET social-accounts/{id}", "GET", f"/social-accounts/{account}")

    def disconnect(self) -> None:
        account = self._pick([account["id"] for account in self.accounts])
        if account is None:
            return self.list_accounts()
        dry_run = self.rng.random() < 0.2
        response, done = self.write(
            "DELETE social-accounts/{id}" + ("?dryRun" if dry_run else ""),
            "DELETE",
            f"/social-accounts/{account}",
            params={"dryRun": "true"} if dry_run else None,
        )
        if not dry_run:
            self.tally.seen.disconnects += done
            if response is not None and response.status_code in (200, 404):
                self.accounts = [acc for acc in self.accounts if acc["id"] != account]
        return None

    def release_lease(self) -> None:
        account = self._pick(sorted({acc["id"] for acc in self.accounts} & self.leased))
        if account is None:
            return
        response, done = self.write(
            "DELETE leased-accounts/{id}", "DELETE", f"/leased-accounts/{account}"
        )
        self.tally.seen.disconnects += done
        if response is not None and response.status_code in (200, 404):
            self.leased.discard(account)


@dataclass(frozen=True)
class Population:
    """Who the clients are: the workspace's owner (who creates keys and adds members), the
    seeded creators' e-mail addresses and handle prefixes, and the leased account ids."""

    workspace: str
    owner_email: str
    password: str
    seeded_creators: list[tuple[str, str]]
    leased: set[str]


def _setup_call(owner: Client, op: str, path: str, body: dict) -> dict:
    data = _data(owner.request(op, "POST", path, body=body))
    if data is None:
        raise RuntimeError(f"setup failed: {op} {body}: {owner.tally.samples[-1:]}")
    return data


def prepare(
    base_url: str, population: Population, *, clients: int, seed: int, run_tag: str
) -> tuple[list[Client], Tally]:
    """The clients, every fourth a partner with an API key of its own, the other creators
    alternately a seeded one and one registered now (and added to the workspace as a
    member). Returns them, started, and the setup's own tally."""
    owner = Creator(
        base_url,
        "owner",
        random.Random(f"{seed}-owner"),
        email=population.owner_email,
        password=population.password,
        handle_prefix="owner-",
        workspace=population.workspace,
    )
    owner.login()
    members = f"/workspaces/{population.workspace}/members"
    keys = f"/workspaces/{population.workspace}/api-keys"
    seeded = iter(population.seeded_creators)
    prepared: list[Client] = []
    for index in range(clients):
        rng = random.Random(f"{seed}-{index}")
        name = f"c{index}"
        if index % 4 == 3:
            body = {"name": f"soak partner {index}", "scopes": API_KEY_SCOPES}
            key = _setup_call(owner, "POST workspaces/{id}/api-keys", keys, body)["key"]
            prepared.append(Partner(base_url, name, rng, key=key, leased=set(population.leased)))
            continue
        email, prefix = next(seeded, (None, None)) if index % 2 == 0 else (None, None)
        password = population.password
        if email is None:
            email, prefix = f"{run_tag}-{index}@soak.local", f"{run_tag}-{index}-"
            password = f"soak-{uuid.UUID(int=rng.getrandbits(128)).hex}"
            body = {"email": email, "password": password, "name": f"Soak creator {index}"}
            _setup_call(owner, "POST auth/register", "/auth/register", body)
            body = {"email": email, "role": "member"}
            _setup_call(owner, "POST workspaces/{id}/members", members, body)
        prepared.append(
            Creator(
                base_url,
                name,
                rng,
                email=email,
                password=password,
                handle_prefix=prefix,
                workspace=population.workspace,
            )
        )
    for client in prepared:
        client.start()
    return prepared, owner.tally


def run(clients: list[Client], *, seconds: float) -> Tally:
    """Every client in its own thread for ``seconds``; their tallies merged."""
    deadline = time.monotonic() + seconds
    threads = [
        threading.Thread(target=client.run, args=(deadline,), name=f"soak-{client.name}")
        for client in clients
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    total = Tally()
    for client in clients:
        total.merge(client.tally)
    return total
