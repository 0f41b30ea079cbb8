"""The HTTP edge: FastAPI app factory, routers, SSE streams, problem+json errors."""
