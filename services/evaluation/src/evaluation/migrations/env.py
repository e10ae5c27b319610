"""Alembic environment of the evaluation database."""

from common.migrations import run_env
from evaluation.models import Base

run_env(Base.metadata)
