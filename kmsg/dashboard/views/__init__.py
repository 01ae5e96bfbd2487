"""The dashboard's pages, one module per page; each exposes ``routes(read_only)``."""
