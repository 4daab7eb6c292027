"""The Frigate bridge (`python -m app.cli frigate`): names Frigate's people with our server and
keeps Double Take's MQTT contract. A client of the server over HTTP, like app/camera_node.py:
it imports nothing of the server (app.usecases, app.gallery ...).

    config      the bridge's settings, per camera (pydantic)
    messages    Frigate's MQTT messages, parsed defensively
    http        Frigate's API and our /recognize, with retries
    visit       one Frigate event worked as one visit, its sub_label written once
    doubletake  Double Take's topics and Home Assistant discovery
    bridge      the MQTT connection, the queue and the workers
"""
