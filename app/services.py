"""What each worker builds once, in the app factory: models, Redis, the gallery copy."""
from dataclasses import dataclass
from urllib.parse import urlsplit

import redis
from flask import current_app

from app.events import EventLog
from app.gallery import GalleryIndex, GalleryStore
from app.pipeline import FacePipeline, build_pipeline


@dataclass
class Services:
    settings: object
    pipeline: FacePipeline
    redis: redis.Redis
    store: GalleryStore
    gallery: GalleryIndex
    events: EventLog

    @property
    def redis_where(self):
        """REDIS_URL without its password, for messages."""
        parts = urlsplit(self.settings.redis_url)
        netloc = f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
        return f"{parts.scheme}://{netloc}{parts.path}"


def build_services(settings, pipeline=None):
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=settings.redis_timeout_s,
                                  socket_connect_timeout=settings.redis_timeout_s, health_check_interval=30)
    store = GalleryStore(client, settings.redis_prefix, settings.gallery_log_maxlen)
    return Services(settings, pipeline or build_pipeline(settings), client, store, GalleryIndex(store),
                    EventLog(client, settings.redis_prefix, settings.events_maxlen, settings.thumbnail_ttl_s))


def services() -> Services:
    return current_app.extensions["facerec"]
