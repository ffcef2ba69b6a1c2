"""Named errors of the instrument layer."""


class InstrumentError(Exception):
    """Base class of everything a driver raises."""


class ProtocolError(InstrumentError):
    """The instrument answered something that is not valid for the query sent."""

    def __init__(self, query: str, reply: str, expected: str):
        super().__init__(f"garbage reply to {query!r}: {reply!r} (expected {expected})")
        self.query = query
        self.reply = reply
        self.expected = expected


class TransportError(InstrumentError):
    """The link to the instrument is down, timed out or refused."""


class InstrumentReportedError(InstrumentError):
    """The instrument's own error queue (SYST:ERR?) holds an error."""

    def __init__(self, code: int, message: str):
        super().__init__(f"instrument error {code}: {message}")
        self.code = code
        self.message = message
