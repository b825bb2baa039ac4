"""The loader's rules, on small models: merging, environment names, errors naming the key."""

from __future__ import annotations

import datetime

import pytest
from pydantic import Field, SecretStr

from dmf.errors import ConfigError
from dmf.service.config_loader import (
    Duration,
    apply_environment,
    env_name,
    load_config,
    parse_duration,
    read_yaml_documents,
)
from dmf.service.config_model import ConfigModel


class Entry(ConfigModel):
    path: str | None = None


class Jobs(ConfigModel):
    max: int = 10
    refresh: Duration = Field(default="5s", validate_default=True)
    code_max: dict[int, int] = Field(default_factory=dict, alias="code-max")


class Section(ConfigModel):
    jobs: Jobs = Field(default_factory=Jobs)
    sources: str | list[str] = "default"
    source: dict[str, Entry] = Field(default_factory=dict)
    password: SecretStr | None = None
    name: str | None = None


class Root(ConfigModel):
    worker: Section = Field(default_factory=Section)


def write(tmp_path, text: str):
    path = tmp_path / "conf.yml"
    path.write_text(text, encoding="utf-8")
    return path


def test_documents_merge_deeply_later_wins(tmp_path):
    path = write(tmp_path, "worker:\n  jobs:\n    max: 3\n  name: a\n---\n"
                           "worker:\n  jobs:\n    refresh: 1m\n  name: b\n---\n")
    config = load_config(Root, [path])
    assert config.worker.jobs.max == 3
    assert config.worker.jobs.refresh == datetime.timedelta(minutes=1)
    assert config.worker.name == "b"


def test_empty_sections_mean_defaults(tmp_path):
    path = write(tmp_path, "worker:\n  jobs:\n  source:\n    POD_1:\n")
    config = load_config(Root, [path])
    assert config.worker.jobs == Jobs()
    assert config.worker.source == {"POD_1": Entry()}


@pytest.mark.parametrize(("path", "name"), [
    (("http", "admin", "username"), "HTTP_ADMIN_USERNAME"),
    (("dmf", "worker", "jobs", "max"), "DMF_WORKER_JOBS_MAX"),
    (("dmf", "doveadm", "source", "default", "retry", "code-max", "134"),
     "DMF_DOVEADM_SOURCE_DEFAULT_RETRY_CODE_MAX_134"),
    (("micronaut", "ssl", "key-store", "path"), "MICRONAUT_SSL_KEY_STORE_PATH"),
])
def test_env_names_follow_the_key_path(path, name):
    assert env_name(path) == name


def test_environment_wins_over_the_file(tmp_path):
    path = write(tmp_path, "worker:\n  jobs:\n    max: 3\n    code-max: {134: 2}\n"
                           "  source:\n    POD-1:\n      path: /file\n")
    config = load_config(Root, [path], {
        "WORKER_JOBS_MAX": "7",
        "WORKER_JOBS_REFRESH": "PT2S",
        "WORKER_JOBS_CODE_MAX_134": "9",
        "WORKER_SOURCE_POD_1_PATH": "/env",
        "WORKER_SOURCES": "[POD_1, POD_2]",
        "WORKER_PASSWORD": "0123",
        "WORKER_NAME": "yes",
    })
    assert config.worker.jobs.max == 7
    assert config.worker.jobs.refresh == datetime.timedelta(seconds=2)
    assert config.worker.jobs.code_max == {134: 9}
    assert config.worker.source["POD-1"].path == "/env"
    assert config.worker.sources == ["POD_1", "POD_2"]
    # string keys keep the value verbatim: no YAML number or boolean reading
    assert config.worker.password.get_secret_value() == "0123"
    assert config.worker.name == "yes"


def test_environment_sets_keys_absent_from_the_file():
    config = load_config(Root, [], {"WORKER_JOBS_MAX": "4"})
    assert config.worker.jobs.max == 4


def test_ambiguous_environment_name_is_refused():
    document = {"worker": {"source": {"A-B": {"path": "x"}, "A_B": {"path": "y"}}}}
    with pytest.raises(ConfigError, match="WORKER_SOURCE_A_B_PATH is ambiguous"):
        apply_environment(Root, document, {"WORKER_SOURCE_A_B_PATH": "z"})
    # not set: no ambiguity to resolve
    assert apply_environment(Root, document, {}) == document


@pytest.mark.parametrize(("text", "environ", "message"), [
    ("worker:\n  jobs:\n    max: ten\n", {}, "worker.jobs.max: expected an integer, got 'ten'"),
    ("", {"WORKER_JOBS_MAX": "ten"}, "worker.jobs.max: expected an integer, got 'ten'"),
    ("worker:\n  jobz: 1\n", {}, "worker.jobz: unknown key"),
    ("worker:\n  jobs:\n    refresh: soon\n", {},
     "worker.jobs.refresh: expected a duration such as 5s, 1m or PT1M, got 'soon'"),
])
def test_errors_name_the_key(tmp_path, text, environ, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(Root, [path], environ)
    assert str(caught.value) == message
    assert caught.value.exit_code == 78


def test_secret_values_are_not_echoed(tmp_path):
    path = write(tmp_path, "worker:\n  password: [s3cr3t]\n")
    with pytest.raises(ConfigError) as caught:
        load_config(Root, [path])
    assert "worker.password" in str(caught.value)
    assert "s3cr3t" not in str(caught.value)


def test_file_problems_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_yaml_documents(tmp_path / "missing.yml")
    with pytest.raises(ConfigError, match=r"conf.yml: line \d+: "):
        read_yaml_documents(write(tmp_path, "a: 1\nb: [\n"))
    with pytest.raises(ConfigError, match="document 2 is not a mapping"):
        read_yaml_documents(write(tmp_path, "a: 1\n---\n- x\n"))


@pytest.mark.parametrize(("text", "seconds"), [
    ("5s", 5), ("1m", 60), ("500ms", 0.5), ("2h", 7200), ("PT1M", 60), ("PT0.5S", 0.5),
    ("P1DT1H", 90000), (1500, 1.5), ("250", 0.25),
])
def test_durations(text, seconds):
    assert parse_duration(text) == datetime.timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["P", "PT", "5 parsecs", "-5s", True])
def test_bad_durations(text):
    with pytest.raises(ValueError):
        parse_duration(text)
