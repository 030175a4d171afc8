"""Who sees which sites on the Live page: the Superset roles mapped as row-level security
maps them, and a session cookie that cannot be forged, altered or used after it expires."""

from __future__ import annotations

import time

import pytest

from clickpulse.gateway.auth import Cookies, SignInError, User, scope


@pytest.mark.parametrize("roles,sites", [
    ({"Admin"}, None),
    ({"Analyst"}, None),
    ({"Viewer"}, None),
    ({"Site viewer", "Site site-1"}, {"site-1"}),
    ({"Site viewer", "Site site-1", "Site site-2"}, {"site-1", "site-2"}),
    # Superset applies a site rule to everyone holding its role, admins too
    ({"Admin", "Site site-3"}, {"site-3"}),
])
def test_roles_give_the_sites_row_level_security_gives(roles, sites):
    assert scope(roles) == (None if sites is None else frozenset(sites))


@pytest.mark.parametrize("roles", [set(), {"Public"}, {"Site viewer"}, {"Gamma"}])
def test_a_user_without_a_dashboard_role_or_a_site_may_not_sign_in(roles):
    with pytest.raises(SignInError) as e:
        scope(roles)
    assert e.value.status == 403


def test_the_cookie_carries_the_scope_and_nothing_else_opens_it():
    cookies = Cookies("secret-one")
    user = User("viewer_site1", frozenset({"site-1"}))
    sealed = cookies.seal(user)
    assert cookies.open(sealed) == user
    assert Cookies("secret-two").open(sealed) is None
    body, sig = sealed.rsplit(".", 1)
    widened = Cookies("secret-one").seal(User("viewer_site1", None)).rsplit(".", 1)[0]
    assert cookies.open(widened + "." + sig) is None   # another scope under the old signature
    assert cookies.open(body + "." + ("A" if sig[0] != "A" else "B") + sig[1:]) is None
    assert cookies.open("") is None and cookies.open("garbage") is None


def test_the_cookie_expires():
    cookies = Cookies("secret")
    sealed = cookies.seal(User("admin", None), now=time.time() - 13 * 3600)
    assert cookies.open(sealed) is None
