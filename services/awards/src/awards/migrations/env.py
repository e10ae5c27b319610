"""Alembic environment of the awards database."""

from awards.models import Base
from common.migrations import run_env

run_env(Base.metadata)
