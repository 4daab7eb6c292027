"""An RTSP server for the camera node's test: GStreamer's RTSP server (Debian's
gir1.2-gst-rtsp-server-1.0, loadable only by Debian's /usr/bin/python3), serving a video file
written by OpenCV (MPEG-4 part 2 in .mp4) at rtsp://127.0.0.1:PORT/camera, from its start
for every client. Prints "serving" once it listens.

    /usr/bin/python3 tests/rtsp_serve.py PORT FILE.mp4
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

port, path = sys.argv[1], sys.argv[2]
Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(port)
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(f"( filesrc location={path} ! qtdemux ! mpeg4videoparse ! rtpmp4vpay name=pay0 pt=96 )")
factory.set_shared(False)
server.get_mount_points().add_factory("/camera", factory)
server.attach(None)
print("serving", flush=True)
GLib.MainLoop().run()
