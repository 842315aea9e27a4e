#!/bin/sh
# install.sh DEST: installs the AWS SDK for JavaScript v3 that package.json and
# package-lock.json (beside this script) pin into DEST/node_modules, with npm ci, so
# exactly the locked versions and their integrity hashes. Does nothing when
# DEST/.stamp says DEST already holds this lock.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
dest=$1
want=$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1)
if [ -f "$dest/.stamp" ] && [ "$(cat "$dest/.stamp")" = "$want" ] && [ -d "$dest/node_modules/@aws-sdk" ]; then
	exit 0
fi
echo "installing the AWS SDK for JavaScript v3 (npm ci, sdk/node/package-lock.json)"
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.new"
mkdir "$dest.new"
cp "$here/package.json" "$here/package-lock.json" "$dest.new/"
(cd "$dest.new" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error) || {
	rm -rf "$dest.new"
	echo "sdk: npm ci of sdk/node failed" >&2
	exit 1
}
chmod -R a+rX,go-w "$dest.new"
printf '%s\n' "$want" >"$dest.new/.stamp"
rm -rf "$dest"
mv "$dest.new" "$dest"
