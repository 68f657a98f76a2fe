"""The weekly digest: a content model computed from storage, and pure renderers.

``content.compute(db, settings, week)`` -> :class:`content.Digest` (counts only, small groups
already hidden); ``markdown``, ``html``, ``tables`` (CSV) and ``charts`` turn it into text or
bytes without touching the database.
"""
