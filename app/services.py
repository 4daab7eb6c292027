"""What each worker builds once, in the app factory: the model clients and their gRPC
channels, the Redis connection, the gallery store and this worker's replica of it, the event
log and the matching rule; the unknown visitors (store and this worker's index of them) and
the negative examples. Use cases receive this; nothing is made at import."""
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import urlsplit

import redis

from app.corrections.negatives import Negatives
from app.events import EventLog
from app.gallery import GalleryModel, GalleryReplica, GalleryStore, MatchRule
from app.gallery.outage import RedisOutage
from app.mqtt import MqttPublisher, NoPublisher, build_publisher
from app.pipeline import FacePipeline, build_pipeline
from app.pipeline.imaging import read_any_header_size
from app.visitors.index import VisitorIndex
from app.visitors.store import VisitorStore
from app.visits import VisitRules, VisitStore
from app.visits.camera import TrackRules
from config import Settings


class Stoppable(Protocol):
    def stop(self) -> None: ...


@dataclass
class Services:
    settings: Settings
    pipeline: FacePipeline
    redis: redis.Redis
    store: GalleryStore
    replica: GalleryReplica
    events: EventLog
    rule: MatchRule
    publisher: MqttPublisher | NoPublisher   # recognition events to MQTT (MQTT_URL), never waited on
    visitors: VisitorStore
    visitor_index: VisitorIndex
    negatives: Negatives
    visits: VisitStore                       # open tracks of every camera (app/visits)
    outage: RedisOutage                      # whether Redis was found unreachable a moment ago
    background: list[Stoppable] = field(default_factory=list)   # housekeeping, the visit sweep

    @property
    def redis_where(self) -> str:
        """REDIS_URL without its password, for messages."""
        parts = urlsplit(self.settings.redis_url)
        netloc = f"{parts.hostname}:{parts.port}" if parts.port else (parts.hostname or "")
        return f"{parts.scheme}://{netloc}{parts.path}"

    def close(self) -> None:
        """When the worker exits (config/gunicorn.conf.py worker_exit): housekeeping and the visit
        sweep stopped (so that no "ended" comes after it), the MQTT goodbye, then the gallery's
        maintenance stopped."""
        for thread in self.background:
            thread.stop()
        self.publisher.close()
        self.replica.stop_maintenance()


def build_services(settings: Settings, pipeline: FacePipeline | None = None) -> Services:
    """`pipeline`: an already loaded one to share (tests share models), used when it is the one
    the settings describe (FacePipeline.fits); otherwise one is built from the settings, with
    this worker's own gRPC channels."""
    read_any_header_size()
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=settings.redis_timeout_s,
                                  socket_connect_timeout=settings.redis_timeout_s, health_check_interval=30)
    pipeline = pipeline if pipeline is not None and pipeline.fits(settings) else build_pipeline(settings)
    # the gallery is this worker's for its embedder's model: another model's gallery is refused (409)
    model = GalleryModel(pipeline.embedder.model_id, pipeline.embedder.dim)
    store = GalleryStore(client, settings.redis_prefix, settings.gallery_log_maxlen, model)
    events = EventLog(client, settings.redis_prefix, settings.events_maxlen, settings.events_max_mb << 20)
    # the settings fill these in per EMBEDDER
    assert settings.match_threshold is not None and settings.visit_mean_faces is not None
    rule = MatchRule(settings.match_threshold)
    visitors = VisitorStore(client, settings.redis_prefix, settings.visitor_max_sightings, settings.visitor_max_age_s,
                            settings.gallery_log_maxlen, model)
    negatives = Negatives(client, settings.redis_prefix, settings.negatives_per_person, settings.correction_margin,
                          model)
    visits = VisitStore(client, settings.redis_prefix, TrackRules(settings.track_gap_s, settings.track_max_distance),
                        VisitRules(rule.threshold, decide_weight=settings.visit_decide_weight,
                                   unknown_weight=settings.visit_unknown_weight,
                                   decide_share=settings.visit_decide_share,
                                   switch_factor=settings.visit_switch_factor,
                                   near_miss=settings.visit_near_miss, mean_faces=settings.visit_mean_faces),
                        settings.visit_keep_s)
    outage = RedisOutage(client, settings.redis_retry_s)
    replica = GalleryReplica(store, cache_dir=settings.gallery_cache_dir or None, outage=outage)
    replica.start_maintenance()  # loads the gallery now, then keeps it compact off the request path
    return Services(settings, pipeline, client, store, replica, events, rule,
                    build_publisher(settings, rule.confidence), visitors, VisitorIndex(visitors), negatives, visits,
                    outage)
