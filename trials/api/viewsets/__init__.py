"""Viewsets: wiring of scoping, role checks, filtering, pagination, ETags and the services."""
