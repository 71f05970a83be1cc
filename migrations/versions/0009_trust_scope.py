"""audit_event.divisions: the divisions an event concerns (a division administrator reads their subtree)

Revision ID: 0009_trust_scope
Revises: 0008_security
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0009_trust_scope"
down_revision: str | None = "0008_security"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("audit_event", sa.Column("divisions", postgresql.ARRAY(sa.String(length=12)), nullable=True))


def downgrade() -> None:
    op.drop_column("audit_event", "divisions")
