"""What each worker builds once, in the app factory: the model clients and their gRPC
channels, the Redis connection, the gallery store and this worker's replica of it, the event
log and the matching rule. Use cases receive this; nothing is made at import."""
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from flask import current_app

from app.events import EventLog
from app.gallery import GalleryReplica, GalleryStore, MatchRule
from app.pipeline import FacePipeline, build_pipeline
from app.pipeline.imaging import read_any_header_size
from config import Settings


@dataclass
class Services:
    settings: Settings
    pipeline: FacePipeline
    redis: redis.Redis
    store: GalleryStore
    replica: GalleryReplica
    events: EventLog
    rule: MatchRule

    @property
    def redis_where(self) -> str:
        """REDIS_URL without its password, for messages."""
        parts = urlsplit(self.settings.redis_url)
        netloc = f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
        return f"{parts.scheme}://{netloc}{parts.path}"


def build_services(settings: Settings, pipeline: FacePipeline | None = None) -> Services:
    """`pipeline`: an already loaded one (tests share models); otherwise built from the settings,
    with this worker's own gRPC channels."""
    read_any_header_size()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=settings.redis_timeout_s,
                                  socket_connect_timeout=settings.redis_timeout_s, health_check_interval=30)
    store = GalleryStore(client, settings.redis_prefix, settings.gallery_log_maxlen)
    events = EventLog(client, settings.redis_prefix, settings.events_maxlen, settings.thumbnail_ttl_s)
    replica = GalleryReplica(store, cache_dir=settings.gallery_cache_dir or None)
    replica.start_maintenance()  # loads the gallery now, then keeps it compact off the request path
    return Services(settings, pipeline or build_pipeline(settings), client, store, replica, events,
                    MatchRule(settings.match_threshold))


def services() -> Services:
    """The current worker's services (inside a request)."""
    return current_app.extensions["facerec"]
