"""The glue between the protocol and the rows: what an upload's events mean for its asset.

``lifecycle`` turns protocol events into rows and media jobs (and admits new uploads: quotas and the
pre-create hook); ``recovery`` finishes what a crash left half done; ``offset_recorder`` and
``upload_rates`` keep the status API's view of uploads in progress cheap to maintain.
"""
