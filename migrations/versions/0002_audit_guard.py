"""audit_event is append-only: trigger + privileges of the application role

Revision ID: 0002_audit_guard
Revises: 0001
Create Date: 2026-11-23

The application connects as (a member of) ``sharpeyes_app``. That role may insert and read audit
events but holds no UPDATE/DELETE/TRUNCATE on them; the trigger refuses changes from anyone else too,
so only a superuser who first disables the trigger could alter history — which ``sharpeyes audit
verify`` then detects through the hash chain.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002_audit_guard"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute("""
        DO $$ BEGIN
          IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sharpeyes_app') THEN
            CREATE ROLE sharpeyes_app NOLOGIN;
          END IF;
        END $$""")
    op.execute("GRANT USAGE ON SCHEMA public TO sharpeyes_app")
    op.execute("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO sharpeyes_app")
    op.execute("GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO sharpeyes_app")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES "
               "TO sharpeyes_app")
    op.execute("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO sharpeyes_app")
    op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM PUBLIC, sharpeyes_app")
    op.execute("""
        CREATE FUNCTION audit_event_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'audit_event is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
        END $$""")
    op.execute("""CREATE TRIGGER audit_event_no_update BEFORE UPDATE OR DELETE ON audit_event
                  FOR EACH ROW EXECUTE FUNCTION audit_event_append_only()""")
    op.execute("""CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event
                  FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()""")


def downgrade() -> None:
    op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
    op.execute("DROP TRIGGER IF EXISTS audit_event_no_update ON audit_event")
    op.execute("DROP FUNCTION IF EXISTS audit_event_append_only()")
