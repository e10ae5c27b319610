"""Alembic environment of the finance database."""

from common.migrations import run_env
from finance.models import Base

run_env(Base.metadata)
