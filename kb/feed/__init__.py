"""Feed mode, the part without Slack: syslog frames to lines, lines to incidents, and when
an incident deserves an alert."""
