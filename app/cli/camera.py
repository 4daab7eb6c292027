"""The camera node command (the node itself is app/camera_node.py)."""
import click

from app.cli.base import cli


@cli.command("camera")
@click.argument("source")
@click.option("--camera-id", required=True, help="the camera's name in events, MQTT and the page")
@click.option("--fps", default=2.0, show_default=True, type=click.FloatRange(0.1, 30),
              help="frames sent per second, at most")
@click.option("--motion", is_flag=True, help="send a frame only when something moved")
@click.option("--motion-threshold", default=0.01, show_default=True, type=click.FloatRange(0, 1),
              help="share of the pixels that must change")
@click.option("--snapshot/--stream", default=None, help="SOURCE is a snapshot URL to poll (default: from its "
                                                         "Content-Type) / a stream")
@click.option("--jpeg-quality", default=85, show_default=True, type=click.IntRange(10, 100))
@click.option("--max-width", default=1280, show_default=True, type=click.IntRange(0),
              help="scale wider frames down before sending (0: never)")
@click.option("--timeout", default=10.0, show_default=True, type=click.FloatRange(0, min_open=True),
              help="seconds for one request to the server or camera")
@click.option("--verbose", is_flag=True, help="print frames without a face too")
@click.pass_obj
def camera(server, source, camera_id, fps, motion, motion_threshold, snapshot, jpeg_quality, max_width, timeout,
           verbose):
    """Send frames of SOURCE (RTSP/HTTP stream, USB device index, video file, snapshot URL) to /recognize."""
    from app.camera_node import CameraNode, NodeConfig
    from app.gallery.identity import text_problem
    # the server's rule for camera_id (text_field): refused there, every frame would be refused,
    # forever on a stream
    problem = text_problem(camera_id.strip(), 200)
    if problem:
        raise click.BadParameter(problem, param_hint="--camera-id")
    config = NodeConfig(source, camera_id, server.url, server.session.headers.get("X-API-Key"), fps, motion,
                        motion_threshold, snapshot, jpeg_quality, max_width, timeout, verbose)
    counts = CameraNode(config, say=lambda line: click.echo(line)).run()
    names = ", ".join(f"{name} x{n}" for name, n in sorted(counts.names.items())) or "nobody known"
    click.echo(f"{camera_id}: {counts.read} frames read, {counts.sent} sent, {counts.still} without motion, "
               f"{max(0, counts.read - counts.sent - counts.still)} skipped, {counts.errors} server errors; "
               f"{counts.faces} with faces: {names}")
