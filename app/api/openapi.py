"""/openapi.json, generated from the routes themselves: each view declares what it takes and
answers with @documented; the schemas come from the pydantic models in app/api/schemas.py.

Written here rather than with flask-openapi3 or spectree: those validate bodies with their
own error shape and know nothing of our image upload (multipart files, a raw image body, or
base64 in JSON, the same fields in each), which is most of this API; what is left is a
page of code. The document is OpenAPI 3.1 (JSON Schema 2020-12, what pydantic writes) and
is checked with openapi-spec-validator by the tests."""
from pydantic import BaseModel

from app.api.schemas import ErrorResponse

# The three ways an image can come; `fields` travel with it as form fields, JSON keys, or in the query.
RAW_IMAGE = {"type": "string", "format": "binary"}


def documented(summary: str, response: type[BaseModel] | None = None, status: int = 200,
               body: str | type[BaseModel] | None = None, fields=(), query=(), errors=(), content_type=None):
    """Attach the OpenAPI description of a view. body: "image", a pydantic model, or None;
    fields: [(name, description, required)] sent beside an image (form, JSON or query);
    query: [(name, description, required)] query parameters; errors: its 4xx/5xx statuses;
    content_type: what a response without a model is."""
    def mark(view):
        view.openapi = {"summary": summary, "response": response, "status": status, "body": body,
                        "fields": fields, "query": query, "errors": errors, "content_type": content_type}
        return view
    return mark


def _image_body(fields) -> dict:
    props = {name: {"type": "string", "description": text} for name, text, _ in fields}
    files = {"type": "array", "items": RAW_IMAGE, "description": "one or more image files"}
    encoded = {"type": "string", "contentEncoding": "base64", "description": "an image file, base64 (or a data: URL)"}
    return {"required": True, "content": {
        "multipart/form-data": {"schema": {"type": "object", "properties": {"image": files, **props}}},
        "image/jpeg": {"schema": RAW_IMAGE}, "image/png": {"schema": RAW_IMAGE},
        "application/octet-stream": {"schema": RAW_IMAGE},
        "application/json": {"schema": {"type": "object", "properties": {
            "image": encoded, "images": {"type": "array", "items": encoded}, **props}}}}}


def _ref(model: type[BaseModel], models: set) -> dict:
    models.add(model)
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def _operation(doc: dict, path_args, models: set) -> dict:
    op = {"summary": doc["summary"], "responses": {}}
    params = [{"name": arg, "in": "path", "required": True, "schema": {"type": "string"}} for arg in path_args]
    if doc["body"] == "image":
        op["requestBody"] = _image_body(doc["fields"])
        params += [{"name": name, "in": "query", "required": False, "schema": {"type": "string"},
                    "description": f"{text} (with a raw image body; else a form field or JSON key)"}
                   for name, text, _ in doc["fields"]]
    elif doc["body"] is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": _ref(doc["body"], models)}}}
    params += [{"name": name, "in": "query", "required": required, "description": text, "schema": {"type": "string"}}
               for name, text, required in doc["query"]]
    if params:
        op["parameters"] = params
    if doc["response"] is not None:
        content = {"application/json": {"schema": _ref(doc["response"], models)}}
    elif doc["content_type"] == "application/json":
        content = {"application/json": {"schema": {"type": "object"}}}
    else:
        content = {doc["content_type"] or "text/plain": {"schema": {"type": "string"}}}
    op["responses"][str(doc["status"])] = {"description": "OK", "content": content}
    for status in doc["errors"]:
        op["responses"][str(status)] = {"description": "error", "content": {"application/json": {
            "schema": _ref(ErrorResponse, models)}}}
    return op


def openapi_document(app) -> dict:
    paths: dict[str, dict] = {}
    models = {ErrorResponse}
    for rule in app.url_map.iter_rules():
        doc = getattr(app.view_functions[rule.endpoint], "openapi", None)
        if doc is None:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(doc, sorted(rule.arguments), models)
    schemas = {}
    for model in sorted(models, key=lambda m: m.__name__):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {"title": "facerec", "version": "1.0",
                 "description": "Face recognition server: camera frames in, every face and who it is out."},
        "components": {"schemas": schemas,
                       "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
        "security": [{"apiKey": []}],
        "paths": paths,
    }
