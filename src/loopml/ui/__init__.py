"""Layer 4: the web UI, server-rendered pages over the server's services.

Pages are Jinja2 templates (``templates/``) rendered on the server; the little JavaScript there
is draws metric curves with uPlot, vendored with the CSS in ``static/``: nothing loads from a
network. :func:`mount_ui` serves them on the REST app (:func:`loopml.api.rest.create_app`),
so ``loopml server`` and ``loopml ui`` show the same pages; ``docs/ui.md`` lists them.

- :mod:`.app`: :func:`mount_ui`, the error page, ``/docs`` with Swagger UI served locally.
- :mod:`.guard`: sign-in with an API token (an HttpOnly cookie), CSRF tokens on forms.
- :mod:`.templating`: the Jinja2 environment, filters and the pages' security headers.
- :mod:`.runs_table` and :mod:`.charts`: a page of runs; curve data for the charts.
- :mod:`.tracking_pages`, :mod:`.model_pages`, :mod:`.card_pages` (model cards),
  :mod:`.event_pages`, :mod:`.access_pages`: the routes.
"""

from loopml.ui.app import STATIC_PATH, PageServices, mount_ui

__all__ = ["STATIC_PATH", "PageServices", "mount_ui"]
