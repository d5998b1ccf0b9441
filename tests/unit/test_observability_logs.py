"""The log formats: the request id on every record, and JSON that carries tracebacks as text."""

from __future__ import annotations

import asyncio
import io
import json
import logging

from app.observability.logs import JsonFormatter, RequestIdFilter, request_id


def _capture(formatter: logging.Formatter) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(formatter)
    logger = logging.getLogger(f"test-observability-{id(stream)}")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, stream


def test_records_written_while_handling_a_request_carry_its_id_and_others_do_not() -> None:
    logger, stream = _capture(JsonFormatter())

    async def handle(name: str) -> None:
        request_id.set(name)
        await asyncio.sleep(0)
        logger.info("in %s", name)
        await asyncio.to_thread(logger.info, "thread of %s", name)

    async def two_requests() -> None:
        await asyncio.gather(asyncio.create_task(handle("first")), asyncio.create_task(handle("second")))

    asyncio.run(two_requests())
    logger.info("outside")

    entries = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert sorted((entry["message"], entry["request_id"]) for entry in entries) == [
        ("in first", "first"),
        ("in second", "second"),
        ("outside", "-"),
        ("thread of first", "first"),
        ("thread of second", "second"),
    ]


def test_json_lines_hold_the_traceback_as_text_and_the_access_fields() -> None:
    logger, stream = _capture(JsonFormatter())

    try:
        raise ValueError("broken")
    except ValueError:
        logger.exception("it failed")
    logger.info("GET /x 200", extra={"fields": {"status": 200, "message": "not replaced"}})

    failed, access = (json.loads(line) for line in stream.getvalue().splitlines())
    assert failed["level"] == "ERROR" and failed["message"] == "it failed"
    assert "Traceback" in failed["exc_info"] and "ValueError: broken" in failed["exc_info"]
    assert access["status"] == 200 and access["message"] == "GET /x 200"
    assert "exc_info" not in access
