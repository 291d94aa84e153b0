"""The API: POST /files (multipart, field `file`) stores an upload's name,
size, SHA-256 and detected type; GET /files/{id} reads them back; GET
/health asks the database. Settings come from the environment."""

import contextlib
import hashlib
import os

import magic
import psycopg
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

DATABASE_URL = os.environ.get("FILEBOX_DATABASE_URL", "postgresql://postgres@db:5432/filebox")

SCHEMA = """
create table if not exists files (
    id bigserial primary key,
    name text not null,
    size bigint not null,
    sha256 text not null,
    type text not null
)
"""


def connect():
    return psycopg.connect(DATABASE_URL, autocommit=True)


@contextlib.asynccontextmanager
async def lifespan(app):
    with connect() as db:
        db.execute(SCHEMA)
    yield


async def upload(request):
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return JSONResponse({"error": "send the file as the multipart field 'file'"}, status_code=400)
    data = await upload.read()
    record = {
        "name": upload.filename or "",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "type": magic.from_buffer(data, mime=True),
    }
    with connect() as db:
        row = db.execute(
            "insert into files (name, size, sha256, type) values (%(name)s, %(size)s, %(sha256)s, %(type)s) returning id",
            record,
        ).fetchone()
    return JSONResponse({"id": row[0], **record}, status_code=201)


async def read(request):
    with connect() as db:
        row = db.execute(
            "select id, name, size, sha256, type from files where id = %s", (request.path_params["id"],)
        ).fetchone()
    if row is None:
        return JSONResponse({"error": "no such file"}, status_code=404)
    return JSONResponse(dict(zip(("id", "name", "size", "sha256", "type"), row)))


async def health(request):
    with connect() as db:
        version = db.execute("select version()").fetchone()[0].split(" on ")[0]
    return JSONResponse({"status": "ok", "database": version, "libpq": psycopg.pq.version()})


app = Starlette(
    routes=[Route("/files", upload, methods=["POST"]), Route("/files/{id:int}", read), Route("/health", health)],
    lifespan=lifespan,
)


def main():
    import uvicorn

    uvicorn.run(app, host=os.environ.get("FILEBOX_HOST", "0.0.0.0"), port=int(os.environ.get("FILEBOX_PORT", "8000")))
