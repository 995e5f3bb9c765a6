"""Settings: the signing key's rules (the other settings are covered through the CLI)."""

from __future__ import annotations

import pytest

from aegis_stream.errors import ConfigError
from aegis_stream.settings import Settings

KEY = "0123456789abcdef0123456789abcdef"


def test_the_signing_key_comes_from_the_environment_and_never_shows() -> None:
    settings = Settings.from_env({"AEGIS_SIGNING_KEY": KEY})
    assert settings.signing_key == KEY
    assert KEY not in repr(settings)
    assert "signing_key='***'" in repr(settings)
    assert Settings.from_env({}).signing_key is None


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (KEY[:-1], "31 characters"),
        (" " + KEY, "a leading space"),
        (KEY + "\n", "a control character"),
    ],
)
def test_a_weak_or_mangled_signing_key_is_refused(value: str, why: str) -> None:
    with pytest.raises(ConfigError, match="AEGIS_SIGNING_KEY must be at least 32 characters") as e:
        Settings.from_env({"AEGIS_SIGNING_KEY": value})
    assert value.strip() not in str(e.value), why  # the message never repeats the secret
