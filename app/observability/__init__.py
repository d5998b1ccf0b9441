"""What operators watch: health checks, Prometheus metrics, request ids and the access log.

The protocol layer (``app/tus``) never imports anything from here; it is observed from the outside
(the request middleware, the lifecycle's events, the locks' observer hook).
"""
