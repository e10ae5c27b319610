"""HTTP handlers of the training service: one router made of each part's thin handlers."""

from __future__ import annotations

from fastapi import APIRouter

from training.circle.api import router as circle_router
from training.classes.api import router as classes_router
from training.completions.api import router as completions_router
from training.enrolment.api import router as enrolment_router
from training.institutions.api import router as institutions_router
from training.key_groups.api import router as key_groups_router
from training.programmes.api import router as programmes_router

router = APIRouter()
for part in (
    programmes_router,
    institutions_router,
    classes_router,
    enrolment_router,
    completions_router,
    key_groups_router,
    circle_router,
):
    router.include_router(part)
