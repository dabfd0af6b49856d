#!/bin/sh
# Make systemd see arpdoctor-exporter.service; it stays disabled until
# `systemctl enable --now arpdoctor-exporter`.
if [ -d /run/systemd/system ]; then
	systemctl daemon-reload >/dev/null 2>&1 || :
fi
