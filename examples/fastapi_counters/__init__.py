"""A sharded counters service: FastAPI on uvicorn with ringpop (docs/fastapi.md)."""
