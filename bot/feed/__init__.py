"""Feed mode's doors: syslog listeners, HTTP ingest, the ingest queue and the alerts."""
