"""A small client for Superset's REST API (`/api/v1/...`), logged in with a username and
password from the settings.

Everything `dashboards sync` does goes through this API, so it works the same against
the local Superset and one running elsewhere (docker compose, a shared server): only
SUPERSET_URL and the admin login are needed.
"""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from ..errors import ClickpulseError

try:  # prison is a Superset dependency; fall back to a tiny encoder when Superset is absent
    import prison as _prison
except ImportError:  # pragma: no cover - exercised in the docker `clickpulse` image only
    _prison = None


def rison(obj: Any) -> str:
    """Rison-encode a query (`?q=` of Superset's list endpoints)."""
    if _prison is not None:
        return _prison.dumps(obj)
    if isinstance(obj, dict):
        return "(" + ",".join(f"{k}:{rison(v)}" for k, v in obj.items()) + ")"
    if isinstance(obj, (list, tuple)):
        return "!(" + ",".join(rison(v) for v in obj) + ")"
    if obj is True:
        return "!t"
    if obj is False:
        return "!f"
    if obj is None:
        return "!n"
    if isinstance(obj, (int, float)):
        return str(obj)
    s = str(obj).replace("!", "!!").replace("'", "!'")
    return f"'{s}'"


class SupersetError(ClickpulseError):
    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class Superset:
    """A logged-in session: JWT for the API plus the session cookie and CSRF token that
    Superset wants on every state-changing request."""

    def __init__(self, url: str, username: str, password: str, *, timeout: float = 120):
        self.url = url.rstrip("/")
        self.username = username
        self._http = httpx.Client(base_url=self.url, timeout=timeout, follow_redirects=False)
        self._login(password)

    # --- session ---------------------------------------------------------------------
    def _login(self, password: str) -> None:
        try:
            r = self._http.post("/api/v1/security/login", json={
                "username": self.username, "password": password, "provider": "db", "refresh": False})
        except httpx.HTTPError as e:
            raise SupersetError(f"cannot reach Superset at {self.url} ({type(e).__name__}): start it with "
                                "`clickpulse stack up --only superset` or set SUPERSET_URL") from None
        if r.status_code == 401:
            raise SupersetError(f"Superset at {self.url} refused the login of {self.username!r}: check the "
                                "password setting for that user (SUPERSET_*_PASSWORD)", 401)
        if r.status_code != 200:
            raise SupersetError(f"login to Superset at {self.url} failed: HTTP {r.status_code} {r.text[:200]}",
                                r.status_code)
        token = r.json()["access_token"]
        self._http.headers["Authorization"] = f"Bearer {token}"
        r = self._http.get("/api/v1/security/csrf_token/")
        if r.status_code != 200:
            raise SupersetError(f"Superset did not hand out a CSRF token to {self.username!r}: HTTP {r.status_code}",
                                r.status_code)
        self._http.headers["X-CSRFToken"] = r.json()["result"]
        # Flask-WTF checks the referrer on HTTPS; harmless on HTTP.
        self._http.headers["Referer"] = self.url + "/"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Superset:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # --- requests --------------------------------------------------------------------
    def request(self, method: str, path: str, *, ok=(200, 201), **kw) -> httpx.Response:
        r = self._http.request(method, path, **kw)
        if r.status_code not in ok:
            raise SupersetError(f"Superset {method} {path} -> HTTP {r.status_code}: {_message(r)}", r.status_code)
        return r

    def get(self, path: str, **kw) -> Any:
        return self.request("GET", path, **kw).json()

    def post(self, path: str, body: Any = None, **kw) -> Any:
        return self.request("POST", path, json=body, **kw).json()

    def put(self, path: str, body: Any, **kw) -> Any:
        return self.request("PUT", path, json=body, **kw).json()

    def delete(self, path: str, **kw) -> None:
        self.request("DELETE", path, ok=(200, 204), **kw)

    def list(self, resource: str, *, filters: list[dict] | None = None, columns: list[str] | None = None,
             page_size: int = 100, order_column: str | None = None) -> list[dict]:
        """Every row of a list endpoint (`/api/v1/<resource>/`), page by page. Give an
        order_column on tables that may change while being read: without an ORDER BY,
        PostgreSQL pages of an updated table can skip or repeat rows."""
        out: list[dict] = []
        page = 0
        while True:
            q: dict[str, Any] = {"page": page, "page_size": page_size}
            if filters:
                q["filters"] = filters
            if columns:
                q["columns"] = columns
            if order_column:
                q["order_column"], q["order_direction"] = order_column, "asc"
            data = self.get(f"/api/v1/{resource}/", params={"q": rison(q)})
            rows = data.get("result", [])
            out.extend(rows)
            if len(rows) < page_size or len(out) >= data.get("count", len(out)):
                return out
            page += 1


def _message(r: httpx.Response) -> str:
    try:
        body = r.json()
    except json.JSONDecodeError:
        return r.text[:300].replace("\n", " ")
    msg = body.get("message") or body.get("errors") or body
    return json.dumps(msg)[:500] if not isinstance(msg, str) else msg[:500]


def wait_until_healthy(url: str, timeout: float = 120) -> None:
    """Superset answers /health once its workers are up."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        try:
            r = httpx.get(url.rstrip("/") + "/health", timeout=5)
            if r.status_code == 200:
                return
            last = f"HTTP {r.status_code}"
        except httpx.HTTPError as e:
            last = type(e).__name__
        time.sleep(2)
    raise SupersetError(f"Superset at {url} is not healthy after {timeout:.0f}s ({last}): start it with "
                        "`clickpulse stack up --only superset` or set SUPERSET_URL")


def admin_session(settings) -> Superset:
    settings.require("superset_admin_password")
    wait_until_healthy(settings.superset_url)
    return Superset(settings.superset_url, settings.superset_admin_user, settings.superset_admin_password)
