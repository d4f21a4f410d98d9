"""The dashboard's library: what its pages read from Blob, and how they are drawn (HTML and SVG,
rendered on the server; no script, no request to any other host)."""
