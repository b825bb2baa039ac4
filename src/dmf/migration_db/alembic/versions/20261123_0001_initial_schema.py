"""Initial schema: targets, sources, source hosts, backends, jobs and running users.

Revision ID: 0001
Revises:
Create Date: 2026-11-23 18:24:50.167740
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(mysql.DATETIME(fsp=6), "mysql", "mariadb")
LONG_TEXT = sa.Text().with_variant(mysql.LONGTEXT(), "mysql", "mariadb")


def upgrade() -> None:
    op.create_table(
        "sources",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_sources")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_nopad_bin",
        mariadb_charset="utf8mb4",
        mariadb_collate="utf8mb4_nopad_bin",
    )
    op.create_table(
        "targets",
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("created", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_targets")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_nopad_bin",
        mariadb_charset="utf8mb4",
        mariadb_collate="utf8mb4_nopad_bin",
    )
    op.create_table(
        "backends",
        sa.Column("name", sa.String(length=511), nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("memberid", sa.String(length=255), nullable=False),
        sa.Column("initial_state", sa.Integer(), nullable=False),
        sa.Column("max_threads", sa.Integer(), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("threads", sa.Integer(), nullable=False),
        sa.Column("command", sa.String(length=16), nullable=True),
        sa.Column("updated", TIMESTAMP, nullable=False),
        sa.Column("heartbeat", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "command IN ('PAUSE', 'START', 'STOP')", name=op.f("ck_backends_command")
        ),
        sa.CheckConstraint("initial_state IN (0, 1)", name=op.f("ck_backends_initial_state")),
        sa.CheckConstraint("max_threads >= 0", name=op.f("ck_backends_max_threads")),
        sa.CheckConstraint("status IN (0, 1, 2, 3)", name=op.f("ck_backends_status")),
        sa.ForeignKeyConstraint(
            ["target"], ["targets.name"], name=op.f("fk_backends_target_targets")
        ),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_backends")),
        sa.UniqueConstraint("target", "memberid", name=op.f("uq_backends_target_memberid")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_nopad_bin",
        mariadb_charset="utf8mb4",
        mariadb_collate="utf8mb4_nopad_bin",
    )
    op.create_table(
        "jobs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("ruid", sa.String(length=255), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("source_host", sa.String(length=255), nullable=True),
        sa.Column("password_ciphertext", LONG_TEXT, nullable=True),
        sa.Column("password_iv", sa.String(length=64), nullable=True),
        sa.Column("password_key", sa.String(length=255), nullable=True),
        sa.Column("imapcoptions", LONG_TEXT, nullable=True),
        sa.Column("exclude", LONG_TEXT, nullable=True),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("submitted", TIMESTAMP, nullable=False),
        sa.Column("started", TIMESTAMP, nullable=True),
        sa.Column("finished", TIMESTAMP, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("backend", sa.String(length=511), nullable=True),
        sa.Column("heartbeat", TIMESTAMP, nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), nullable=False),
        sa.Column("details", LONG_TEXT, nullable=False),
        sa.CheckConstraint("phase IN ('pre-sync', 'cutover')", name=op.f("ck_jobs_phase")),
        sa.CheckConstraint(
            "status IN ('QUEUED', 'RUNNING', 'SUCCESS', 'FAILURE', 'CANCELLED')",
            name=op.f("ck_jobs_status"),
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_jobs_attempts")),
        sa.ForeignKeyConstraint(["source"], ["sources.name"], name=op.f("fk_jobs_source_sources")),
        sa.ForeignKeyConstraint(["target"], ["targets.name"], name=op.f("fk_jobs_target_targets")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_nopad_bin",
        mariadb_charset="utf8mb4",
        mariadb_collate="utf8mb4_nopad_bin",
    )
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_jobs_backend_status"), ["backend", "status"], unique=False
        )
        batch_op.create_index(
            "ix_jobs_claim_order",
            ["target", "status", sa.text("priority DESC"), "submitted", "id"],
            unique=False,
        )
        batch_op.create_index(batch_op.f("ix_jobs_uid"), ["uid"], unique=False)

    op.create_table(
        "source_hosts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=255), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("ssl", sa.Boolean(), nullable=False),
        sa.Column("status_command", LONG_TEXT, nullable=True),
        sa.CheckConstraint("port > 0 AND port < 65536", name=op.f("ck_source_hosts_port")),
        sa.ForeignKeyConstraint(
            ["source"],
            ["sources.name"],
            name=op.f("fk_source_hosts_source_sources"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_source_hosts")),
        sa.UniqueConstraint("source", "host", name=op.f("uq_source_hosts_source_host")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_nopad_bin",
        mariadb_charset="utf8mb4",
        mariadb_collate="utf8mb4_nopad_bin",
    )
    op.create_table(
        "running_users",
        sa.Column("target", sa.String(length=255), nullable=False),
        sa.Column("uid", sa.String(length=255), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["job_id"], ["jobs.id"], name=op.f("fk_running_users_job_id_jobs"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("target", "uid", name=op.f("pk_running_users")),
        mysql_charset="utf8mb4",
        mysql_collate="utf8mb4_nopad_bin",
        mariadb_charset="utf8mb4",
        mariadb_collate="utf8mb4_nopad_bin",
    )
    with op.batch_alter_table("running_users", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_running_users_job_id"), ["job_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("running_users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_running_users_job_id"))
    op.drop_table("running_users")
    op.drop_table("source_hosts")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_jobs_uid"))
        batch_op.drop_index("ix_jobs_claim_order")
        batch_op.drop_index(batch_op.f("ix_jobs_backend_status"))

    op.drop_table("jobs")
    op.drop_table("backends")
    op.drop_table("targets")
    op.drop_table("sources")
