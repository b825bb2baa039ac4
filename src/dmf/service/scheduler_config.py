"""The scheduler's configuration (`dmf scheduler -c scheduler.yml`).

Same keys as the worker's file wherever the two share a concern (`micronaut.ssl`,
`micronaut.security`, `micronaut.server`, `endpoints`, `http.admin`, `datasources.default`), so
one deployment can keep them side by side; the scheduler's own settings live under
`dmf.scheduler`. Example:

    micronaut:
      server: {host: 127.0.0.1, port: 7080}
      ssl: {enabled: true, port: 7443, key-store: {path: file:/etc/dmf/keystore.p12,
            type: PKCS12, password: ...}}
    http:
      admin: {username: admin, password: ...}
    datasources:
      default: {url: "sqlite:////var/lib/dmf/migration.db"}
    dmf:
      scheduler:
        crypto:
          key-name: key1            # stored with each job; the worker's storageKeys name
          file: /etc/dmf/key1.key   # or keystore:/etc/dmf/keystore.p12 with a secret
          secret:

Every key is also settable from the environment (`HTTP_ADMIN_PASSWORD`,
`DMF_SCHEDULER_CRYPTO_FILE`, ...), as for the worker.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from pydantic import Field, SecretStr

from dmf.service.config_loader import load_config
from dmf.service.config_model import ConfigModel
from dmf.service.worker_config import ServiceConfig


class WrappingKeySettings(ConfigModel):
    """The AES-256 key that wraps submitted source passwords. Without it the scheduler still
    runs, and refuses submissions that carry a password."""

    key_name: str = Field(alias="key-name", min_length=1, max_length=255)
    file: str = Field(min_length=1)
    secret: SecretStr | None = None


class SchedulerSettings(ConfigModel):
    crypto: WrappingKeySettings | None = None


class SchedulerDmf(ConfigModel):
    scheduler: SchedulerSettings = Field(default_factory=SchedulerSettings)


class SchedulerConfig(ServiceConfig):
    """The whole of scheduler.yml (its `micronaut` is ServiceConfig's: server, ssl, security)."""

    dmf: SchedulerDmf = Field(default_factory=SchedulerDmf)


def load_scheduler_config(paths: Sequence[Path | str],
                          environ: Mapping[str, str] | None = None) -> SchedulerConfig:
    """scheduler.yml files (later win) plus the environment (`os.environ` when not given)."""
    return load_config(SchedulerConfig, paths, os.environ if environ is None else environ)
