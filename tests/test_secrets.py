"""Secrets live in the real OS keyring (Secret Service here), and nowhere else: not in logs, not in errors."""

from __future__ import annotations

import logging
import secrets
import subprocess
import sys
import traceback
import uuid
from collections.abc import Iterator

import pytest

from launchdesk import secrets as launchdesk_secrets
from launchdesk.secrets import SERVICE, SecretsUnavailable, delete_secret, entry_name, get_secret, set_secret


@pytest.fixture
def connection() -> Iterator[str]:
    """A connection name of this test's own; its keyring entry is removed afterwards whatever happens."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    yield name
    try:
        delete_secret(name)
    except SecretsUnavailable:
        pass


def secret_service_items(username: str) -> list:
    """What the Secret Service itself holds for this entry, asked over D-Bus without the keyring library."""
    import secretstorage

    bus = secretstorage.dbus_init()
    try:
        collection = secretstorage.get_default_collection(bus)
        return [item.get_secret().decode() for item in collection.search_items({"service": SERVICE, "username": username})]
    finally:
        bus.close()


def test_set_get_delete_on_the_real_secret_service(secret_service: object, connection: str) -> None:
    token = secrets.token_urlsafe(24)

    set_secret(connection, token)

    assert get_secret(connection) == token
    assert secret_service_items(entry_name(connection)) == [token]
    assert delete_secret(connection) is True
    assert get_secret(connection) is None
    assert secret_service_items(entry_name(connection)) == []
    assert delete_secret(connection) is False


def test_a_new_secret_replaces_the_old_one(secret_service: object, connection: str) -> None:
    set_secret(connection, "first-" + secrets.token_hex(8))
    second = "second-" + secrets.token_hex(8)
    set_secret(connection, second)
    assert get_secret(connection) == second
    assert secret_service_items(entry_name(connection)) == [second]


def test_each_connection_has_its_own_entry(secret_service: object, connection: str) -> None:
    other = connection + "-other"
    try:
        set_secret(connection, "a-" + secrets.token_hex(8))
        set_secret(other, "b-" + secrets.token_hex(8))
        assert get_secret(connection).startswith("a-")
        assert get_secret(other).startswith("b-")
    finally:
        delete_secret(other)


def test_the_secret_never_reaches_the_log(
    secret_service: object, connection: str, caplog: pytest.LogCaptureFixture
) -> None:
    token = secrets.token_urlsafe(24)
    with caplog.at_level(logging.DEBUG):
        set_secret(connection, token)
        assert get_secret(connection) == token
        delete_secret(connection)
    logged = caplog.text + "".join(repr(r.args) + repr(r.__dict__) for r in caplog.records)
    assert token not in logged


def test_no_keyring_is_a_plain_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyring.backends import fail

    monkeypatch.setattr("keyring.core._keyring_backend", fail.Keyring())
    token = secrets.token_hex(16)
    with pytest.raises(SecretsUnavailable, match="No system keyring is available") as caught:
        set_secret("prod-unleash", token)
    assert token not in str(caught.value)
    with pytest.raises(SecretsUnavailable):
        get_secret("prod-unleash")


@pytest.mark.parametrize("placeholder", ["null", "empty chainer"])
def test_backends_that_would_lose_the_secret_are_refused(monkeypatch: pytest.MonkeyPatch, placeholder: str) -> None:
    from keyring.backends import chainer, null

    if placeholder == "null":
        backend = null.Keyring()
    else:
        monkeypatch.setattr(chainer.ChainerBackend, "backends", [])
        backend = chainer.ChainerBackend()
    monkeypatch.setattr("keyring.core._keyring_backend", backend)
    with pytest.raises(SecretsUnavailable):
        set_secret("prod-unleash", "x-" + secrets.token_hex(8))


def test_a_failing_backend_cannot_leak_the_secret_into_the_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from keyring.backend import KeyringBackend
    from keyring.errors import KeyringLocked

    class LockedKeyring(KeyringBackend):
        priority = 1  # type: ignore[assignment]

        def set_password(self, service: str, username: str, password: str) -> None:
            raise KeyringLocked(f"cannot store {password}")  # a careless backend quoting what it was given

        def get_password(self, service: str, username: str) -> str | None:
            raise KeyringLocked("locked")

        def delete_password(self, service: str, username: str) -> None:
            raise KeyringLocked("locked")

    monkeypatch.setattr("keyring.core._keyring_backend", LockedKeyring())
    token = secrets.token_hex(16)
    with pytest.raises(SecretsUnavailable, match="KeyringLocked") as caught:
        set_secret("prod-unleash", token)
    assert token not in "".join(traceback.format_exception(caught.value))


def test_an_empty_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        set_secret("prod-unleash", "")


def test_importing_the_facade_does_not_load_keyring() -> None:
    """keyring costs start-up time; it is imported when a secret is first needed."""
    code = f"import sys, {launchdesk_secrets.__name__}; print('keyring' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
