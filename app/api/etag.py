"""Weak ETags for the state revision (RFC 9110 conditional GET)."""


def etag_for(revision: int) -> str:
    return f'W/"{revision}"'


def if_none_match_hits(header: str, revision: int) -> bool:
    """True when an If-None-Match header names this revision (weak comparison) or is `*`."""
    wanted = f'"{revision}"'
    for tag in header.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == wanted:
            return True
    return False
