"""The use cases: what the server does, whichever HTTP surface (native API, compatibility
adapters, web page) or command asked. Each takes the worker's services (app/services.py) and
decoded request values, and returns domain objects; it never reads the request itself."""
