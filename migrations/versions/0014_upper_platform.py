"""upper_platform: GB/T 28181 upper platforms this platform registers to (cascade), their sharing rules
and link state

Revision ID: 0014_upper_platform
Revises: 0013_open_figures
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0014_upper_platform"
down_revision: str | None = "0013_open_figures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "upper_platform",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("sip_id", sa.CHAR(length=20), nullable=False),
        sa.Column("domain", sa.String(length=20), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("port", sa.Integer(), server_default="5060", nullable=False),
        sa.Column("transport", sa.String(length=3), server_default="udp", nullable=False),
        # AES-GCM with the secret key: digest authentication needs the password itself.
        sa.Column("password_sealed", sa.Text(), nullable=False),
        sa.Column("local_id", sa.CHAR(length=20), nullable=True),
        sa.Column("register_expires_s", sa.Integer(), server_default="3600", nullable=False),
        sa.Column("keepalive_s", sa.Integer(), server_default="60", nullable=False),
        sa.Column("keepalive_misses", sa.SmallInteger(), server_default="3", nullable=False),
        sa.Column("charset", sa.String(length=8), server_default="GB2312", nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("share_divisions", postgresql.ARRAY(sa.String(length=12)), server_default="{}", nullable=False),
        sa.Column("share_max_secrecy", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("share_classes", postgresql.ARRAY(sa.SmallInteger()), nullable=True),
        sa.Column("share_kinds", postgresql.ARRAY(sa.String(length=8)), nullable=True),
        sa.Column("relay_positions", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("relay_alarms", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("link_state", sa.String(length=12), server_default="offline", nullable=False),
        sa.Column("link_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_keepalive_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_by", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("sip_id ~ '^[0-9]{20}$'", name="upper_platform_sip_id"),
        sa.CheckConstraint("local_id IS NULL OR local_id ~ '^[0-9]{20}$'", name="upper_platform_local_id"),
        sa.CheckConstraint("transport IN ('udp','tcp')", name="upper_platform_transport"),
        sa.CheckConstraint("charset IN ('GB2312','UTF-8')", name="upper_platform_charset"),
        sa.CheckConstraint("port BETWEEN 1 AND 65535", name="upper_platform_port"),
        sa.CheckConstraint("share_max_secrecy BETWEEN 0 AND 9", name="upper_platform_secrecy"),
        sa.CheckConstraint("link_state IN ('disabled','registering','registered','offline')",
                           name="upper_platform_link_state"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sip_id"),
    )
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON upper_platform TO sharpeyes_app")
    op.execute("GRANT USAGE ON SEQUENCE upper_platform_id_seq TO sharpeyes_app")


def downgrade() -> None:
    op.drop_table("upper_platform")
