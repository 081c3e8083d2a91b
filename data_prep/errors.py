"""The one error type a converter raises for a bad source row."""


class BadRow(ValueError):
    """A source row that cannot become a verl row.

    ``field`` names the offending source column, ``reason`` is a short class of problem (the key the
    ``--skip-bad`` summary counts under) and ``detail`` the specifics. The conversion loop adds the row
    number and source id to the message.
    """

    def __init__(self, field: str, reason: str, detail: str = ""):
        super().__init__(f"field {field!r}: {reason}" + (f" ({detail})" if detail else ""))
        self.field = field
        self.reason = reason
        self.detail = detail
