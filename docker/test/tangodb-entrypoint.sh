#!/bin/sh
# MariaDB with the Tango schema, honouring the official mariadb image's variables the stack sets
# (MARIADB_ROOT_PASSWORD_FILE, MARIADB_DATABASE, MARIADB_USER, MARIADB_PASSWORD_FILE): on an empty
# data directory it creates the database from Debian's tango-db schema (tables and stored
# procedures), then runs the server in the foreground.
set -eu
datadir=/var/lib/mysql
if [ ! -d "$datadir/mysql" ]; then
  echo "tangodb: initialising $datadir"
  mariadb-install-db --user=mysql --datadir="$datadir" --skip-test-db >/dev/null
  mariadbd --user=mysql --datadir="$datadir" --skip-networking --socket=/run/mysqld/init.sock &
  pid=$!
  i=0
  until mariadb-admin --socket=/run/mysqld/init.sock ping >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -lt 60 ] || { echo "tangodb: server did not start" >&2; exit 1; }; sleep 0.5
  done
  root_pw=$(cat "$MARIADB_ROOT_PASSWORD_FILE")
  user_pw=$(cat "$MARIADB_PASSWORD_FILE")
  mariadb --socket=/run/mysqld/init.sock <<SQL
CREATE DATABASE \`$MARIADB_DATABASE\`;
CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$user_pw';
GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';
ALTER USER 'root'@'localhost' IDENTIFIED BY '$root_pw';
CREATE USER 'root'@'%' IDENTIFIED BY '$root_pw';
GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;
FLUSH PRIVILEGES;
SQL
  mariadb --socket=/run/mysqld/init.sock -uroot -p"$root_pw" "$MARIADB_DATABASE" \
    < /usr/share/dbconfig-common/data/tango-db/install/mysql
  mariadb-admin --socket=/run/mysqld/init.sock -uroot -p"$root_pw" shutdown
  wait "$pid" || true
  echo "tangodb: schema loaded"
fi
exec mariadbd --user=mysql --datadir="$datadir" --bind-address=0.0.0.0 --port=3306
