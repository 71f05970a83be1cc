"""Open planning figures: each stored figure also without secret cameras, for readers not cleared for them

A coverage row (and a division's KPIs) computed with a camera of secrecy > 0 gets a second row, mode
'<mode>.open', computed from the secrecy-0 cameras only; ``secret_ids`` (the same on both rows) lists the
secret cameras the full figure counts. A reader gets the full row only if they may see every one of them
(``app.db.scoping.figure_sql``), else the open row: a figure never reveals a camera its reader may not know.

Revision ID: 0013_open_figures
Revises: 0012_camera_placed
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0013_open_figures"
down_revision: str | None = "0012_camera_placed"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COVERAGE = ("key_area_coverage", "intersection_coverage", "road_coverage")


def _secret_ids() -> sa.Column:
    return sa.Column("secret_ids", postgresql.ARRAY(sa.Integer()), server_default="{}", nullable=False)


def upgrade() -> None:
    for table in COVERAGE:
        op.alter_column(table, "mode", type_=sa.String(16), existing_nullable=False)
        op.add_column(table, _secret_ids())
    op.add_column("division_kpi", sa.Column("mode", sa.String(16), server_default="all", nullable=False))
    op.add_column("division_kpi", _secret_ids())
    op.drop_constraint("division_kpi_pkey", "division_kpi", type_="primary")
    op.create_primary_key("division_kpi_pkey", "division_kpi", ["division_code", "mode"])


def downgrade() -> None:
    op.execute("DELETE FROM division_kpi WHERE mode <> 'all'")
    op.drop_constraint("division_kpi_pkey", "division_kpi", type_="primary")
    op.create_primary_key("division_kpi_pkey", "division_kpi", ["division_code"])
    op.drop_column("division_kpi", "secret_ids")
    op.drop_column("division_kpi", "mode")
    for table in COVERAGE:
        op.execute(f"DELETE FROM {table} WHERE mode LIKE '%.open'")
        op.drop_column(table, "secret_ids")
        op.alter_column(table, "mode", type_=sa.String(8), existing_nullable=False)
