"""Every exception dash-ws raises, in one place."""


class DashWsError(Exception):
    """Base class for dash-ws errors."""


class ProtocolError(DashWsError):
    """A browser message broke the wire protocol; the page is told, the socket stays."""


class RefusedMessage(ProtocolError):
    """A browser message refused whole, unread: past the size limit (413) or the server's
    budget (503). ``call_id`` is set when it was a call, to answer it with ``status``."""

    def __init__(self, text: str, call_id: int | None, status: int = 413) -> None:
        super().__init__(text)
        self.call_id = call_id
        self.status = status


class SocketClosed(DashWsError):
    """The page's socket closed while a callback was waiting on it."""


class ComponentNotFound(DashWsError, LookupError):
    """``get_prop`` named a component that is not in the page's layout."""


class UnsupportedDash(DashWsError, RuntimeError):
    """The installed Dash, or the backend asked for, cannot carry dash-ws."""


class InvalidState(DashWsError, RuntimeError):
    """A page session was asked to do what its state does not allow."""
