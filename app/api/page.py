"""The operators' page at /: recent recognitions, the gallery, enrollment and a recognize box.
Plain HTML and JavaScript in app/static (no build step); it calls the same JSON API and asks
once for an API key when the server wants one."""
from flask import Blueprint, current_app

from app.api.openapi import documented

bp = Blueprint("web", __name__)


@bp.get("/")
@documented("The operators' web page (HTML; its API calls carry the key)", content_type="text/html")
def index():
    return current_app.send_static_file("index.html")
