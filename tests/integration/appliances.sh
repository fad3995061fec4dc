#!/bin/bash
# The guest templates in images/, run outside a guest (there is no Ubuntu
# image here): every user-data parses as YAML; the scripts and configs they
# carry are taken out of it and executed.
#
#   totebox       osi-archive-seal, as root, on an archive in a temp dir: a
#                 writer's symlink to a root-only file, a hard link to one, a
#                 name with a newline; only the honest file is sealed.
#   mediakit      the nginx site with real requests on a loopback address
#                 (nginx-light); /.well-known/ is served, other dotfiles not.
#   privategit    osi-gitea-install in a private mount namespace: a fresh
#                 volume root (root 0755), a system user "git" with no home,
#                 stand-ins for curl and gitea; gitea.db must be creatable.
#   orchestration a path unit starts the aggregator once it is installed.
#
# Skips (77) without root, python3-yaml, setpriv, nginx or unshare.
# OSI_IMAGES overrides the images directory (to run against older files).
source "$(dirname "$0")/lib.sh"

IMAGES=${OSI_IMAGES:-${OSI_SOURCE:?}/images}
skip() { log "SKIP: $*"; exit 77; }
[[ $(id -u) -eq 0 ]] || skip "needs root (setpriv, chattr, mount namespaces)"
PY=/usr/bin/python3
$PY -c 'import yaml' 2>/dev/null || skip "python3-yaml is not installed"
for t in setpriv chattr lsattr unshare nginx curl; do
	command -v $t >/dev/null || skip "$t is not installed"
done

# Immutable objects would make lib.sh's rm -rf fail.
appl_cleanup() {
	local rc=$?
	chattr -R -i -a "$T" 2>/dev/null || true
	set +e
	(exit $rc)
	cleanup
}
trap appl_cleanup EXIT
chmod 0755 "$T"

# ud TYPE FILE: the content of FILE in TYPE's write_files.
ud() {
	$PY - "$IMAGES/$1/user-data" "$2" <<-'EOF'
	import sys, yaml
	doc = yaml.safe_load(open(sys.argv[1]))
	for f in doc.get("write_files", []):
	    if f["path"] == sys.argv[2]:
	        sys.stdout.write(f["content"])
	        sys.exit(0)
	sys.exit("no " + sys.argv[2] + " in " + sys.argv[1])
	EOF
}

# --- every template -----------------------------------------------------
for ty in totebox mediakit orchestration privategit; do
	head -1 "$IMAGES/$ty/user-data" | grep -qx '#cloud-config' || die "$ty: no #cloud-config line"
	$PY -c 'import sys, yaml; d = yaml.safe_load(open(sys.argv[1])); assert isinstance(d, dict) and d["runcmd"]' \
		"$IMAGES/$ty/user-data" || die "$ty/user-data does not parse"
done
pass "four user-data files parse"

# --- totebox: osi-archive-seal -------------------------------------------
ud totebox /usr/local/sbin/osi-archive-seal > "$T/seal"
A=$T/archive W=nobody
install -d -m 0755 "$A" "$A/objects"
install -d -m 0700 "$A/.staging"
install -d -m 0770 -g "$(id -gn $W)" "$A/incoming"
install -m 0644 /dev/null "$A/ledger"
chattr +a "$A/objects" "$A/ledger"
echo "root-only-secret-$$" > "$T/secret"
chmod 0600 "$T/secret"
echo "root-only-linked-$$" > "$T/secret2"
chmod 0600 "$T/secret2"
as_writer() { setpriv --reuid=$W --regid="$(id -g $W)" --clear-groups "$@"; }
as_writer sh -c 'echo "honest data" > "$1/good.part" && mv "$1/good.part" "$1/good"' - "$A/incoming"
as_writer ln -s "$T/secret" "$A/incoming/leak"
# protected_hardlinks stops a writer from doing this; root stands in for one
# on a system without it.
ln "$T/secret2" "$A/incoming/hardlink"
forged=$'evil\n2000-01-01T00:00:00Z 0000000000000000000000000000000000000000000000000000000000000000 1 forged'
as_writer sh -c 'echo x > "$1/$2"' - "$A/incoming" "$forged"
as_writer sh -c 'echo unfinished > "$1/late.part"' - "$A/incoming"

sh "$T/seal" "$A" "$W" 2> "$T/seal.log" || die "osi-archive-seal failed: $(cat "$T/seal.log")"
sh "$T/seal" "$A" "$W" 2>> "$T/seal.log" || die "osi-archive-seal (again) failed"
cat "$T/seal.log"
if grep -rlq -e "root-only-secret" -e "root-only-linked" "$A/objects"; then
	die "a root-only file became a sealed object"
fi
good=$(echo "honest data" | sha256sum | cut -d' ' -f1)
[[ $(cat "$A/objects/$good") == "honest data" ]] || die "the honest file was not sealed"
lsattr -d "$A/objects/$good" | cut -d' ' -f1 | grep -q i || die "sealed object is not immutable"
$PY - "$A/ledger" "$good" <<-'EOF' || die "ledger: $(cat -A "$A/ledger")"
	import re, sys
	lines = open(sys.argv[1], "rb").read().split(b"\n")
	assert lines.pop() == b"", "ledger does not end with a newline"
	assert len(lines) == 1, "%d ledger lines, expected 1" % len(lines)
	m = re.fullmatch(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ([0-9a-f]{64}) (\d+) (.+)", lines[0])
	assert m and m.group(1).decode() == sys.argv[2] and m.group(2) == b"12" and m.group(3) == b"good", lines[0]
EOF
for n in leak hardlink "$forged" late.part; do
	[[ -e $A/incoming/$n || -L $A/incoming/$n ]] || die "incoming/${n%%$'\n'*} was consumed"
done
[[ ! -e $A/incoming/good ]] || die "incoming/good was not removed after sealing"
grep -q "control character" "$T/seal.log" || die "the newline name was not logged"
pass "totebox: only the writer's own regular file is sealed; links and a newline name stay in incoming/"

# --- mediakit: the nginx site, with real requests -------------------------
NG=$T/nginx
mkdir -p "$NG/site/.well-known/acme-challenge" "$NG/site/sub/.well-known" "$NG/site/.git"
echo token > "$NG/site/.well-known/acme-challenge/tok-123"
echo contact > "$NG/site/.well-known/security.txt"
echo hidden > "$NG/site/.well-known/.secret"
echo nested > "$NG/site/sub/.well-known/x"
echo config > "$NG/site/.git/config"
echo env > "$NG/site/.env"
echo home > "$NG/site/index.html"
chmod -R a+rX "$NG/site"
ud mediakit /etc/nginx/sites-available/mediakit |
	sed -e "s|listen 80 default_server;|listen $ADDR:8080;|" -e '/listen \[::\]:80/d' \
	    -e "s|root /srv/www/site;|root $NG/site;|" > "$NG/site.conf"
grep -q "listen $ADDR:8080;" "$NG/site.conf" || die "mediakit: no 'listen 80 default_server;' to rewrite"
cat > "$NG/nginx.conf" <<EOF
daemon off;
master_process off;
pid $NG/nginx.pid;
error_log $NG/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path $NG/body;
	proxy_temp_path $NG/proxy;
	fastcgi_temp_path $NG/fastcgi;
	uwsgi_temp_path $NG/uwsgi;
	scgi_temp_path $NG/scgi;
	include $NG/site.conf;
}
EOF
nginx -t -q -e "$NG/error.log" -p "$NG" -c "$NG/nginx.conf" 2> "$T/nginx-t.log" ||
	die "nginx -t: $(cat "$T/nginx-t.log" "$NG/error.log")"
nginx -e "$NG/error.log" -p "$NG" -c "$NG/nginx.conf" > "$T/nginx.log" 2>&1 &
PIDS[nginx]=$!
wait_until 10 curl -sf -o /dev/null "http://$ADDR:8080/" || die "nginx did not start: $(cat "$NG/error.log")"
code() { curl -s --path-as-is -o /dev/null -w '%{http_code}' "http://$ADDR:8080$1"; }
while read -r want path; do
	got=$(code "$path")
	[[ $got == "$want" ]] || die "mediakit: $path answered $got, expected $want"
done <<-'EOF'
	200 /
	200 /.well-known/acme-challenge/tok-123
	200 /.well-known/security.txt
	403 /.well-known/.secret
	403 /sub/.well-known/x
	403 /.git/config
	403 /.env
	403 /.well-known/../.git/config
	403 /sub/../.env
EOF
stop nginx
pass "mediakit: /.well-known/ served, other dotfiles denied (nginx $(nginx -v 2>&1 | cut -d/ -f2))"

# --- orchestration: the aggregator starts when it is installed ----------------
$PY - "$IMAGES/orchestration/user-data" <<-'EOF' || die "orchestration: nothing starts the aggregator once installed"
	import configparser, sys, yaml
	doc = yaml.safe_load(open(sys.argv[1]))
	files = {f["path"]: f["content"] for f in doc["write_files"]}
	def unit(path):
	    c = configparser.ConfigParser(strict=False, interpolation=None)
	    c.optionxform = str
	    c.read_string(files[path])
	    return c
	svc = unit("/etc/systemd/system/osi-orchestration.service")
	binary = svc["Service"]["ExecStart"].split()[0]
	paths = [p for p in files if p.startswith("/etc/systemd/system/") and p.endswith(".path")]
	ok = []
	for p in paths:
	    u = unit(p)
	    name = p.rsplit("/", 1)[1]
	    target = u["Path"].get("Unit", name[:-5] + ".service")
	    watched = [u["Path"].get(k) for k in ("PathExists", "PathChanged", "PathModified")]
	    if target == "osi-orchestration.service" and binary in watched \
	       and u["Install"].get("WantedBy") == "multi-user.target":
	        ok.append(name)
	assert ok, "no path unit watches " + binary
	cmds = [c if isinstance(c, list) else c.split() for c in doc["runcmd"]]
	reload = cmds.index(["systemctl", "daemon-reload"])
	started = [i for i, c in enumerate(cmds)
	           if c[:3] == ["systemctl", "enable", "--now"] and ok[0] in c]
	assert started and started[0] > reload, "runcmd does not enable --now " + ok[0]
	print("orchestration:", ok[0], "watches", binary)
EOF
pass "orchestration: a path unit, enabled and started, watches the aggregator's binary"

# --- privategit: osi-gitea-install on a fresh volume -------------------------
PG=$T/pg
mkdir -p "$PG/stub"
ud privategit /usr/local/sbin/osi-gitea-install > "$PG/install"
cat > "$PG/fake-gitea" <<-'EOF'
	#!/bin/sh
	# Stands in for gitea: creates its database as the user running it.
	cfg=
	while [ $# -gt 0 ]; do case $1 in --config) cfg=$2; shift 2 ;; *) break ;; esac; done
	case "$1" in
	generate) echo "generated-$2" ;;
	migrate) db=$(sed -n 's/^PATH = \(.*\.db\)$/\1/p' "$cfg"); : >> "$db" ;;
	admin) [ "$3" = create ] && echo "New user 'osi-admin' has been successfully created!" ;;
	*) exit 2 ;;
	esac
EOF
cat > "$PG/stub/curl" <<-EOF
	#!/bin/sh
	# Stands in for curl: the fake release and its checksum.
	out=
	while [ \$# -gt 0 ]; do case \$1 in -o) out=\$2; shift 2 ;; *) url=\$1; shift ;; esac; done
	if [ -n "\$out" ]; then cp "$PG/fake-gitea" "\$out"; else sha256sum "$PG/fake-gitea"; fi
EOF
chmod +x "$PG/stub/curl" "$PG/fake-gitea"
gid=$(( 900 + $$ % 50 ))
while getent passwd $gid >/dev/null || getent group $gid >/dev/null; do gid=$((gid + 1)); done
{ cat /etc/passwd; echo "git:x:$gid:$gid::/home/git:/bin/bash"; } > "$PG/passwd"
{ cat /etc/group; echo "git:x:$gid:"; } > "$PG/group"
{ cat /etc/shadow; echo "git:!:19000::::::"; } > "$PG/shadow"
chmod 0644 "$PG/passwd" "$PG/group"
chmod 0640 "$PG/shadow"
# Everything the script writes lands on tmpfs in a private mount namespace.
unshare --mount --propagation private bash -euo pipefail -c '
	PG=$1
	for d in /srv /home /root /var/lib /usr/local/bin; do mount -t tmpfs tmpfs "$d"; done
	for f in passwd group shadow; do mount --bind "$PG/$f" "/etc/$f"; done
	install -d -m 0755 -o root -g root /srv/git
	install -d -m 0700 /srv/git/lost+found
	PATH=$PG/stub:$PATH sh "$PG/install" > "$PG/install.log" 2>&1 ||
		{ echo "osi-gitea-install failed:"; cat "$PG/install.log"; exit 1; }
	check() { [ "$(stat -c "%U %a" "$1")" = "$2" ] || { echo "$1: $(stat -c "%U %a" "$1"), expected $2"; exit 1; }; }
	[ "$(stat -c %U /srv/git/gitea.db)" = git ] || { echo "gitea.db not created by git"; exit 1; }
	check /srv/git/app.ini "git 600"
	check /home/git "git 750"
	check /root/gitea-admin.txt "root 600"
	grep -q osi-admin /root/gitea-admin.txt
' - "$PG" > "$PG/ns.log" 2>&1 || die "privategit: $(cat "$PG/ns.log")"
pass "privategit: gitea creates its database on a fresh volume; git has a home"
