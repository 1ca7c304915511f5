"""The JSON API under /api/v1 (SPEC section 6): views.py has the routes, openapi.py their
description, serialize.py the shapes, errors.py the one error format."""
