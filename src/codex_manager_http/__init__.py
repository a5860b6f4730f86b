"""The Litestar host: REST, the /api/stream WebSocket, OpenAPI and the web UI."""
