"""Against a real PostgreSQL (FILEBOX_DATABASE_URL): uploads of a PNG, a
PDF and text, their types as libmagic finds them, and reading them back."""

import base64

import psycopg
from starlette.testclient import TestClient

from filebox.app import app

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def test_psycopg_uses_libpq_through_ctypes():
    assert psycopg.pq.__impl__ == "python"
    assert psycopg.pq.version() > 100000


def test_uploads_are_typed_by_their_contents_and_read_back():
    with TestClient(app) as client:
        for name, data, expected in [("a.png", PNG, "image/png"), ("b.pdf", PDF, "application/pdf"),
                                     ("c.bin", b"plain words\n", "text/plain")]:
            stored = client.post("/files", files={"file": (name, data)})
            assert stored.status_code == 201, stored.text
            assert stored.json()["type"] == expected
            read = client.get(f"/files/{stored.json()['id']}")
            assert read.json() == stored.json()


def test_a_missing_file_is_404_and_a_form_without_a_file_400():
    with TestClient(app) as client:
        assert client.get("/files/999999999").status_code == 404
        assert client.post("/files", data={"other": "x"}).status_code == 400


def test_health_names_the_database():
    with TestClient(app) as client:
        assert client.get("/health").json()["database"].startswith("PostgreSQL ")
