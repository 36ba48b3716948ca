"""A small shop on FastAPI and SQLAlchemy 2 that adopted Aura (see docs/howto/adopt-fastapi.rst)."""
