"""Who may use the app: localhost by default; a login is required whenever it is exposed."""

from __future__ import annotations

import os
from pathlib import Path

from assistant.errors import ConfigError

LOOPBACK = ("127.0.0.1", "localhost", "::1")


def parse_credentials(text: str) -> list[tuple[str, str]]:
    """``user:password`` pairs, one per line or comma-separated; blank lines and ``#`` comments ignored."""
    pairs = []
    for item in text.replace(",", "\n").splitlines():
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        user, sep, password = item.partition(":")
        if not sep or not user or not password:
            raise ConfigError("Credentials must be 'user:password' pairs (one per line, or comma-separated).")
        pairs.append((user, password))
    return pairs


def load_credentials(auth_file: str | None = None, env_var: str = "SUPPORTLENS_AUTH") -> list[tuple[str, str]]:
    """Credentials from ``auth_file`` if given, else from ``$SUPPORTLENS_AUTH``; empty list if neither."""
    if auth_file:
        try:
            return parse_credentials(Path(auth_file).read_text())
        except OSError as exc:
            raise ConfigError(f"Cannot read the auth file {auth_file}: {exc.strerror}") from exc
    return parse_credentials(os.environ.get(env_var, ""))


def check_exposure(host: str, share: bool, credentials: list[tuple[str, str]]) -> None:
    """Refuse to serve beyond this machine without a login."""
    if (host not in LOOPBACK or share) and not credentials:
        where = "a public share link" if share else f"host {host}"
        raise ConfigError(
            f"Refusing to serve SupportLens on {where} without a login. Set SUPPORTLENS_AUTH='user:password' "
            "or pass --auth-file FILE (lines of user:password), or serve on 127.0.0.1."
        )
