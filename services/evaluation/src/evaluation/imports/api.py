"""HTTP handlers of bulk imports (district officials)."""

from __future__ import annotations

import asyncio
import csv
import io

from fastapi import APIRouter, Request, Response, status

from common.db import unit_of_work
from evaluation.api import ContextDep, DistrictAdmin
from evaluation.db import SessionDep
from evaluation.exceptions import UploadTooLarge
from evaluation.imports import reader, service
from evaluation.imports.schemas import ImportJobRead
from evaluation.imports.worker import ImportTasks, run_import
from evaluation.models import ImportJob
from evaluation.settings import EvaluationSettings

router = APIRouter(prefix="/v1", tags=["imports"])
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "CSV (UTF-8, header row) or XLSX (first sheet) with "
                            "columns " + ", ".join(reader.REQUIRED_COLUMNS) + " [, "
                            "occupation_edition]",
                        }
                    },
                }
            }
        },
    }
}


def _read(job: ImportJob) -> ImportJobRead:
    return ImportJobRead.model_validate(job, from_attributes=True).model_copy(
        update={"errors_url": f"/v1/imports/{job.id}/errors.csv"}
    )


@router.post(
    "/imports",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=ImportJobRead,
    summary="Import existing certificates from a CSV or XLSX file (district officials)",
    openapi_extra=UPLOAD_BODY,
    responses={413: {"description": "File too large"}, 415: {"description": "Not CSV or XLSX"}},
)
async def create_import(
    request: Request, principal: DistrictAdmin, ctx: ContextDep
) -> ImportJobRead:
    """Stream the file to disk, check its header row, and start the job in the background.
    Poll `GET /v1/imports/{id}`; download the per-row error report from `errors_url`."""
    settings: EvaluationSettings = request.app.state.settings
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > settings.import_max_bytes + 64 * 1024:
        raise UploadTooLarge(f"The file exceeds {settings.import_max_bytes} bytes")
    upload = await reader.receive_upload(
        content_type=request.headers.get("content-type", ""),
        stream=request.stream(),
        directory=settings.import_path(),
        max_bytes=settings.import_max_bytes,
    )
    try:
        reader.check_header(await asyncio.to_thread(reader.header_of, upload))
        # The job is committed before its task starts (the task updates it), so it is written
        # in its own unit of work rather than the request's.
        async with unit_of_work(request.app.state.sessionmaker) as session:
            job = await service.create_job(session, upload=upload, submitted_by=principal.subject)
    except BaseException:
        reader.remove(upload.path)
        raise
    accepted = _read(job)
    tasks: ImportTasks = request.app.state.import_tasks
    tasks.start(
        run_import(
            job_id=job.id,
            upload=upload,
            sessionmaker=request.app.state.sessionmaker,
            ctx=ctx,
            preparer=tasks.preparer,
            chunk_rows=settings.import_chunk_rows,
            max_rows=settings.import_max_rows,
            database_url=settings.database_url,
        ),
        name=f"import-{job.id}",
    )
    return accepted


@router.get("/imports/{job_id}", response_model=ImportJobRead, summary="An import job's progress")
async def read_import(
    job_id: str, principal: DistrictAdmin, session: SessionDep, request: Request
) -> ImportJobRead:
    """Progress and counts; `interrupted` when its process stopped."""
    settings: EvaluationSettings = request.app.state.settings
    job = await service.get_job(session, job_id, stale_after=settings.import_stale_seconds)
    return _read(job)


@router.get(
    "/imports/{job_id}/errors.csv",
    summary="The per-row error report of an import (row, field, reason)",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
async def import_errors(job_id: str, principal: DistrictAdmin, session: SessionDep) -> Response:
    """One line per problem: the row number as a spreadsheet shows it (header = row 1), the
    field, a reason code and a message. Rejected values are never repeated."""
    rows = await service.error_report(session, job_id)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(["row", "field", "reason", "message"])
    writer.writerows([r.row_number, r.field, r.reason, r.message] for r in rows)
    return Response(
        buffer.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="import-{job_id}-errors.csv"'},
    )
