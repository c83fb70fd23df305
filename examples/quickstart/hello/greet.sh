#!/bin/sh
# Appends a greeting to the shared volume and prints what it holds.
echo "hello from ${GREETING:-nobody} at $(date -u +%FT%TZ)" >> /data/greetings.txt
cat /data/greetings.txt
