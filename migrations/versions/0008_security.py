"""security: one-time tickets

Revision ID: 0008_security
Revises: 0007_planning_owner
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_security"
down_revision: str | None = "0007_planning_owner"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # A page opened in a new tab is authorised by a one-time ticket, never by a bearer token in its URL.
    op.create_table(
        "auth_ticket",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_version", sa.Integer, nullable=False),
        sa.Column("path", sa.String(200), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_auth_ticket_expires", "auth_ticket", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_auth_ticket_expires", table_name="auth_ticket")
    op.drop_table("auth_ticket")
