"""The dashboard, beside the HTTP layer that serves it: the routes (``routes.py``), what its pages read
from Blob (``data.py``), and how they are drawn (HTML and SVG rendered on the server; no script, no
request to any other host)."""
