"""A worker's in-memory copy that keeps in step with a Redis store through the store's change
log: one round trip when nothing changed, the new entries applied when some did, a full
reload when entries were trimmed away before this copy read them."""
import threading

from app.gallery.codec import text


class LogFollower:
    """Subclasses set `store` (with read_changes(after_id) -> (version, entries)) and implement
    `_reload()` (returns "reloaded") and `_apply(fields)` for one log entry."""

    def __init__(self, store):
        self.store = store
        self.lock = threading.Lock()
        self.version, self.last_id = -1, None

    def sync(self) -> str:
        """Catch up with Redis: "current", "updated" (entries applied) or "reloaded"."""
        with self.lock:
            if self.last_id is None:
                return self._reload()
            version, entries = self.store.read_changes(self.last_id)
            if version == self.version:
                return "current"
            if len(entries) != version - self.version:  # some deltas were trimmed away
                return self._reload()
            for entry_id, fields in entries:
                self._apply({text(k): v for k, v in fields.items()})
                self.last_id = text(entry_id)
            self.version = version
            return "updated"

    def _reload(self) -> str:
        raise NotImplementedError

    def _apply(self, fields: dict) -> None:
        raise NotImplementedError
