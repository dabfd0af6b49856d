#!/bin/sh
# Stop and disable the exporter when the package is removed, not when it is
# upgraded (deb passes "remove", rpm the number of versions left: 0).
case "$1" in
remove | 0)
	if [ -d /run/systemd/system ]; then
		systemctl disable --now arpdoctor-exporter.service >/dev/null 2>&1 || :
	fi
	;;
esac
