"""``nnlearn playground``: a local web page to watch the book's network learn, live and offline.

``start()`` serves it in a background thread (for scripts and tests); ``serve()`` runs it until Ctrl-C.
"""

from .server import DEFAULT_PORT, PlaygroundServer, serve, start

__all__ = ["DEFAULT_PORT", "PlaygroundServer", "serve", "start"]
