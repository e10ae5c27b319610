"""Alembic environment of the training database."""

from common.migrations import run_env
from training.models import Base

run_env(Base.metadata)
