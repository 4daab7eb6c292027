"""/openapi.json, generated from the routes themselves: each view declares what it takes and
answers with @documented, and the schemas come from app/schemas.py."""
from app.schemas import ErrorResponse

IMAGE_BODY = {
    "multipart/form-data": {"schema": {"type": "object", "properties": {
        "image": {"type": "array", "items": {"type": "string", "format": "binary"}}}}},
    "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
    "image/png": {"schema": {"type": "string", "format": "binary"}},
    "application/json": {"schema": {"type": "object", "properties": {
        "image": {"type": "string", "format": "byte"},
        "images": {"type": "array", "items": {"type": "string", "format": "byte"}}}}},
}


def documented(summary, response=None, status=200, body=None, fields=(), errors=(), content_type=None):
    """Attach the OpenAPI description of a view: `body` "image", a pydantic model, or None;
    `fields` the form/query/JSON fields [(name, description, required)]; `errors` its 4xx/5xx."""
    def mark(view):
        view.openapi = {"summary": summary, "response": response, "status": status, "body": body,
                        "fields": fields, "errors": errors, "content_type": content_type}
        return view
    return mark


def _operation(doc, models):
    op = {"summary": doc["summary"], "responses": {}}
    if doc["body"] == "image":
        op["requestBody"] = {"required": True, "content": IMAGE_BODY}
    elif doc["body"] is not None:
        models.add(doc["body"])
        op["requestBody"] = {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{doc['body'].__name__}"}}}}
    if doc["fields"]:
        op["parameters"] = [{"name": name, "in": "query", "required": required, "description": text,
                             "schema": {"type": "string"}} for name, text, required in doc["fields"]]
    if doc["response"] is not None:
        models.add(doc["response"])
        content = {"application/json": {"schema": {"$ref": f"#/components/schemas/{doc['response'].__name__}"}}}
    else:
        content = {doc["content_type"] or "text/plain": {"schema": {"type": "string"}}}
    op["responses"][str(doc["status"])] = {"description": "OK", "content": content}
    for status in doc["errors"]:
        op["responses"][str(status)] = {"description": "error", "content": {"application/json": {
            "schema": {"$ref": "#/components/schemas/ErrorResponse"}}}}
    return op


def openapi_document(app):
    paths, models = {}, {ErrorResponse}
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        doc = getattr(view, "openapi", None)
        if doc is None:
            continue
        path = rule.rule.replace("<", "{").replace(">", "}")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation(doc, models)
            for arg in rule.arguments:
                paths[path][method.lower()].setdefault("parameters", []).append(
                    {"name": arg, "in": "path", "required": True, "schema": {"type": "string"}})
    schemas = {}
    for model in models:
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.0.3",
        "info": {"title": "facerec", "version": "1.0",
                 "description": "Face recognition server: camera frames in, every face and who it is out."},
        "components": {"schemas": schemas,
                       "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}},
        "security": [{"apiKey": []}],
        "paths": paths,
    }
