"""Jobs over real HTTP on each real database: metacharacters stored and returned verbatim,
the password never in clear anywhere, bulk CSV all-or-nothing, filters, paging, cancel and
requeue."""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from dmf.migration_db.crypto import unwrap
from dmf.migration_db.models import BackendStatus
from dmf.migration_db.repository import MigrationRepository
from tests.api.conftest import running_scheduler

# Each would do harm if anything on the way built SQL or shell commands by pasting text.
NASTY = [
    "'; DROP TABLE jobs; --",
    "$(touch /tmp/dmf-pwned) `id` ${HOME}",
    "a\" OR \"1\"=\"1",
    "x; rm -rf / && echo |cat >out <in 2>&1 * ? ~ #",
    "%{mdb:uid} %{conf:imapc_master_password} %(user)s {0}",
    "back\\slash \\' \\\" \\x00\\n",
    "tab\tnew\nline\r\ncr",
    "Ünïcødé ✉ 📬 名前",
]
PASSWORD = "pa$$'w\"o;rd `id` $(reboot) 🔑\n"
# Names (target, source, host, uid, ...) are single-line: no control characters.
NASTY_NAMES = [value for value in NASTY if value.isprintable()]


def nasty(index: int, prefix: str) -> str:
    return f"{prefix}{NASTY[index % len(NASTY)]}"


def nasty_name(index: int, prefix: str) -> str:
    return f"{prefix}{NASTY_NAMES[index % len(NASTY_NAMES)]}"


def api(scheduler, method: str, path: str, **kwargs) -> httpx.Response:
    return scheduler.call(method, path, **kwargs)


def catalogue(scheduler, target: str, source: str, host: str | None = None) -> None:
    assert api(scheduler, "POST", "/targets", json={"name": target}).status_code == 201
    assert api(scheduler, "POST", "/sources", json={"name": source}).status_code == 201
    if host is not None:
        response = api(scheduler, "POST", f"/sources/{_seg(source)}/hosts",
                       json={"host": host, "port": 993, "ssl": True,
                             "statusCommand": NASTY[1]})
        assert response.status_code == 201


def _seg(value: str) -> str:
    from urllib.parse import quote

    return quote(value, safe="")


def csv_text(rows: list[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    return buffer.getvalue().encode()


def stored_rows(repository: MigrationRepository) -> list[dict[str, object]]:
    with repository.engine.connect() as conn:
        return [dict(row._mapping) for row in conn.execute(text("SELECT * FROM jobs"))]


@pytest.mark.parametrize("case", range(len(NASTY)))
def test_metacharacters_in_every_field_are_stored_and_returned_verbatim(scheduler, fresh, case):
    target = nasty_name(case, f"{fresh}-target").replace("/", "")
    source = nasty_name(case + 1, f"{fresh}-source").replace("/", "")
    host = nasty_name(case + 2, f"{fresh}-host")
    catalogue(scheduler, target, source, host)
    submission = {
        "target": target, "source": source, "sourceHost": host,
        "uid": nasty_name(case, "uid"), "ruid": nasty_name(case + 3, "ruid"),
        "email": nasty(case + 4, "e@"), "imapcoptions": nasty(case + 5, "-o "),
        "exclude": nasty(case + 6, "Trash"), "phase": "cutover", "priority": 7,
        "password": PASSWORD,
    }
    created = api(scheduler, "POST", "/jobs", json=submission)
    assert created.status_code == 201, created.text
    job = created.json()
    expected = {k: v for k, v in submission.items() if k != "password"}
    assert {k: job[k] for k in expected} == expected
    assert job["passwordStored"] is True and job["passwordKey"] == "key1"
    assert job["status"] == "QUEUED" and job["details"] == []

    detail = api(scheduler, "GET", f"/jobs/{job['id']}").json()
    assert detail == job
    listed = api(scheduler, "GET", "/jobs", params={"uid": submission["uid"],
                                                    "target": target}).json()
    assert [item["id"] for item in listed["items"]] == [job["id"]]
    record = scheduler.repository.get_job(job["id"])
    assert (record.target, record.source, record.source_host, record.uid, record.ruid,
            record.email, record.imapcoptions, record.exclude) == (
        target, source, host, submission["uid"], submission["ruid"], submission["email"],
        submission["imapcoptions"], submission["exclude"])
    assert unwrap(record.password, scheduler.key, target=target, source=source,
                  uid=submission["uid"]) == PASSWORD
    hosts = api(scheduler, "GET", f"/sources/{_seg(source)}/hosts/{_seg(host)}").json()
    assert hosts["statusCommand"] == NASTY[1] and hosts["host"] == host
    assert not Path("/tmp/dmf-pwned").exists()


def test_password_never_appears_in_clear(scheduler, fresh, caplog):
    caplog.set_level(logging.DEBUG)
    catalogue(scheduler, fresh, fresh)
    secret = f"S3cr3t-{fresh}-{PASSWORD}"
    responses = [api(scheduler, "POST", "/jobs", json={
        "target": fresh, "source": fresh, "uid": "alice", "password": secret})]
    job_id = responses[0].json()["id"]
    responses += [
        api(scheduler, "GET", f"/jobs/{job_id}"),
        api(scheduler, "GET", "/jobs", params={"target": fresh}),
        api(scheduler, "POST", f"/jobs/{job_id}/cancel"),
        api(scheduler, "POST", f"/jobs/{job_id}/requeue"),
        # rejected submissions must not echo it either
        api(scheduler, "POST", "/jobs", json={"target": fresh, "source": fresh,
                                              "uid": "x" * 300, "password": secret}),
        api(scheduler, "POST", "/jobs", json={"target": fresh, "source": fresh, "uid": "bob",
                                              "password": secret + "x" * 1100}),
        api(scheduler, "POST", "/jobs", json={"target": fresh, "source": fresh, "uid": "bob",
                                              "password": secret, "surprise": secret}),
        api(scheduler, "POST", "/jobs/bulk", data={"target": fresh},
            files={"file": ("u.csv", csv_text([["uid", "source", "password"],
                                               ["carol", fresh, secret],
                                               ["dave", "nowhere", secret]]))}),
        api(scheduler, "POST", "/jobs/bulk", data={"target": fresh},
            files={"file": ("u.csv", csv_text([["uid", "source", "password"],
                                               ["", fresh, secret]]))}),
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200, 422, 422, 422, 404, 400]
    encoded = base64.b64encode(secret.encode()).decode()
    for response in responses:
        assert secret not in response.text and "S3cr3t" not in response.text
    for record in caplog.records:
        assert "S3cr3t" not in record.getMessage()
    for row in stored_rows(scheduler.repository):
        for value in row.values():
            assert "S3cr3t" not in str(value) and encoded not in str(value)


def test_bulk_csv_stores_every_row_verbatim(scheduler, fresh):
    catalogue(scheduler, fresh, fresh, "imap.example")
    other = f"{fresh}-other"
    assert api(scheduler, "POST", "/targets", json={"name": other}).status_code == 201
    header = ["uid", "source", "target", "sourcehost", "password", "imapcoptions", "exclude",
              "phase", "priority", "email", "ruid"]
    rows = [[nasty_name(index, f"u{index}-"), fresh, other if index == 1 else "",
             "imap.example", f"pw{index}{value}", value, value,
             "cutover" if index % 2 else "pre-sync", str(index), f"{value}@x", ""]
            for index, value in enumerate(NASTY)]
    response = api(scheduler, "POST", "/jobs/bulk", data={"target": fresh},
                   files={"file": ("users.csv", csv_text([header, *rows]), "text/csv")})
    assert response.status_code == 201, response.text
    ids = response.json()["ids"]
    assert response.json()["submitted"] == len(NASTY) == len(ids)
    for job_id, row in zip(ids, rows, strict=True):
        record = scheduler.repository.get_job(job_id)
        assert record.uid == row[0] and record.imapcoptions == row[5]
        assert record.exclude == row[6] and record.phase.value == row[7]
        assert record.priority == int(row[8]) and record.email == row[9]
        assert record.ruid is None and record.source_host == "imap.example"
        assert record.target == (other if row[2] else fresh)
        assert unwrap(record.password, scheduler.key, target=record.target, source=fresh,
                      uid=record.uid) == row[4]


@pytest.mark.parametrize(("content", "message"), [
    (b"uid,source\nok,{source}\n,{source}\n", "row 2, column 'uid'"),
    (b"uid,source,priority\nok,{source},high\n", "row 1, column 'priority'"),
    (b"uid,source,phase\nok,{source},final\n", "row 1, column 'phase'"),
    (b"uid,source,colour\nok,{source},red\n", "unknown column 'colour'"),
    (b"uid\nok\n", "missing required column 'source'"),
    (b"uid,source\nok,{source},extra\n", "row 1: 3 cells"),
    (b"uid,source\n", "no rows"),
    (b"", "empty file"),
    (b"uid,source\n\xff\xfe,{source}\n", "not UTF-8"),
    (b"uid,source\nok,{source}\nok2,nowhere\n", "unknown source 'nowhere'"),
])
def test_bad_csv_is_rejected_whole_naming_the_row(scheduler, fresh, content, message):
    catalogue(scheduler, fresh, fresh)
    response = api(scheduler, "POST", "/jobs/bulk", data={"target": fresh},
                   files={"file": ("u.csv", content.replace(b"{source}", fresh.encode()))})
    assert response.status_code in (400, 404)
    assert message in response.json()["detail"]
    assert api(scheduler, "GET", "/jobs", params={"target": fresh}).json()["total"] == 0


def test_filters_and_paging(scheduler, fresh):
    second = f"{fresh}-b"
    catalogue(scheduler, fresh, fresh)
    assert api(scheduler, "POST", "/sources", json={"name": second}).status_code == 201
    ids = [api(scheduler, "POST", "/jobs", json={
        "target": fresh, "source": fresh if n % 2 else second, "uid": f"user{n}",
        "phase": "cutover" if n % 3 == 0 else "pre-sync"}).json()["id"] for n in range(7)]
    repository = scheduler.repository
    backend = repository.register_backend(fresh, "1", BackendStatus.STARTED, 5)
    claimed = repository.claim(backend.name, fresh, [fresh], 1)
    assert [c.job.id for c in claimed] == [ids[1]]

    def page(**params: object) -> dict:
        return api(scheduler, "GET", "/jobs", params={"target": fresh, **params}).json()

    assert page()["total"] == 7
    assert [j["id"] for j in page()["items"]] == ids[::-1]  # newest first
    assert [j["id"] for j in page(offset=2, limit=3)["items"]] == ids[::-1][2:5]
    assert page(offset=2, limit=3)["total"] == 7
    assert {j["id"] for j in page(source=second)["items"]} == {ids[0], ids[2], ids[4], ids[6]}
    assert {j["id"] for j in page(phase="cutover")["items"]} == {ids[0], ids[3], ids[6]}
    assert [j["id"] for j in page(uid="user5")["items"]] == [ids[5]]
    assert [j["id"] for j in page(status="RUNNING")["items"]] == [ids[1]]
    assert [j["id"] for j in page(backend=backend.name)["items"]] == [ids[1]]
    assert page(status=["RUNNING", "QUEUED"])["total"] == 7
    assert page(status="SUCCESS")["total"] == 0
    for bad in ({"status": "DONE"}, {"limit": 0}, {"limit": 1001}, {"offset": -1},
                {"phase": "later"}):
        response = api(scheduler, "GET", "/jobs", params=bad)
        assert response.status_code == 422, bad


def test_cancel_and_requeue(scheduler, fresh):
    catalogue(scheduler, fresh, fresh)
    queued, running = (api(scheduler, "POST", "/jobs", json={
        "target": fresh, "source": fresh, "uid": uid}).json()["id"] for uid in ("q", "r"))
    backend = scheduler.repository.register_backend(fresh, "1", BackendStatus.STARTED, 5)
    scheduler.repository.claim(backend.name, fresh, [fresh], 5, candidates=[running])

    cancelled = api(scheduler, "POST", f"/jobs/{queued}/cancel")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    assert api(scheduler, "POST", f"/jobs/{queued}/cancel").status_code == 409
    asked = api(scheduler, "POST", f"/jobs/{running}/cancel").json()
    assert asked["status"] == "RUNNING" and asked["cancelRequested"] is True
    assert api(scheduler, "POST", f"/jobs/{running}/requeue").status_code == 409

    requeued = api(scheduler, "POST", f"/jobs/{queued}/requeue").json()
    assert requeued["status"] == "QUEUED"
    assert api(scheduler, "GET", f"/jobs/{queued}").json()["details"][-1]["requeued"][
        "previousStatus"] == "CANCELLED"
    assert api(scheduler, "POST", f"/jobs/{queued}/requeue").status_code == 409
    for path in ("/jobs/2147483647", "/jobs/2147483647/cancel", "/jobs/2147483647/requeue"):
        method = "GET" if path.count("/") == 2 else "POST"
        assert api(scheduler, method, path).status_code == 404
    assert api(scheduler, "GET", "/jobs/2147483648").status_code == 422


@pytest.mark.parametrize(("change", "status"), [
    ({"target": "nowhere"}, 404), ({"source": "nowhere"}, 404), ({"sourceHost": "nowhere"}, 404),
    ({"uid": ""}, 422), ({"uid": "x" * 256}, 422), ({"uid": "nul\x00byte"}, 422),
    ({"uid": "new\nline"}, 422), ({"sourceHost": "tab\there"}, 422),
    ({"imapcoptions": "nul\x00"}, 422), ({"exclude": "lone \ud800 surrogate"}, 422),
    ({"priority": 2**31}, 422), ({"phase": "final"}, 422), ({"email": "e" * 321}, 422),
    ({"target": "a/b"}, 422),
])
def test_rejected_submission_stores_nothing(scheduler, fresh, change, status):
    catalogue(scheduler, fresh, fresh)
    # ASCII-escaped JSON, so that a lone surrogate travels as the `\ud800` a client could send
    body = json.dumps({"target": fresh, "source": fresh, "uid": "alice", **change})
    response = api(scheduler, "POST", "/jobs", content=body,
                   headers={"content-type": "application/json"})
    assert response.status_code == status
    assert api(scheduler, "GET", "/jobs", params={"target": fresh}).json()["total"] == 0


def test_catalogue_crud(scheduler, fresh):
    assert api(scheduler, "POST", "/targets", json={"name": fresh}).status_code == 201
    assert api(scheduler, "POST", "/targets", json={"name": fresh}).status_code == 409
    assert api(scheduler, "GET", f"/targets/{fresh}").json()["name"] == fresh
    assert fresh in [t["name"] for t in api(scheduler, "GET", "/targets").json()]
    assert api(scheduler, "POST", "/sources", json={"name": fresh}).status_code == 201
    host = {"host": "imap.example", "port": 143, "ssl": False}
    assert api(scheduler, "POST", f"/sources/{fresh}/hosts", json=host).status_code == 201
    assert api(scheduler, "POST", f"/sources/{fresh}/hosts", json=host).status_code == 409
    changed = api(scheduler, "PUT", f"/sources/{fresh}/hosts/imap.example",
                  json={"port": 993, "ssl": True})
    assert changed.json() == {"source": fresh, "host": "imap.example", "port": 993,
                              "ssl": True, "statusCommand": None}
    assert api(scheduler, "POST", f"/sources/{fresh}/hosts",
               json={**host, "host": "h2", "port": 0}).status_code == 422
    api(scheduler, "POST", "/jobs", json={"target": fresh, "source": fresh, "uid": "u"})
    assert api(scheduler, "DELETE", f"/targets/{fresh}").status_code == 409
    assert api(scheduler, "DELETE", f"/sources/{fresh}").status_code == 409
    assert api(scheduler, "DELETE",
               f"/sources/{fresh}/hosts/imap.example").status_code == 204
    assert api(scheduler, "GET", f"/sources/{fresh}/hosts").json() == []
    empty = f"{fresh}-empty"
    api(scheduler, "POST", "/targets", json={"name": empty})
    assert api(scheduler, "DELETE", f"/targets/{empty}").status_code == 204
    assert api(scheduler, "GET", f"/targets/{empty}").status_code == 404


def test_scheduler_without_a_key_refuses_passwords(tmp_path):
    repository = MigrationRepository.connect(f"sqlite:///{tmp_path / 'migration.db'}")
    repository.upgrade()
    try:
        with running_scheduler(repository, tmp_path, dmf={}) as scheduler:
            catalogue(scheduler, "t", "s")
            refused = api(scheduler, "POST", "/jobs",
                          json={"target": "t", "source": "s", "uid": "u", "password": "pw"})
            accepted = api(scheduler, "POST", "/jobs",
                           json={"target": "t", "source": "s", "uid": "u"})
    finally:
        repository.close()
    assert refused.status_code == 400 and "wrapping key" in refused.json()["detail"]
    assert accepted.status_code == 201 and accepted.json()["passwordStored"] is False
    assert [job.uid for job in repository.list_jobs()] == ["u"]
