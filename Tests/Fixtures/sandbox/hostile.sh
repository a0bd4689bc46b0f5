#!/bin/sh
# Hostile build code for the sandbox tests: it tries what someone who can push would try
# and reports each attempt as "ATTACK <stage>:<name> OK|BLOCKED [what it got]". What it
# reads it prints reversed, as a real attacker would, to get past the log's masking.
# Runs as the test step (on the host, maybe sandboxed), as a Dockerfile RUN line and as
# the smoke command (inside a busybox image), so it uses busybox's applets throughout.
# targets.env, written by the test, says where the daemon's secrets and state are.
stage=$1
if [ -f ./targets.env ]; then . ./targets.env; else . /targets.env; fi
bb=busybox
report() { echo "ATTACK $stage:$1 $2"; }

# Reads a file by its path (here, and after leaving a chroot when the escape is present).
try_read() {
    name=$1
    path=$2
    content=$($bb cat "$path" 2>/dev/null)
    if [ -z "$content" ] && [ -x /chroot-escape ]; then content=$(/chroot-escape /bin/cat "$path" 2>/dev/null); fi
    if [ -n "$content" ]; then report "$name" "OK $(printf '%s' "$content" | $bb rev)"; else report "$name" BLOCKED; fi
}

# Creates a file outside the workspace, here or after leaving a chroot, and leaves it
# there: inside a container, writing into the image's own /etc is no escape, so the test
# looks for the file on the host afterwards.
try_write() {
    name=$1
    path=$2
    if $bb touch "$path" 2>/dev/null || { [ -x /chroot-escape ] && /chroot-escape /bin/touch "$path" 2>/dev/null; }; then
        report "$name" OK
    else
        report "$name" BLOCKED
    fi
}

try_read webhook-secret "$WEBHOOK_SECRET_FILE"
try_read ops-token "$OPS_TOKEN_FILE"
try_read registry-auth "$REGISTRY_AUTH_FILE"
try_read kubeconfig "$KUBECONFIG_FILE"
try_read other-workspace "$STATE_DIR/workspaces/$OTHER_WORKSPACE/src/other.txt"
try_read shadow /etc/shadow
if $bb head -c 15 "$STATE_DIR/slipway.sqlite" 2>/dev/null | $bb grep -q "SQLite format"; then report database OK; else report database BLOCKED; fi
if [ -n "$($bb ls "$STATE_DIR/mirrors" 2>/dev/null)" ]; then report mirrors OK; else report mirrors BLOCKED; fi

# The daemon: by the pid the test planted, and by looking for it.
found=""
for entry in /proc/[0-9]*; do
    if $bb grep -q slipwayd "$entry/cmdline" 2>/dev/null; then found=${entry#/proc/}; fi
done
if [ -n "$found" ]; then report find-daemon "OK $found"; else report find-daemon BLOCKED; fi
environment=$($bb tr '\0' '\n' < "/proc/$DAEMON_PID/environ" 2>/dev/null | $bb grep '^TEST_ENV_TOKEN=')
if [ -n "$environment" ]; then report daemon-environ "OK $(printf '%s' "${environment#*=}" | $bb rev)"; else report daemon-environ BLOCKED; fi
address=$($bb head -1 "/proc/$DAEMON_PID/maps" 2>/dev/null | $bb cut -d- -f1)
if [ -n "$address" ] && [ "$($bb dd if=/proc/$DAEMON_PID/mem bs=16 count=1 skip=$((0x$address / 16)) 2>/dev/null | $bb wc -c)" -eq 16 ]; then
    report daemon-mem OK
else
    report daemon-mem BLOCKED
fi
if $bb kill -0 "$DAEMON_PID" 2>/dev/null; then report signal-daemon OK; else report signal-daemon BLOCKED; fi
if [ "$KILL_FOR_REAL" = yes ]; then
    $bb kill -9 "$DAEMON_PID" 2>/dev/null
    [ -n "$found" ] && $bb kill -9 "$found" 2>/dev/null
fi

try_write write-state "$STATE_DIR/pwned-$stage-$MARK"
try_write write-etc "/etc/slipway-pwned-$stage-$MARK"
try_write write-beside-daemon "$DAEMON_BIN.pwned-$stage-$MARK"
if [ -w "$DAEMON_BIN" ]; then report write-daemon-binary OK; else report write-daemon-binary BLOCKED; fi

# Something left running after the step: its argv names the stage.
case $stage in
    test) seconds=6001 ;;
    run-line) seconds=6002 ;;
    *) seconds=6003 ;;
esac
$bb setsid $bb sleep $seconds > /dev/null 2>&1 < /dev/null &
report leftover STARTED

if [ "$stage" = test ]; then
    # Fork until refused: a subshell that dies at the first refused fork, counting as it goes.
    (
        n=0
        while [ $n -lt "$FORKS" ]; do
            $bb sleep 3017 &
            n=$((n + 1))
            echo $n > forks.count
        done
    ) 2>/dev/null
    # Every slot is taken until the sleeps are gone: a command substitution could not fork.
    $bb pkill -f "sleep 3017" 2>/dev/null
    sleep 0.2
    read -r forks < forks.count
    report forks "${forks:-0}"
    if python3 -c "b = bytearray($MEMORY_BYTES * 2); b[-1] = 1" 2>/dev/null; then report memory OK; else report memory BLOCKED; fi
fi
exit 0
