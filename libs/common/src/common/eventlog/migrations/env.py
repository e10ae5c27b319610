"""Alembic environment of the shared event log database."""

from common.eventlog.sql_log import log_metadata
from common.migrations import run_env

run_env(log_metadata)
