"""The web page at ``/``: sign in with an access token, upload with tus, watch the library.

The page is a template and plain JavaScript modules (``static/``), with no build step and no code
from elsewhere. It holds no data itself: everything it shows comes from the API with the token the
person signed in with, so the page is served to anyone. Its Content-Security-Policy allows only this
origin's scripts, styles, images and connections.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from config import Settings

if TYPE_CHECKING:
    from starlette.templating import Jinja2Templates

WEB_DIR = Path(__file__).parent
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' blob: data:; media-src 'self'; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)


class WebPage:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._templates: Jinja2Templates | None = None

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/", self.page, methods=["GET"]),
            Mount("/static", StaticFiles(directory=WEB_DIR / "static"), name="static"),
        ]

    async def page(self, request: Request) -> Response:
        context: dict[str, Any] = {"tus_endpoint": self.settings.tus_base_path}
        response: Response = self._page_templates().TemplateResponse(request, "index.html", context)
        response.headers["content-security-policy"] = CONTENT_SECURITY_POLICY
        response.headers["cache-control"] = "no-cache"
        return response

    def _page_templates(self) -> Jinja2Templates:
        # Jinja2 loads with the first page asked for: a server that only takes uploads never loads it.
        if self._templates is None:
            from starlette.templating import Jinja2Templates

            self._templates = Jinja2Templates(directory=WEB_DIR / "templates")
        return self._templates
