"""The Frigate bridge command (the bridge itself is app/frigate/)."""
import logging
import signal
import threading
from pathlib import Path

import click

from app.cli.base import cli


@cli.command("frigate")
@click.option("--config", "config_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              envvar="FRIGATE_BRIDGE_CONFIG", help="YAML or JSON: any setting below, and `cameras:` per camera")
@click.option("--frigate-url", envvar="FRIGATE_URL", help="Frigate's API [http://127.0.0.1:5000]")
@click.option("--frigate-user", envvar="FRIGATE_USER", help="log in to Frigate 0.14+ as this user (port 8971)")
@click.option("--frigate-password", envvar="FRIGATE_PASSWORD")
@click.option("--frigate-token", envvar="FRIGATE_TOKEN", help="a Frigate JWT (Bearer) instead of a login")
@click.option("--mqtt-url", envvar="FRIGATE_MQTT_URL", help="Frigate's broker [mqtt://127.0.0.1:1883]")
@click.option("--topic-prefix", envvar="FRIGATE_TOPIC_PREFIX", help="Frigate's mqtt.topic_prefix [frigate]")
@click.option("--attempts", type=click.IntRange(0, 50), help="snapshots posted per event, every camera [3]")
@click.option("--unknown-sub-label", envvar="FRIGATE_UNKNOWN_SUB_LABEL",
              help="sub_label written for a stranger (default: none)")
@click.option("--double-take/--no-double-take", default=None, help="Double Take's MQTT topics [on]")
@click.option("--log-level", default="INFO", show_default=True,
              type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False))
@click.pass_obj
def frigate(server, config_file, frigate_url, frigate_user, frigate_password, frigate_token, mqtt_url, topic_prefix,
            attempts, unknown_sub_label, double_take, log_level):
    """Name Frigate's people: each Frigate event is one visit of this server; its name goes back
    as the event's sub_label, and out on Double Take's MQTT topics."""
    from app.frigate.bridge import FrigateBridge
    from app.frigate.config import ConfigError, config_from
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    values = dict(frigate_url=frigate_url, frigate_user=frigate_user, frigate_password=frigate_password,
                  frigate_token=frigate_token, mqtt_url=mqtt_url, frigate_topic_prefix=topic_prefix,
                  unknown_sub_label=unknown_sub_label, double_take=double_take,
                  server_url=server.url, api_key=server.session.headers.get("X-API-Key"))
    try:
        config = config_from(config_file, **values)
        if attempts is not None:
            config = config.model_copy(update={"default_camera": config.default_camera.model_copy(
                update={"snapshot_attempts": attempts})})
    except ConfigError as e:
        raise click.ClickException(str(e)) from None
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, signal.default_int_handler)
    counts = FrigateBridge(config).run()
    click.echo("frigate bridge: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
