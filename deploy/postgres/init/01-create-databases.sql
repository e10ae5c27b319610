-- Run once by the postgres:16 image on an EMPTY data directory (docker-entrypoint-initdb.d), as
-- POSTGRES_USER. One database per service (a service owns its tables; no cross-database joins)
-- plus the shared append-only event log. Development only: every database is owned by the
-- compose superuser; on Kubernetes give each service its own role (see deploy/README.md).
-- To re-run after changing this file: `docker compose down -v` (drops the pgdata volume).
CREATE DATABASE training;
CREATE DATABASE evaluation;
CREATE DATABASE finance;
CREATE DATABASE awards;
CREATE DATABASE indicators;
CREATE DATABASE eventlog;
