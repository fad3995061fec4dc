#!/bin/bash
# The admin panel, headless: tmux runs it at 80x24 against a real fleet, the
# test types with send-keys and reads the screen with capture-pane.
#
#   n1 ──┐                                      tmux -x 80 -y 24, TERM=xterm-256color
#   n2 ──┼─ heartbeats ─> service-vm-fleet <── app-network-admin (the panel)
#   n3 ──┘                unix socket            send-keys F2, F9, Escape...
#
# The nodes appear; F2, the form, F9 and the guest is in the fleet's list;
# Esc instead of F9 creates nothing; a Totebox without a node is refused on
# screen, with one it is created; all nodes silent at once shows the hold
# banner and "held", then "evicted"; resizing does not crash it; the fleet
# stopped is said so, and restarted brings the panel back; NO_COLOR draws
# without colours; F10 quits with status 0, having written nothing to stderr
# (sanitizer reports included, in a sanitized build).
source "$(dirname "$0")/lib.sh"

command -v tmux >/dev/null || { log "SKIP: tmux is not installed"; exit 77; }

tm() { tmux -S "$T/tmux.sock" -f /dev/null "$@"; }
screen() { tm capture-pane -p -t "${PANE:-panel}"; }
on_screen() { screen | grep -cE -- "$1" >/dev/null; }
off_screen() { ! on_screen "$1"; }
# see SECONDS REGEX WHAT: waits for the screen to show it, else fails with it.
see() {
	wait_until "$1" on_screen "$2" && return 0
	screen > "$T/screen.log"
	die "$3: /$2/ not on screen"
}
keys() { tm send-keys -t "${PANE:-panel}" "$@"; }
guests_json() { osi vm list --format json; }
guest_listed() { guests_json | jq -e --arg n "$1" '.guests[] | select(.name == $n)' >/dev/null; }
pane_alive() { [[ $(tm display-message -p -t "${PANE:-panel}" '#{pane_dead}') == 0 ]]; }

# start_panel NAME [ENV=VALUE]...: the panel under its alias, in a session.
start_panel() {
	local name=$1; shift
	tm new-session -d -s "$name" -x 80 -y 24 \
		"env TERM=xterm-256color LANG=C.UTF-8 $* $T/bin/app-network-admin \
		--socket $T/fleet.sock --state-dir $T/cli --trust-file $T/trust 2>>$T/panel-$name.log; \
		echo \"panel exited with \$?\"; sleep 600"
	[[ -n ${PIDS[tmux]:-} ]] || PIDS[tmux]=$(tm display-message -p '#{pid}')
}

mkdir -p "$T/bin"
ln -s "$OSI_BIN" "$T/bin/app-network-admin"
setup_members n1 n2 n3
start_fleet
# A node that reports no dispatch address is no candidate: give each one.
agent() { start_agent "$1" --set dispatch_listen="$ADDR:711${1#n}"; }
for n in n1 n2 n3; do agent $n; done
wait_until 10 live_count_is 3 || die "three live nodes expected"

start_panel panel
see 10 '^ n1 +live ' "n1 listed live"
see 5 '^ n2 +live ' "n2 listed live"
see 5 '^ n3 +live ' "n3 listed live"
see 5 'F1Help +F2New VM +F5Refresh +F9Confirm +F10Quit' "function-key bar"
see 5 'RAM taken/total' "nodes header"
see 5 '\[\|* *[0-9.]+[KMGT]?B?/[0-9.]+G\]' "a RAM bar with numbers"
see 5 "registered +n1 " "n1's registration in the events"
pass "nodes, RAM bars, events and the key bar at 80x24"

keys Enter
see 5 'Node n1' "Enter shows the node's detail"
see 5 'Last heartbeat' "the detail's heartbeat line"
keys Escape
wait_until 5 off_screen 'Node n1' || die "Esc closes the detail"
keys F1
see 5 'F9 +in the form: confirm the plan on screen' "F1 help"
keys Escape
pass "detail and help"

# F2, the form, F9: the guest appears in the fleet's list. If the fleet's
# advice moved between the ranking drawn and the plan (the two nodes are
# twins here), the panel shows the plan and waits for a second F9.
keys F2
see 5 'New VM' "F2 opens the form"
see 5 "ranking for [0-9.]+[MG] and [0-9]+ vCPU" "the fleet's ranking in the form"
see 5 "\(the fleet's advice\)" "the node pre-selected from the advice"
keys Tab web1
see 5 'Name +web1' "the name typed in"
keys F9
for _ in 1 2; do
	wait_until 10 guest_listed web1 && break
	on_screen 'F9 confirms this plan' || break
	keys F9
done
wait_until 5 guest_listed web1 || { screen > "$T/screen.log"; die "web1 not in vm-list after F9"; }
[[ $(osi events --limit 200 --format json | jq '[.events[] | select(.kind == "confirmed") |
	select(.detail | test("panel-f9"))] | length') == 1 ]] || die "one confirmed event, how panel-f9"
see 5 'web1 (confirmed on|on) n[123]' "the confirmation or its progress in the message line"
see 10 '[├└]─ web1 ' "web1 listed under its node"
pass "F2, form, F9: web1 created (confirmed panel-f9) and shown with its state"

# The new guest is selected; k moves up to its node, j back down.
keys Enter
see 5 'Guest web1' "Enter on the new guest"
see 5 'Type +mediakit' "the guest's detail"
keys Escape k Enter
see 5 'Node n[123]' "k, then Enter: the guest's node"
keys Escape j j Enter
wait_until 5 on_screen 'Node n[123]|Guest ' || die "j moves on"
keys Escape
pass "j/k move, Enter shows the selected node or guest"

# Esc instead of F9 creates nothing.
keys F2
see 5 'New VM' "F2 again"
keys Tab nope1
see 5 'Name +nope1' "the name typed in"
keys Escape
see 5 'cancelled: nothing was created' "Esc cancels"
keys F9
see 5 'press F2 to make one first' "F9 without a form creates nothing"
# Watch for it a while: a guest created by mistake would be listed at once.
! wait_until 2 guest_listed nope1 || die "Esc, then F9, created nope1"
[[ $(osi events --limit 200 --format json | jq '[.events[] | select(.detail | test("nope1"))] |
	length') == 0 ]] || die "the fleet logged something about nope1"
pass "Esc instead of F9 creates nothing"

# A Totebox without a node is refused, on screen; with a node it goes.
keys F2
see 5 'New VM' "F2 for a Totebox"
keys Left
see 5 'Type +< totebox >' "Left selects the Totebox"
keys Tab vault1 F9
see 10 'refused the plan: .*[Tt]otebox' "the fleet's refusal of a Totebox without a node"
guest_listed vault1 && die "a Totebox without a node was created"
pane_alive || die "the panel died on the refusal"
keys Tab Tab Right
see 5 'Node +< n[123] \(your choice' "a node chosen for the Totebox"
keys F9
for _ in 1 2; do
	wait_until 10 guest_listed vault1 && break
	on_screen 'F9 confirms this plan' || break
	keys F9
done
wait_until 5 guest_listed vault1 || { screen > "$T/screen.log"; die "vault1 not created on its named node"; }
pass "a Totebox: refused without a node, created on the node chosen"

# Every node silent at once: the fleet holds evictions and the panel says so;
# two come back, the hold ends and the third is shown evicted.
for n in n1 n2 n3; do stop $n KILL; done
see 10 '^ Evictions are on hold' "the hold banner"
see 5 '^ n1 +held ' "n1 shown held"
for n in n1 n2; do agent $n; done
see 10 '^ n3 +evicted ' "n3 shown evicted once the others returned"
wait_until 5 off_screen 'Evictions are on hold' || die "the hold banner stays"
agent n3
see 10 '^ n3 +live ' "n3 readmitted"
pass "hold banner and held nodes; evicted shown plainly; readmitted"

# Resizing: larger, then back to 80x24; the panel redraws and lives on.
tm resize-window -t panel -x 100 -y 30
wait_until 5 on_screen 'F10Quit' || die "key bar after growing"
[[ $(tm display-message -p -t panel '#{pane_width}x#{pane_height}') == 100x30 ]] || die "not 100x30"
see 5 '^ n1 +live .*\]' "the nodes at 100x30"
tm resize-window -t panel -x 50 -y 10
see 5 'The panel needs 60x14 at least' "a terminal too small is said so"
tm resize-window -t panel -x 80 -y 24
see 5 '^ n1 +live ' "the nodes back at 80x24"
pane_alive || die "the panel died while resizing"
pass "resize to 100x30, 50x10 and back to 80x24"

# The fleet goes away: the panel says so and keeps trying; it comes back.
stop fleet
see 10 'cannot reach the fleet at ' "the fleet stopped"
see 5 '; retrying$' "the fleet stopped: retrying"
pane_alive || die "the panel died with the fleet"
start_fleet
see 15 '^ n1 +(live|awaiting) ' "the nodes after the fleet's restart"
wait_until 10 off_screen 'cannot reach the fleet' || die "the banner stays after the restart"
see 10 'Connected to the fleet at .* again' "the reconnection said"
pass "fleet stopped: banner and retry; restarted: the panel is back"

# NO_COLOR: the same screen without one colour.
PANE=mono start_panel mono NO_COLOR=1
PANE=mono see 10 '^ n1 +live ' "n1 under NO_COLOR"
tm capture-pane -e -p -t mono > "$T/mono.ansi"
tm capture-pane -e -p -t panel > "$T/color.ansi"
grep -qE $'\e\\[([0-9;]*;)?(3[0-7]|4[0-7]|38;5;[0-9]+|48;5;[0-9]+)(;[0-9;]*)?m' "$T/color.ansi" ||
	die "no colour in the coloured panel (the check would prove nothing)"
grep -qE $'\e\\[([0-9;]*;)?(3[0-7]|4[0-7]|38;5;[0-9]+|48;5;[0-9]+)(;[0-9;]*)?m' "$T/mono.ansi" &&
	die "colour under NO_COLOR"
PANE=mono keys q
PANE=mono see 5 'panel exited with 0' "q quits"
pass "NO_COLOR draws without colour; q quits"

keys F10
see 5 'panel exited with 0' "F10 quits with status 0"
# Nothing on stderr: no stray output under the screen, no sanitizer report.
for name in panel mono; do
	[[ ! -s $T/panel-$name.log ]] || die "the panel ($name) wrote to stderr"
done
pass "F10 quits; nothing written to stderr"
