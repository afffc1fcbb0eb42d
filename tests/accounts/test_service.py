"""Users, passwords, logins with lockout, API tokens and console sessions (both backends)."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Literal

import pytest
import sqlalchemy as sa
from argon2 import PasswordHasher
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from accounts.conftest import PASSWORD, T0, Clock, cheap_hasher
from epicity.accounts.errors import (
    AccountLocked,
    AuthenticationFailed,
    InvalidField,
    SessionInvalid,
    TokenInvalid,
    UsernameTaken,
    UserNotFound,
)
from epicity.accounts.models import ApiToken, ConsoleSession, LoginFailure, User
from epicity.accounts.service import (
    AccountPolicy,
    authenticate,
    change_password,
    check_csrf,
    count_failures,
    create_session,
    create_user,
    deactivate_user,
    get_user,
    issue_token,
    list_tokens,
    list_users,
    resolve_session,
    resolve_token,
    revoke_session,
    revoke_token,
)
from epicity.db import session_scope

Sessions = sessionmaker[Session]


def add_user(
    sessions: Sessions,
    policy: AccountPolicy,
    username: str = "Kim.Investigator",
    role: str = "investigator",
    **kwargs: object,
) -> User:
    with session_scope(sessions) as s:
        return create_user(
            s, username=username, password=PASSWORD, role=role, policy=policy, **kwargs
        )  # type: ignore[arg-type]


# -- users and validation -----------------------------------------------------------------


def test_create_user_stores_an_argon2id_hash_and_defaults(
    sessions: Sessions, policy: AccountPolicy
) -> None:
    user = add_user(sessions, policy)
    with sessions() as s:
        stored = s.get(User, user.id)
        assert stored is not None
        assert stored.username == "Kim.Investigator"
        assert stored.username_key == "kim.investigator"
        assert stored.display_name == "Kim.Investigator"
        assert stored.active is True
        assert stored.created_at == T0
        assert stored.last_login_at is None
        assert stored.person_id is None
        assert stored.password_hash.startswith("$argon2id$")
        assert PASSWORD not in stored.password_hash
        assert "argon2" not in repr(stored)
        assert get_user(s, username="KIM.INVESTIGATOR") == stored
        assert get_user(s, username="nobody") is None


def test_usernames_are_unique_regardless_of_case(sessions: Sessions, policy: AccountPolicy) -> None:
    add_user(sessions, policy, username="kim")
    with pytest.raises(UsernameTaken, match="'KIM' is taken"), session_scope(sessions) as s:
        create_user(s, username="KIM", password=PASSWORD, role="analyst", policy=policy)
    # the database enforces it too, whatever the service checks
    twin = User(
        username="Kim", username_key="kim", display_name="x", role="analyst",
        password_hash="x", active=True, created_at=T0,
    )  # fmt: skip
    with pytest.raises(IntegrityError), session_scope(sessions) as s:
        s.add(twin)


@pytest.mark.parametrize(
    ("fields", "field", "message"),
    [
        ({"username": "ab"}, "username", "3 to 64 characters"),
        ({"username": "x" * 65}, "username", "3 to 64 characters"),
        ({"username": "kim lee"}, "username", "may contain only"),
        ({"username": ".kim"}, "username", "start with a letter or digit"),
        ({"username": "kïm"}, "username", "ASCII"),
        ({"password": "short1A!"}, "password", "at least 12 characters"),
        ({"password": "a" * 1025}, "password", "at most 1024"),
        ({"password": "alllowercaseletters"}, "password", "two kinds"),
        ({"password": "123456789012345"}, "password", "two kinds"),
        ({"username": "kim.lee.2020", "password": "KIM.LEE.2020"}, "password", "not be the"),
        ({"role": "superuser"}, "role", "unknown role 'superuser'"),
        ({"role": "public"}, "role", "unknown role"),
        ({"role": "citizen"}, "person_id", "needs the person id"),
        ({"role": "citizen", "person_id": -1}, "person_id", "non-negative"),
        ({"role": "analyst", "person_id": 5}, "person_id", "only citizen accounts"),
        ({"display_name": "  "}, "display_name", "must not be empty"),
        ({"display_name": "a\x00b"}, "display_name", "control characters"),
        ({"display_name": "x" * 201}, "display_name", "at most 200"),
    ],
)
def test_validation_errors_name_the_field(
    session: Session, policy: AccountPolicy, fields: dict[str, object], field: str, message: str
) -> None:
    args: dict[str, object] = {"username": "kim", "password": PASSWORD, "role": "investigator"}
    args.update(fields)
    with pytest.raises(InvalidField, match=message) as caught:
        create_user(session, policy=policy, **args)  # type: ignore[arg-type]
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}: ")
    assert session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_citizen_has_a_person_id_and_one_account_per_person(
    sessions: Sessions, policy: AccountPolicy
) -> None:
    user = add_user(sessions, policy, username="citizen1", role="citizen", person_id=1234)
    assert user.person_id == 1234
    with pytest.raises(InvalidField, match="already belongs"), session_scope(sessions) as s:
        create_user(
            s, username="citizen2", password=PASSWORD, role="citizen", person_id=1234,
            policy=policy,
        )  # fmt: skip
    with sessions() as s:  # and the database refuses a staff account with a person id
        with pytest.raises(IntegrityError):
            s.execute(sa.update(User).where(User.id == user.id).values(role="investigator"))
        s.rollback()


def test_list_users_and_deactivate(sessions: Sessions, policy: AccountPolicy) -> None:
    add_user(sessions, policy, username="zoe", role="analyst")
    add_user(sessions, policy, username="Adam", role="admin")
    with session_scope(sessions) as s:
        assert [u.username for u in list_users(s)] == ["Adam", "zoe"]
        deactivate_user(s, username="ZOE", policy=policy)
        assert [u.username for u in list_users(s, include_inactive=False)] == ["Adam"]
        with pytest.raises(UserNotFound, match="no user named 'ghost'"):
            deactivate_user(s, username="ghost", policy=policy)


# -- passwords and logins -----------------------------------------------------------------


def test_login_round_trip_any_case_records_last_login(
    sessions: Sessions, policy: AccountPolicy, clock: Clock
) -> None:
    add_user(sessions, policy)
    clock.advance(hours=1)
    user = authenticate(sessions, username="KIM.investigator", password=PASSWORD, policy=policy)
    assert user.username == "Kim.Investigator"  # loaded, readable outside any session
    assert user.last_login_at == T0 + dt.timedelta(hours=1)
    with sessions() as s:
        assert s.get(User, user.id).last_login_at == T0 + dt.timedelta(hours=1)  # type: ignore[union-attr]


def test_wrong_password_unknown_user_and_inactive_user_fail_alike(
    sessions: Sessions, policy: AccountPolicy
) -> None:
    add_user(sessions, policy)
    add_user(sessions, policy, username="gone")
    with session_scope(sessions) as s:
        deactivate_user(s, username="gone", policy=policy)
    messages = set()
    for username, password in [
        ("kim.investigator", PASSWORD + "!"),
        ("nobody", PASSWORD),
        ("gone", PASSWORD),
        ("x", PASSWORD),  # not even a valid username
        ("kim.investigator", "y" * 5000),  # longer than any password
    ]:
        with pytest.raises(AuthenticationFailed) as caught:
            authenticate(sessions, username=username, password=password, policy=policy)
        assert not isinstance(caught.value, AccountLocked)
        messages.add(str(caught.value))
    assert messages == {"wrong username or password"}


class CountingHasher(PasswordHasher):
    """A cheap argon2id hasher that records which hashes it verified."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.verified: list[str] = []

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verified.append(str(hash))
        return super().verify(hash, password)


def test_unknown_users_cost_an_argon2_verification(sessions: Sessions, clock: Clock) -> None:
    hasher = CountingHasher()
    policy = AccountPolicy(hasher=hasher, clock=clock)
    add_user(sessions, policy)
    for username in ("kim.investigator", "nobody"):
        with pytest.raises(AuthenticationFailed):
            authenticate(sessions, username=username, password="wrong password 1", policy=policy)
    assert len(hasher.verified) == 2
    assert hasher.verified[1] == policy.dummy_hash
    # the dummy hash has the same parameters as real ones
    assert hasher.verified[0].split("$")[:4] == hasher.verified[1].split("$")[:4]


def test_hash_is_upgraded_when_the_parameters_change(
    sessions: Sessions, policy: AccountPolicy, clock: Clock
) -> None:
    user = add_user(sessions, policy)
    with sessions() as s:
        old_hash = s.get(User, user.id).password_hash  # type: ignore[union-attr]
    assert "m=8,t=1,p=1" in old_hash
    stronger = AccountPolicy(hasher=cheap_hasher(time_cost=2, memory_cost=16), clock=clock)
    authenticate(sessions, username="kim.investigator", password=PASSWORD, policy=stronger)
    with sessions() as s:
        new_hash = s.get(User, user.id).password_hash  # type: ignore[union-attr]
    assert new_hash != old_hash
    assert new_hash.startswith("$argon2id$v=19$m=16,t=2,p=1$")
    # the new hash works, and is left alone at the next login
    authenticate(sessions, username="kim.investigator", password=PASSWORD, policy=stronger)
    with sessions() as s:
        assert s.get(User, user.id).password_hash == new_hash  # type: ignore[union-attr]
    # a login with the old parameters still verifies (argon2 reads them from the hash)
    authenticate(sessions, username="kim.investigator", password=PASSWORD, policy=policy)


def test_change_password(sessions: Sessions, policy: AccountPolicy) -> None:
    user = add_user(sessions, policy)
    new = "a new pass phrase 7"
    with session_scope(sessions) as s:
        opened = create_session(s, user=user, policy=policy)
    with session_scope(sessions) as s:
        with pytest.raises(AuthenticationFailed, match="current password"):
            change_password(
                s, username="kim.investigator", new_password=new, current_password="nope",
                policy=policy,
            )  # fmt: skip
        with pytest.raises(InvalidField, match="password: must be at least 12"):
            change_password(s, username="kim.investigator", new_password="short", policy=policy)
        change_password(
            s, username="kim.investigator", new_password=new, current_password=PASSWORD,
            policy=policy,
        )  # fmt: skip
    with pytest.raises(AuthenticationFailed):
        authenticate(sessions, username="kim.investigator", password=PASSWORD, policy=policy)
    authenticate(sessions, username="kim.investigator", password=new, policy=policy)
    with sessions() as s, pytest.raises(SessionInvalid, match="expired or was ended"):
        resolve_session(s, secret=opened.secret, policy=policy)  # ended by the change


def test_lockout_after_failures_in_the_window_and_its_expiry(
    sessions: Sessions, policy: AccountPolicy, clock: Clock
) -> None:
    add_user(sessions, policy)
    for _ in range(3):  # policy: 3 failures in 10 minutes
        with pytest.raises(AuthenticationFailed, match="wrong username or password"):
            authenticate(sessions, username="kim.investigator", password="bad", policy=policy)
        clock.advance(minutes=1)
    # now 3 failures at T0, +1, +2 min: locked even with the right password
    with pytest.raises(AccountLocked) as caught:
        authenticate(sessions, username="Kim.Investigator", password=PASSWORD, policy=policy)
    assert caught.value.retry_after == T0 + dt.timedelta(minutes=10)
    assert "try again after 2020-03-02T00:10:00+00:00" in str(caught.value)
    with sessions() as s:  # attempts while locked are not counted (the lock does not grow)
        assert count_failures(s, username="kim.investigator") == 3
    # the oldest failure leaves the window at T0 + 10 min: unlocked
    clock.now = T0 + dt.timedelta(minutes=10)
    user = authenticate(sessions, username="kim.investigator", password=PASSWORD, policy=policy)
    assert user.username == "Kim.Investigator"
    with sessions() as s:  # a success clears the record
        assert count_failures(s, username="kim.investigator") == 0


def test_failures_outside_the_window_do_not_lock(
    sessions: Sessions, policy: AccountPolicy, clock: Clock
) -> None:
    add_user(sessions, policy)
    for _ in range(6):
        with pytest.raises(AuthenticationFailed) as caught:
            authenticate(sessions, username="kim.investigator", password="bad", policy=policy)
        assert not isinstance(caught.value, AccountLocked)
        clock.advance(minutes=6)  # never 3 within 10 minutes
    authenticate(sessions, username="kim.investigator", password=PASSWORD, policy=policy)
    with sessions() as s:  # old failures are pruned as new ones come in
        assert s.scalar(sa.select(sa.func.count()).select_from(LoginFailure)) == 0


def test_unknown_usernames_lock_like_known_ones(sessions: Sessions, policy: AccountPolicy) -> None:
    for _ in range(3):
        with pytest.raises(AuthenticationFailed):
            authenticate(sessions, username="ghost", password="bad", policy=policy)
    with pytest.raises(AccountLocked):
        authenticate(sessions, username="GHOST", password="bad", policy=policy)


def test_failures_survive_a_callers_rollback(sessions: Sessions, policy: AccountPolicy) -> None:
    add_user(sessions, policy)
    with pytest.raises(AuthenticationFailed), session_scope(sessions):
        authenticate(sessions, username="kim.investigator", password="bad", policy=policy)
    with sessions() as s:
        assert count_failures(s, username="kim.investigator") == 1


def test_policy_is_checked() -> None:
    with pytest.raises(ValueError, match="max_failures"):
        AccountPolicy(max_failures=0)
    with pytest.raises(ValueError, match="session_ttl must be positive"):
        AccountPolicy(session_ttl=dt.timedelta(0))


# -- API tokens ---------------------------------------------------------------------------


def test_token_issue_resolve_and_only_its_hash_is_stored(
    sessions: Sessions, policy: AccountPolicy, clock: Clock
) -> None:
    user = add_user(sessions, policy)
    with session_scope(sessions) as s:
        issued = issue_token(s, username="kim.investigator", name=" sms-gateway ", policy=policy)
    secret = issued.secret
    assert secret.startswith("epc_")
    assert len(secret) == 4 + 43
    assert secret not in repr(issued)
    with sessions() as s:
        row = s.get(ApiToken, issued.token.id)
        assert row is not None
        assert row.name == "sms-gateway"
        assert row.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert row.expires_at == T0 + dt.timedelta(days=90)
        assert row.last_used_at is None
        stored = s.execute(sa.select(ApiToken.__table__)).one()
        assert secret not in [str(v) for v in stored]
    clock.advance(minutes=5)
    with session_scope(sessions) as s:
        assert resolve_token(s, secret=secret, policy=policy).id == user.id
    with sessions() as s:
        assert s.get(ApiToken, issued.token.id).last_used_at == clock.now  # type: ignore[union-attr]
        [(token, owner)] = list_tokens(s, username="KIM.investigator")
        assert (token.id, owner.id) == (issued.token.id, user.id)


def test_tokens_are_unique_and_garbage_is_refused(
    sessions: Sessions, policy: AccountPolicy
) -> None:
    add_user(sessions, policy)
    with session_scope(sessions) as s:
        a = issue_token(s, username="kim.investigator", name="a", policy=policy).secret
        b = issue_token(s, username="kim.investigator", name="b", policy=policy).secret
    assert a != b
    with sessions() as s:
        for bad in [
            "",
            "epc_",
            a[4:],
            "xyz_" + a[4:],
            a[:-1],
            a + "A",
            a[:-1] + "!",
            "epc_" + "A" * 43,
        ]:
            with pytest.raises(TokenInvalid, match="invalid API token"):
                resolve_token(s, secret=bad, policy=policy)


def test_token_expiry_revocation_and_inactive_user(
    sessions: Sessions, policy: AccountPolicy, clock: Clock
) -> None:
    add_user(sessions, policy)
    add_user(sessions, policy, username="lee")
    with session_scope(sessions) as s:
        short = issue_token(
            s, username="kim.investigator", name="short", ttl=dt.timedelta(hours=1), policy=policy
        )
        revoked = issue_token(s, username="kim.investigator", name="revoked", policy=policy)
        lees = issue_token(s, username="lee", name="lee's", policy=policy)
    with session_scope(sessions) as s:
        revoke_token(s, token_id=revoked.token.id, policy=policy)
        revoke_token(s, token_id=revoked.token.id, policy=policy)  # idempotent
        with pytest.raises(UserNotFound, match="no API token with id 999"):
            revoke_token(s, token_id=999, policy=policy)
        with pytest.raises(TokenInvalid, match="expired, revoked"):
            resolve_token(s, secret=revoked.secret, policy=policy)
        resolve_token(s, secret=short.secret, policy=policy)
        clock.advance(hours=1)
        with pytest.raises(TokenInvalid, match="expired, revoked"):
            resolve_token(s, secret=short.secret, policy=policy)
        resolve_token(s, secret=lees.secret, policy=policy)
        deactivate_user(s, username="lee", policy=policy)  # revokes lee's tokens
        with pytest.raises(TokenInvalid):
            resolve_token(s, secret=lees.secret, policy=policy)
        assert s.get(ApiToken, lees.token.id).revoked_at == clock.now  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": " "}, "name: give the token a name"),
        ({"name": "x" * 101}, "name: must be at most 100"),
        ({"name": "ok", "ttl": dt.timedelta(0)}, "ttl: must be positive and at most 366 days"),
        ({"name": "ok", "ttl": dt.timedelta(days=367)}, "ttl: must be positive"),
    ],
)
def test_token_issue_validation(
    sessions: Sessions, policy: AccountPolicy, kwargs: dict[str, object], message: str
) -> None:
    add_user(sessions, policy)
    with session_scope(sessions) as s, pytest.raises(InvalidField, match=message):
        issue_token(s, username="kim.investigator", policy=policy, **kwargs)  # type: ignore[arg-type]


def test_no_token_for_unknown_or_inactive_users(sessions: Sessions, policy: AccountPolicy) -> None:
    add_user(sessions, policy)
    with session_scope(sessions) as s:
        with pytest.raises(UserNotFound):
            issue_token(s, username="ghost", name="x", policy=policy)
        deactivate_user(s, username="kim.investigator", policy=policy)
        with pytest.raises(
            InvalidField, match=r"username: user 'Kim\.Investigator' is deactivated"
        ):
            issue_token(s, username="kim.investigator", name="x", policy=policy)


# -- console sessions ---------------------------------------------------------------------


def test_session_lifecycle(sessions: Sessions, policy: AccountPolicy, clock: Clock) -> None:
    add_user(sessions, policy)
    user = authenticate(sessions, username="kim.investigator", password=PASSWORD, policy=policy)
    with session_scope(sessions) as s:
        opened = create_session(s, user=user, policy=policy)
    assert opened.secret != opened.csrf_secret
    assert opened.secret not in repr(opened)
    with sessions() as s:
        row = s.get(ConsoleSession, hashlib.sha256(opened.secret.encode()).hexdigest())
        assert row is not None  # stored under the hash of the cookie, not the cookie
        assert s.get(ConsoleSession, opened.secret) is None
        assert row.expires_at == T0 + dt.timedelta(hours=1)
    clock.advance(minutes=59)
    with session_scope(sessions) as s:
        found, who = resolve_session(s, secret=opened.secret, policy=policy)
        assert who.id == user.id
        check_csrf(found, opened.csrf_secret)
        for wrong in (None, "", opened.csrf_secret[:-1], opened.secret):
            with pytest.raises(SessionInvalid, match="CSRF"):
                check_csrf(found, wrong)
        with pytest.raises(SessionInvalid, match="unknown session"):
            resolve_session(s, secret="not-a-session", policy=policy)
    clock.advance(minutes=1)
    with sessions() as s, pytest.raises(SessionInvalid, match="expired"):
        resolve_session(s, secret=opened.secret, policy=policy)


def test_logout_and_deactivation_end_sessions(sessions: Sessions, policy: AccountPolicy) -> None:
    user = add_user(sessions, policy)
    with session_scope(sessions) as s:
        first = create_session(s, user=user, policy=policy)
        second = create_session(s, user=user, policy=policy)
    with session_scope(sessions) as s:
        assert revoke_session(s, secret=first.secret, policy=policy) is True
        assert revoke_session(s, secret=first.secret, policy=policy) is False
        assert revoke_session(s, secret="unknown", policy=policy) is False
        with pytest.raises(SessionInvalid, match="ended"):
            resolve_session(s, secret=first.secret, policy=policy)
        resolve_session(s, secret=second.secret, policy=policy)
        deactivate_user(s, username="kim.investigator", policy=policy)
        with pytest.raises(SessionInvalid):
            resolve_session(s, secret=second.secret, policy=policy)
        with pytest.raises(SessionInvalid, match="deactivated"):
            create_session(s, user=user, policy=policy)
