"""Chat channel: the website widget's WebSocket, resumable by a signed visitor token."""
