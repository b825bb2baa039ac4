"""dmf-worker.yml: the seed's appendix A (kept verbatim in tests/worker/configs), key by key."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest

from dmf.errors import ConfigError
from dmf.service.config_loader import env_name, key_paths, read_yaml_documents
from dmf.service.worker_config import (
    InitialState,
    LoggingType,
    PollerType,
    StateType,
    WorkerConfig,
    WorkerType,
    load_worker_config,
)

SEED = Path(__file__).parents[1] / "worker" / "configs" / "dmf-worker.yml"


@pytest.fixture
def seed() -> WorkerConfig:
    return load_worker_config([SEED], {})


def test_micronaut_section(seed):
    m = seed.micronaut
    assert m.ssl.enabled is True
    assert m.ssl.key_store.path == "file:/opt/open-xchange/dmf/certs/keystore.p12"
    assert m.ssl.key_store.file_path == "/opt/open-xchange/dmf/certs/keystore.p12"
    assert m.ssl.key_store.type == "PKCS12"
    assert m.ssl.key_store.password is None
    assert m.ssl.port == 8443
    assert m.application.name == "worker"
    assert m.metrics.enabled is True
    assert m.metrics.export.prometheus.enabled is True
    assert m.metrics.export.prometheus.descriptions is True
    assert m.metrics.export.prometheus.step == datetime.timedelta(minutes=1)
    for key, pool in (("worker-executor", m.executors.worker_executor),
                      ("command-executor", m.executors.command_executor)):
        assert (pool.name, pool.type, pool.number_of_threads) == (key, "fixed", 100)
    assert m.http.services["doveadm"].ssl.enabled is False
    assert m.security.enabled is True
    assert m.security.ip_patterns == ()
    assert seed.http_port == 8443


def test_endpoints_http_and_datasource(seed):
    assert seed.endpoints.all.enabled is True
    assert seed.endpoints.all.sensitive is True
    assert seed.http.admin.username is None
    assert seed.http.admin.password is None
    ds = seed.datasources.default
    assert ds.url == "jdbc:mysql://localhost:3306/migration?createDatabaseIfNotExist=true"
    assert ds.username is None and ds.password is None
    assert ds.dialect == "MYSQL"
    assert ds.driver_class_name == "org.mariadb.jdbc.Driver"


def test_dmf_worker_section(seed):
    w = seed.dmf.worker
    assert w.crypto.storage_keys == {}
    assert w.sources == "default" and w.source_names == ("default",)
    assert w.state.initial is InitialState.STARTED
    assert w.state.type is StateType.DATABASE
    assert w.jobs.cache.size == 1000
    assert w.jobs.cache.refresh == datetime.timedelta(seconds=5)
    assert w.jobs.max == 10
    assert w.jobs.termination.timeout == 30000
    assert w.jobs.poller.type is PollerType.DATABASE
    assert w.jobs.poller.simulator.max_jobs == 5
    assert w.jobs.poller.simulator.max_wait_ms == 0
    assert w.identity.target == "default"
    assert w.identity.memberid is None
    assert w.type is WorkerType.DOVEADM
    log = w.command.logging
    assert log.type is LoggingType.FILE
    assert log.file.format == "%(source)-%(user)-user-migration.log"
    assert log.file.location == "/app"
    assert log.file.delete_on_success is True


def test_dmf_doveadm_section(seed):
    d = seed.dmf.doveadm
    assert d.path == "/usr/bin/doveadm"
    s = d.source["default"]
    assert (s.analyze_log, s.move_duplicates, s.copy_imapc_inbox, s.remove_imapc_path,
            s.flush_metacache, s.clean_metacache, s.fetch_container) == (
        True, False, False, False, False, False, False)
    assert s.container_file == "/etc/dovecot/passwd.container"
    assert (s.director.enabled, s.director.use_sourcehost, s.director.move_user) == (
        False, False, False)
    assert (s.count.pre, s.count.sync, s.count.post, s.count.remote) == (True,) * 4
    assert s.count.remote_protocol == "imapc"
    assert s.count.remote_command is None
    assert (s.retry.max, s.retry.sleep, s.retry.debug_mode) == (1, 5000, False)
    assert s.retry.code_max == {134: 2, 75: 4}
    assert s.retry.code_sleep == {75: 15000}
    assert (s.imapc.host, s.imapc.port, s.imapc.prefix, s.imapc.master_user,
            s.imapc.master_password, s.imapc.session_properties) == (None,) * 6
    assert s.command.inject is None
    for phase in (s.command.sync, s.command.cutover):
        assert (phase.pre, phase.sync, phase.post, phase.failure) == (None,) * 4
    assert not any(s.failure_flags.pre.model_dump().values())
    assert not any(s.failure_flags.cutover.model_dump().values())


def test_defaults_without_a_file_match_the_seed(seed):
    bare = load_worker_config([], {})
    assert bare.dmf.worker == seed.dmf.worker
    assert bare.micronaut.ssl == seed.micronaut.ssl
    assert bare.datasources == seed.datasources


def test_environment_overrides_seed_keys():
    config = load_worker_config([SEED], {
        "HTTP_ADMIN_USERNAME": "admin",
        "HTTP_ADMIN_PASSWORD": "0007",
        "DMF_WORKER_JOBS_MAX": "40",
        "DMF_WORKER_JOBS_CACHE_REFRESH": "250ms",
        "DMF_WORKER_IDENTITY_MEMBERID": "7",
        "DMF_WORKER_SOURCES": "[POD_1, POD_2]",
        "DMF_WORKER_STATE_INITIAL": "STOPPED",
        "DMF_DOVEADM_SOURCE_DEFAULT_RETRY_CODE_MAX_75": "9",
        "MICRONAUT_SSL_ENABLED": "false",
        "MICRONAUT_SERVER_PORT": "9090",
        "DATASOURCES_DEFAULT_URL": "sqlite:////tmp/x.db",
    })
    assert config.http.admin.username == "admin"
    assert config.http.admin.password.get_secret_value() == "0007"
    assert config.dmf.worker.jobs.max == 40
    assert config.dmf.worker.jobs.cache.refresh == datetime.timedelta(milliseconds=250)
    assert config.dmf.worker.identity.backend_name == "default/7"
    assert config.dmf.worker.source_names == ("POD_1", "POD_2")
    assert config.dmf.worker.state.initial is InitialState.STOPPED
    assert config.dmf.doveadm.source["default"].retry.code_max == {134: 2, 75: 9}
    assert config.http_port == 9090
    assert config.datasources.default.url == "sqlite:////tmp/x.db"


def test_seed_spelling_referesh_is_read(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text("dmf:\n  worker:\n    jobs:\n      cache:\n        size: 400\n"
                    "        referesh: 1m\n", encoding="utf-8")
    cache = load_worker_config([path], {}).dmf.worker.jobs.cache
    assert (cache.size, cache.refresh) == (400, datetime.timedelta(minutes=1))


def test_sources_list_and_numeric_memberid(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text('dmf:\n  worker:\n    sources:\n      - "POD_1"\n      - "POD_2"\n'
                    "    identity:\n      target: cloud\n      memberid: 1\n", encoding="utf-8")
    worker = load_worker_config([path], {}).dmf.worker
    assert worker.source_names == ("POD_1", "POD_2")
    assert worker.identity.backend_name == "cloud/1"


@pytest.mark.parametrize(("yaml_text", "environ", "message"), [
    ("dmf:\n  worker:\n    jobs:\n      max: ten\n", {},
     "dmf.worker.jobs.max: expected an integer, got 'ten'"),
    ("", {"DMF_WORKER_JOBS_MAX": "ten"}, "dmf.worker.jobs.max: expected an integer, got 'ten'"),
    ("dmf:\n  worker:\n    jobs:\n      maxx: 3\n", {}, "dmf.worker.jobs.maxx: unknown key"),
    ("dmf:\n  worker:\n    state:\n      initial: RUNNING\n", {},
     "dmf.worker.state.initial: input should be 'STARTED' or 'STOPPED', got 'RUNNING'"),
    ("dmf:\n  doveadm:\n    source:\n      POD_1:\n        analyse-log: true\n", {},
     "dmf.doveadm.source.POD_1.analyse-log: unknown key"),
    ("", {"DMF_WORKER_JOBS_CACHE_REFRESH": "0s"},
     "dmf.worker.jobs.cache.refresh: expected a duration above zero, got 0:00:00"),
])
def test_wrong_type_or_unknown_key_names_the_key(tmp_path, yaml_text, environ, message):
    path = tmp_path / "w.yml"
    path.write_text(yaml_text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_worker_config([path], environ)
    assert str(caught.value) == message


def test_datasource_password_never_echoed(tmp_path):
    path = tmp_path / "w.yml"
    path.write_text("datasources:\n  default:\n    password: {hunter2: 1}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_worker_config([path], {})
    assert str(caught.value).startswith("datasources.default.password: ")
    assert "hunter2" not in str(caught.value)


def test_every_key_of_the_seed_has_its_own_environment_name():
    """Two keys whose names collapse to one variable could not both be set from the
    environment; none of the worker's keys may collide."""
    paths = key_paths(WorkerConfig, read_yaml_documents(SEED))
    names = [env_name(path) for path in paths]
    assert len(paths) > 150
    assert len(set(names)) == len(names)
    assert "DMF_DOVEADM_SOURCE_DEFAULT_RETRY_CODE_SLEEP_75" in names
    assert "DMF_WORKER_JOBS_POLLER_SIMULATOR_MAX_WAIT_MS" in names


def test_seed_endpoint_example_loads_and_a_typo_inside_it_names_the_key(tmp_path):
    """Seed 2.2.2.1 shows `endpoints: info: sensitive: false`; the Micronaut endpoint names an
    operator copies load, a wrong key inside one stays an error."""
    path = tmp_path / "w.yml"
    path.write_text("endpoints:\n  info:\n    sensitive: false\n  loggers:\n"
                    "    write-sensitive: true\n  stop:\n    enabled: false\n", encoding="utf-8")
    endpoints = load_worker_config([path], {}).endpoints
    assert endpoints.info.sensitive is False and endpoints.loggers.write_sensitive is True
    assert endpoints.sensitive("metrics") and endpoints.enabled("prometheus")
    for typo, key in (("info:\n    sensitiv: false", "endpoints.info.sensitiv"),
                      ("infos:\n    sensitive: false", "endpoints.infos")):
        path.write_text(f"endpoints:\n  {typo}\n", encoding="utf-8")
        with pytest.raises(ConfigError) as caught:
            load_worker_config([path], {})
        assert str(caught.value) == f"{key}: unknown key"
