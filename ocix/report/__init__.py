"""Self-contained HTML pages: `ocix report`, `ocix compare --html`, `ocix layers --html`.

Each page carries its CSS, SVG and one small script inline and asks no host for anything; a
strict Content-Security-Policy allows only that script and that stylesheet (docs/report.md).
Everything shown is escaped by Jinja2's autoescaping: image names, labels, paths and command
output are attacker-controlled.
"""
