"""Alembic environment of the indicators database."""

from common.migrations import run_env
from indicators.models import Base

run_env(Base.metadata)
