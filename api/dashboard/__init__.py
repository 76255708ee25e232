"""The dashboard: HTML pages and static assets served by the API, fed by server-side aggregates.

`frame` loads one study's trials into a table (cached until the study changes), `panels` reduces that
table to what each plot needs (bounded in size, whatever the number of trials), `routes` serves the
pages, their assets (scripts that draw the plots as SVG: no CDN) and the aggregates as JSON.
"""
