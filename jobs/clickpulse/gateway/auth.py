"""Sign-in with the Superset users and roles, and the gateway's signed session cookie.

The password is checked by Superset itself (`/api/v1/security/login`, provider db), then the
user's roles are read with the token it returns (`/api/v1/me/roles/`). Roles map to the
sites a user may see exactly as Superset's row-level security does (dashboards/rls.py):
a user holding a role `Site <site_id>` sees only those sites (Superset applies a rule to
anyone holding its role, admins included); otherwise Admin, Analyst and Viewer see every
site. Any other user may not sign in here. The gateway keeps no user store: the scope is
sealed into an HMAC-signed cookie, so any replica with the same secret accepts it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from dataclasses import dataclass

import httpx

from ..dashboards.roles import ANALYST, SITE_VIEWER, VIEWER, site_role
from ..settings import Settings

COOKIE = "clickpulse_live"
SESSION_SECONDS = 12 * 3600
ALL_SITES_ROLES = {"Admin", ANALYST, VIEWER}
SITE_ROLE_PREFIX = site_role("")


class SignInError(Exception):
    def __init__(self, message: str, status: int):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class User:
    name: str
    sites: frozenset[str] | None   # None: every site

    @property
    def label(self) -> str:
        return "all sites" if self.sites is None else ", ".join(sorted(self.sites))


def scope(roles: set[str]) -> frozenset[str] | None:
    """The sites a holder of `roles` sees in Superset; raises when none."""
    sites = frozenset(r[len(SITE_ROLE_PREFIX):] for r in roles
                      if r.startswith(SITE_ROLE_PREFIX) and r != SITE_VIEWER)
    if sites:
        return sites
    if roles & ALL_SITES_ROLES:
        return None
    raise SignInError("this user has no role that may open dashboards (Admin, Analyst, Viewer or Site <site>)", 403)


async def sign_in(client: httpx.AsyncClient, superset_url: str, username: str, password: str) -> User:
    base = superset_url.rstrip("/")
    try:
        r = await client.post(base + "/api/v1/security/login",
                              json={"username": username, "password": password, "provider": "db", "refresh": False})
    except httpx.HTTPError as e:
        raise SignInError(f"Superset at {base} (SUPERSET_URL) cannot be reached: {e}", 503) from e
    if r.status_code in (400, 401, 403):
        raise SignInError("wrong username or password", 401)
    if r.status_code != 200:
        raise SignInError(f"Superset answered {r.status_code} to the sign-in", 502)
    token = r.json()["access_token"]
    r = await client.get(base + "/api/v1/me/roles/", headers={"Authorization": f"Bearer {token}"})
    if r.status_code != 200:
        raise SignInError(f"Superset answered {r.status_code} when asked for the user's roles", 502)
    roles = set((r.json().get("result") or {}).get("roles") or {})
    return User(username, scope(roles))


class Cookies:
    """`<base64 json>.<hmac-sha256>`: the user, their sites and an expiry."""

    def __init__(self, secret: str):
        self.key = secret.encode()

    def _sign(self, body: bytes) -> str:
        return base64.urlsafe_b64encode(hmac.new(self.key, body, hashlib.sha256).digest()).decode().rstrip("=")

    def seal(self, user: User, now: float | None = None) -> str:
        body = json.dumps({"u": user.name, "s": None if user.sites is None else sorted(user.sites),
                           "e": int((now or time.time()) + SESSION_SECONDS)}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(body).decode().rstrip("=") + "." + self._sign(body)

    def open(self, value: str | None, now: float | None = None) -> User | None:
        if not value or "." not in value:
            return None
        encoded, sig = value.rsplit(".", 1)
        try:
            body = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
        except ValueError:
            return None
        if not hmac.compare_digest(sig, self._sign(body)):
            return None
        data = json.loads(body)
        if data["e"] < (now or time.time()):
            return None
        return User(data["u"], None if data["s"] is None else frozenset(data["s"]))


def session_secret(settings: Settings) -> str:
    """GATEWAY_SECRET_KEY, or one derived from SUPERSET_SECRET_KEY (so a deployment that
    shares Superset's secret with its gateways needs no second one)."""
    if settings.gateway_secret_key:
        return settings.gateway_secret_key
    settings.require("superset_secret_key")
    return hmac.new(settings.superset_secret_key.encode(), b"clickpulse-gateway-session", hashlib.sha256).hexdigest()
