"""Alembic environment: sync psycopg connection; PostGIS/pgRouting internals and app-made partitions
are not part of the model and are ignored by autogenerate / ``alembic check``."""

from __future__ import annotations

import os
import re
from logging.config import fileConfig

from alembic import context
from geoalchemy2 import alembic_helpers
from sqlalchemy import engine_from_config, pool

from app.db import models_basemap, models_devices, models_planning, models_tracking, models_viid  # noqa: F401  (register their tables on Base.metadata)
from app.db.models import Base

config = context.config
if config.config_file_name and not config.attributes.get("skip_logging"):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

if not config.get_main_option("sqlalchemy.url") and os.environ.get("DATABASE_URL"):
    from app.db.engine import sync_url

    config.set_main_option("sqlalchemy.url", sync_url(os.environ["DATABASE_URL"]))

_PARTITION = re.compile(r"^position_p\d{8}$")
_FOREIGN = {"spatial_ref_sys", "topology", "layer"}


def include_object(obj, name, type_, reflected, compare_to):
    if type_ == "table" and (name in _FOREIGN or (name and _PARTITION.match(name))):
        return False
    if type_ == "index" and getattr(obj, "table", None) is not None and _PARTITION.match(obj.table.name):
        return False
    return alembic_helpers.include_object(obj, name, type_, reflected, compare_to)


def run_migrations_online() -> None:
    connectable = engine_from_config(config.get_section(config.config_ini_section, {}),
                                     prefix="sqlalchemy.", poolclass=pool.NullPool)
    with connectable.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=Base.metadata,
            include_object=include_object,
            process_revision_directives=alembic_helpers.writer,
            render_item=alembic_helpers.render_item,
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()


run_migrations_online()
