"""The current worker's services (app/services.py), as the views reach them inside a request:
the app factory keeps them in the Flask app, which the layers below never see."""
from flask import current_app

from app.services import Services


def services() -> Services:
    """The current worker's services (inside a request)."""
    found: Services = current_app.extensions["facerec"]
    return found
