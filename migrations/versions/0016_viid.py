"""GA/T 1400 view library (issue #21): device sessions, the checkpoint catalogue, motor-vehicle passes and
the other structured records (faces, persons, non-motor vehicles). Images live on disk, not here.

Revision ID: 0016_viid
Revises: 0015_lower_platform
Create Date: 2026-12-03
"""

from collections.abc import Sequence

import geoalchemy2  # noqa: F401
import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry
from sqlalchemy.dialects import postgresql

revision: str = "0016_viid"
down_revision: str | None = "0015_lower_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('viid_session',
    sa.Column('device_id', sa.CHAR(length=20), nullable=False),
    sa.Column('address', sa.String(length=64), nullable=True),
    sa.Column('registered_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('last_keepalive_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("device_id ~ '^[0-9]{20}$'", name='viid_session_device_id'),
    sa.PrimaryKeyConstraint('device_id')
    )
    op.create_table('viid_motor_vehicle',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('uploaded_by', sa.CHAR(length=20), nullable=False),
    sa.Column('tollgate_id', sa.String(length=64), nullable=True),
    sa.Column('division_code', sa.String(length=12), nullable=True),
    sa.Column('pass_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('lane_no', sa.SmallInteger(), nullable=True),
    sa.Column('direction', sa.String(length=8), nullable=True),
    sa.Column('speed_kmh', sa.Float(), nullable=True),
    sa.Column('plate_no', sa.String(length=32), nullable=True),
    sa.Column('plate_color', sa.String(length=8), nullable=True),
    sa.Column('plate_class', sa.String(length=8), nullable=True),
    sa.Column('vehicle_class', sa.String(length=8), nullable=True),
    sa.Column('vehicle_color', sa.String(length=8), nullable=True),
    sa.Column('vehicle_brand', sa.String(length=32), nullable=True),
    sa.Column('images', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['division_code'], ['division.code'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('record_id')
    )
    op.create_index('ix_viid_mv_pass_time', 'viid_motor_vehicle', ['pass_time'], unique=False)
    op.create_index('ix_viid_mv_plate', 'viid_motor_vehicle', ['plate_no', 'pass_time'], unique=False, postgresql_ops={'plate_no': 'text_pattern_ops'})
    op.create_index('ix_viid_mv_tollgate', 'viid_motor_vehicle', ['tollgate_id', 'pass_time'], unique=False)
    op.create_table('viid_object',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('record_id', sa.String(length=64), nullable=False),
    sa.Column('device_id', sa.String(length=64), nullable=True),
    sa.Column('uploaded_by', sa.CHAR(length=20), nullable=False),
    sa.Column('tollgate_id', sa.String(length=64), nullable=True),
    sa.Column('division_code', sa.String(length=12), nullable=True),
    sa.Column('shot_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('attributes', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('images', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('received_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('face','person','nonmotor')", name='viid_object_kind'),
    sa.ForeignKeyConstraint(['division_code'], ['division.code'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index('ix_viid_object_shot', 'viid_object', ['kind', 'shot_time'], unique=False)
    op.create_index('uq_viid_object_record', 'viid_object', ['kind', 'record_id'], unique=True)
    op.create_geospatial_table('viid_tollgate',
    sa.Column('tollgate_id', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=True),
    sa.Column('location', Geometry(geometry_type='POINT', srid=4326, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('place_code', sa.String(length=12), nullable=True),
    sa.Column('place', sa.String(length=200), nullable=True),
    sa.Column('division_code', sa.String(length=12), nullable=True),
    sa.Column('category', sa.String(length=8), nullable=True),
    sa.Column('usage', sa.String(length=8), nullable=True),
    sa.Column('lane_count', sa.SmallInteger(), nullable=True),
    sa.Column('status', sa.String(length=8), nullable=True),
    sa.Column('device_id', sa.CHAR(length=20), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['division_code'], ['division.code'], ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('tollgate_id')
    )
    op.create_index('ix_viid_tollgate_division', 'viid_tollgate', ['division_code'], unique=False, postgresql_ops={'division_code': 'text_pattern_ops'})


def downgrade() -> None:
    op.drop_index('ix_viid_tollgate_division', table_name='viid_tollgate', postgresql_ops={'division_code': 'text_pattern_ops'})
    op.drop_geospatial_table('viid_tollgate')
    op.drop_index('uq_viid_object_record', table_name='viid_object')
    op.drop_index('ix_viid_object_shot', table_name='viid_object')
    op.drop_table('viid_object')
    op.drop_index('ix_viid_mv_tollgate', table_name='viid_motor_vehicle')
    op.drop_index('ix_viid_mv_plate', table_name='viid_motor_vehicle', postgresql_ops={'plate_no': 'text_pattern_ops'})
    op.drop_index('ix_viid_mv_pass_time', table_name='viid_motor_vehicle')
    op.drop_table('viid_motor_vehicle')
    op.drop_table('viid_session')
