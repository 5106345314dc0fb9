"""The DRF API of yamlgraph_django (DESIGN 4.6): graphs, and sessions to start, read,
answer, cancel and delete, described by an OpenAPI 3 document.

Mount it with `path("api/", include("yamlgraph_django.api.urls"))`. Views only call
the session service (`yamlgraph_django.services`); see `views` for the endpoints,
`permissions` for who sees what and `exceptions` for the error shape.
"""
