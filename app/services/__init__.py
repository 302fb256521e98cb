"""The rules of SPEC.md, free of HTTP: one module per resource, on the request's connection.

Every write takes its row locks through the primitives of `locks.py`, in the one lock order
documented there; the revision row is taken last, at COMMIT, by the deferred triggers.
"""
