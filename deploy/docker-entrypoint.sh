#!/bin/sh
# Entry point of the image. The first argument names what to run:
#   gateway | quota | delivery     a long-running service (default: gateway)
#   migrate                        apply pending migrations (advisory lock), then exit
#   migrate-revert                 undo the most recent migration, then exit
#   directory-import FILE|-        bulk-load players (docs/directory-import.md)
# Anything else runs as a command (e.g. `node -v`). `exec` makes node PID 1, so
# it receives SIGTERM directly; the services stop gracefully on it.
set -eu
cd /app

command="${1:-gateway}"
if [ "$#" -gt 0 ]; then shift; fi

case "$command" in
  gateway | quota | delivery)
    exec node "dist/apps/$command/src/main.js" "$@" ;;
  migrate)
    exec node dist/scripts/migrate.js "$@" ;;
  migrate-revert)
    exec node node_modules/typeorm/cli.js migration:revert -d dist/libs/shared/src/database/data-source.js "$@" ;;
  directory-import)
    exec node dist/scripts/directory-import.js "$@" ;;
  *)
    exec "$command" "$@" ;;
esac
