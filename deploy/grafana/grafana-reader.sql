-- A read-only PostgreSQL role for Grafana's Sonde data source
-- (deploy/grafana/provisioning/datasources/sonde.yaml; docs/operations.md,
-- "Grafana"). Run as the owner of Sonde's tables (the collector's role) in
-- Sonde's database, then set a password:
--   psql "$SONDE_POSTGRES" -f deploy/grafana/grafana-reader.sql
--   psql "$SONDE_POSTGRES" -c "ALTER ROLE sonde_grafana PASSWORD '...'"
-- Daily partitions of `results` need no grant of their own: Grafana reads
-- through the parent table. Tables added by later migrations are covered by
-- the default privileges below.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'sonde_grafana') THEN
    CREATE ROLE sonde_grafana LOGIN;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA public TO sonde_grafana;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO sonde_grafana;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO sonde_grafana;
-- A dashboard query never runs longer than this (Grafana has no limit of its own).
ALTER ROLE sonde_grafana SET statement_timeout = '30s';
