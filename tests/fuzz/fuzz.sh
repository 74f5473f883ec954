#!/bin/bash
# The bounded fuzz run as a test (make check): every target for
# FUZZ_SECONDS (default 20) seconds.
exec bash "$(dirname "$0")/run.sh" "${FUZZ_SECONDS:-20}"
