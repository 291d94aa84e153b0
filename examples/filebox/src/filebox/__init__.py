"""filebox: uploads' metadata in PostgreSQL, their types found by libmagic."""
__version__ = "1.0.0"
