"""The one place LaunchDesk touches secrets: a small facade over the OS keyring, one entry per connection."""

from __future__ import annotations

from typing import Any

SERVICE = "launchdesk"


class SecretsUnavailable(Exception):
    """No working keyring: the secret can be neither kept nor read. The message never holds a secret."""


def entry_name(connection: str | int) -> str:
    """The keyring user name for a connection's secret, as people see it in their keyring tool."""
    return f"connection:{connection}"


def set_secret(connection: str | int, secret: str) -> None:
    """Keep a connection's token or password in the keyring, replacing any earlier one."""
    if not isinstance(secret, str) or not secret:
        raise ValueError("A secret must be a non-empty string.")
    _call("keep", lambda backend: backend.set_password(SERVICE, entry_name(connection), secret))


def get_secret(connection: str | int) -> str | None:
    """The connection's secret, or None when the keyring holds none for it."""
    return _call("read", lambda backend: backend.get_password(SERVICE, entry_name(connection)))


def delete_secret(connection: str | int) -> bool:
    """Forget the connection's secret; False if there was none."""
    from keyring.errors import PasswordDeleteError

    def delete(backend: Any) -> bool:
        try:
            backend.delete_password(SERVICE, entry_name(connection))
        except PasswordDeleteError:
            return False
        return True

    return _call("delete", delete)


def _call(action: str, operation: Any) -> Any:
    backend = _backend()
    try:
        return operation(backend)
    except Exception as err:
        # `from None`: a backend's own exception text is not ours to vouch for, so it stays out of tracebacks.
        raise SecretsUnavailable(
            f"The system keyring ({_name(backend)}) could not {action} the secret: {type(err).__name__}. "
            "Is the keyring unlocked?"
        ) from None


def _backend() -> Any:
    # keyring is imported on first use: it costs start-up time and most sessions never touch a secret.
    import keyring
    from keyring.backends import chainer, fail, null

    try:
        backend = keyring.get_keyring()
    except Exception as err:
        raise SecretsUnavailable(f"The system keyring could not be opened ({type(err).__name__}).") from None
    # These "backends" raise on every call, silently drop secrets, or chain nothing at all.
    if isinstance(backend, (fail.Keyring, null.Keyring)) or (
        isinstance(backend, chainer.ChainerBackend) and not backend.backends
    ):
        raise SecretsUnavailable(
            "No system keyring is available to keep connection secrets. On Linux, install and unlock a "
            "Secret Service provider such as GNOME Keyring or KWallet, then try again."
        )
    return backend


def _name(backend: Any) -> str:
    return getattr(backend, "name", type(backend).__name__)
