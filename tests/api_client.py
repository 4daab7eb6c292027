"""The native API as the tests speak it (the `api` fixture of tests/conftest.py): one client over
a Flask test client or a live URL (requests), so every test enrolls, recognizes and reads the
gallery the same way. Each call answers a Reply; `reply.expect(status)` checks the status
(showing the body when it is not) and gives the JSON."""
import io
from collections.abc import Mapping
from dataclasses import dataclass, field

import requests


@dataclass
class Reply:
    """An answer, with the attributes of a Flask test response (status_code, json, is_json,
    headers, text), whichever client made it."""
    status_code: int
    json: object
    headers: Mapping = field(repr=False)   # case-insensitive, as each client gives them
    text: str = field(repr=False)

    @property
    def is_json(self) -> bool:
        return self.json is not None

    def expect(self, status: int = 200, model=None):
        """The JSON body (validated as pydantic `model` when given), once the status is `status`."""
        assert self.status_code == status, self.json if self.is_json else self.text[:2000]
        return model.model_validate(self.json) if model is not None else self.json


class Api:
    def __init__(self, target, timeout_s: float = 30):
        """`target`: a Flask test client, the base URL of a running server, or a function that
        gives either when first needed (the fixture's default app is made only if used)."""
        self._target, self.timeout_s = target, timeout_s

    @property
    def target(self):
        if callable(self._target):
            self._target = self._target()
        return self._target

    @property
    def url(self) -> str | None:
        return self.target.rstrip("/") if isinstance(self.target, str) else None

    def of(self, target) -> "Api":
        """The same API over another app's client or another URL."""
        return Api(target, self.timeout_s)

    def call(self, method: str, path: str, *, query: dict | None = None, json=None, fields: dict | None = None,
             images: tuple[bytes, ...] = (), image_field: str = "image", body: bytes | None = None,
             content_type: str | None = None) -> Reply:
        """One request: a JSON body, a multipart form (`fields`, and `images` as parts named
        `image_field`), or raw `body` bytes of `content_type`; `query` in the query string."""
        if self.url is not None:
            return self._requests(method, path, query, json, fields, images, image_field, body, content_type)
        kwargs = {"query_string": query}
        if json is not None:
            kwargs["json"] = json
        elif fields is not None or images:
            kwargs["data"] = {**(fields or {}),
                              image_field: [(io.BytesIO(image), f"{i}.jpg") for i, image in enumerate(images)]}
            kwargs["content_type"] = "multipart/form-data"
        elif body is not None:
            kwargs.update(data=body, content_type=content_type)
        response = self.target.open(path, method=method, **kwargs)
        return Reply(response.status_code, response.json if response.is_json else None, response.headers,
                     response.get_data(as_text=True))

    def _requests(self, method, path, query, json, fields, images, image_field, body, content_type) -> Reply:
        kwargs = {"params": query, "timeout": self.timeout_s}
        if json is not None:
            kwargs["json"] = json
        elif fields is not None or images:
            kwargs.update(data=fields or {}, files=[(image_field, (f"{i}.jpg", image, "image/jpeg"))
                                                    for i, image in enumerate(images)])
        elif body is not None:
            kwargs.update(data=body, headers={"Content-Type": content_type})
        response = requests.request(method, self.url + path, **kwargs)
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        return Reply(response.status_code, parsed, response.headers, response.text)

    # --- the native API -----------------------------------------------------------------
    def enroll(self, name: str | None, *images: bytes, **fields) -> Reply:
        """POST /enroll: a new person `name` (None: send no name, e.g. with person_id=...)."""
        return self.call("POST", "/enroll", fields={**({"name": name} if name is not None else {}), **fields},
                         images=images)

    def add_faces(self, person_id: str, *images: bytes) -> Reply:
        return self.enroll(None, *images, person_id=person_id)

    def recognize(self, image: bytes, content_type: str = "image/jpeg", **query) -> Reply:
        """POST /recognize with the image as the body, the fields (camera_id, ...) in the query."""
        return self.call("POST", "/recognize", query=query, body=image, content_type=content_type)

    def people(self, **query) -> Reply:
        return self.call("GET", "/people", query=query)

    def person(self, person_id: str) -> Reply:
        return self.call("GET", f"/people/{person_id}")

    def delete_person(self, person_id: str) -> Reply:
        return self.call("DELETE", f"/people/{person_id}")

    def correct(self, **body) -> Reply:
        """POST /corrections: event_id, face_index and not_person_id, person_id or name."""
        return self.call("POST", "/corrections", json=body)
