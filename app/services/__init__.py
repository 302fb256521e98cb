"""The rules of SPEC.md, free of HTTP.

Locking discipline, followed by every write so that concurrent requests queue instead of
deadlocking: lock rows before writing any, in the order devices, then patchbay points (by id),
then ports (by id). Every change of `ports.patchbay_id` first locks the point it moves to, so
the point's row lock serialises everyone who wants that point, in every API process.

The first write of a transaction also locks the one `state_revision` row (a trigger bumps it),
so that lock is always the last one taken; writing before all row locks are held would let two
transactions wait on each other.
"""
