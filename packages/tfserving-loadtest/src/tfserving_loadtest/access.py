"""How a client reaches the server: TLS trusting a CA file, and an API key, both optional."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import grpc


@dataclass(frozen=True)
class Access:
    """TLS trusting `ca_file` when set, and an API key (a bearer token) when set."""

    ca_file: str = ""
    api_key: str = ""

    @classmethod
    def from_environment(cls, lookup: Callable[[str], str | None] = os.environ.get) -> Access:
        """SERVING_CA_FILE; SERVING_API_KEY, else the first key in SERVING_API_KEY_FILE (one key per
        line, as the TLS/API-key proxy reads it). `lookup` reads a setting (default: the environment)."""
        key = lookup("SERVING_API_KEY") or ""
        key_file = lookup("SERVING_API_KEY_FILE") or ""
        if not key and key_file:
            from embedded_tfserving.auth import read_api_keys  # the server's own reading of the file

            key = next(iter(read_api_keys(Path(key_file))), "")
        return cls(lookup("SERVING_CA_FILE") or "", key)

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def grpc_metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.api_key}"),) if self.api_key else ()

    @property
    def verify(self) -> str | bool:
        """`verify=` for requests: the CA file when set, else the system's trust store."""
        return self.ca_file or True

    def grpc_credentials(self) -> grpc.ChannelCredentials | None:
        """TLS credentials trusting the CA, or None for a plain channel."""
        if not self.ca_file:
            return None
        import grpc

        return grpc.ssl_channel_credentials(root_certificates=Path(self.ca_file).read_bytes())

    def grpc_channel(self, target: str) -> grpc.Channel:
        import grpc

        credentials = self.grpc_credentials()
        return grpc.secure_channel(target, credentials) if credentials else grpc.insecure_channel(target)

    def grpc_aio_channel(self, target: str) -> grpc.aio.Channel:
        import grpc

        credentials = self.grpc_credentials()
        return grpc.aio.secure_channel(target, credentials) if credentials else grpc.aio.insecure_channel(target)


# Where this process's clients read their access from, on each use (so a changed environment counts);
# a project may read its own way (e.g. its .env too).
_provider: Callable[[], Access] = Access.from_environment


def current() -> Access:
    return _provider()


def use(provider: Callable[[], Access]) -> None:
    global _provider
    _provider = provider
