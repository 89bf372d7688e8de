#!/bin/sh
# A stand-in for benchmark_model, run by the agent in tests: MODE [ARGS...].
# Records its argument vector NUL-separated in $FAKE_DEVICE/argv so a test can compare it byte
# for byte, then behaves as MODE says.
mode=$1
shift
printf '%s\0' "$@" >"$FAKE_DEVICE/argv"

benchmark_output() {
	start_up_output "$1"
	measured_output
}

# Up to the announcement of the measured runs (the agent's rails dump follows it).
start_up_output() {
	echo "INFO: STARTING!"
	echo "INFO: Log parameter values verbosely: [0]"
	echo "INFO: Graph: [$1]"
	echo "INFO: Loaded model $1"
	echo "INFO: The input model file size (MB): 13.9786"
	echo "INFO: Initialized session in 39.204ms."
	echo "INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds."
	echo "INFO: count=35 first=21507 curr=13826 min=13478 max=21507 avg=14368.6 std=1413"
	echo "INFO: Running benchmark for at least 50 iterations and at least 1 seconds but terminate if exceeding 150 seconds."
}

measured_output() {
	echo "INFO: count=72 first=13878 curr=13791 min=13399 max=16190 avg=13848.8 std=389 p5=13466 median=13807 p95=14365"
	echo "INFO: Inference timings in us: Init: 39204, First inference: 21507, Warmup (avg): 14368.6, Inference (avg): 13848.8"
}

# With a power-stats HAL (dumpsys was asked for it before the runner started), until the agent has
# dumped the rails at the announcement of the measured runs (it notes their uptimes in its tmp
# directory once the dump is complete); at most 5 s. A device without the HAL ("rails": null in
# the state the tests wrote) answers the agent's probe with nothing: no dump will come to wait for.
wait_for_measured_dump() {
	grep -q power.stats "$FAKE_DEVICE/dumpsys_calls" 2>/dev/null || return 0
	grep -q '"rails": null' "$FAKE_DEVICE/device.json" && return 0
	wm_tries=0
	while [ ! -e "$FAKE_OUT/.agent-tmp/measured-start" ] && [ "$wm_tries" -lt 100 ]; do
		sleep 0.05
		wm_tries=$((wm_tries + 1))
	done
}

set_current() {
	echo "$1" >"$FAKE_SYSROOT/sys/class/power_supply/battery/.current_now.tmp"
	mv "$FAKE_SYSROOT/sys/class/power_supply/battery/.current_now.tmp" "$FAKE_SYSROOT/sys/class/power_supply/battery/current_now"
}

# Sets `now` to the uptime (a builtin read: no process to start, so no delay on a loaded host).
read_uptime() {
	read -r now _ </proc/uptime
}

# Switches the battery current to $1, and appends the uptimes just before and just after the switch
# to $FAKE_DEVICE/current_switches: the switch (an mv) can take long on a loaded host, and a test
# must know when the current really changed.
switch_current() {
	read_uptime
	sc_before=$now
	set_current "$1"
	read_uptime
	echo "$sc_before $now" >>"$FAKE_DEVICE/current_switches"
}

case $mode in
ok)
	benchmark_output "$1"
	echo "a line on stderr" >&2
	;;
load)
	# Draws LOAD_CURRENT from the battery (and the rails' active power) for LOAD_S seconds during
	# its measured runs, once it has announced them and the agent has seen that (the rails dump it
	# makes then, in $FAKE_DEVICE/measured_announced when there are rails); the rails' active window
	# ("start end" in $FAKE_DEVICE/activity) lies between the two switches.
	start_up_output "$1"
	wait_for_measured_dump
	switch_current "$LOAD_CURRENT"
	printf '%s ' "$now" >>"$FAKE_DEVICE/activity"
	sleep "$LOAD_S"
	read_uptime
	echo "$now" >>"$FAKE_DEVICE/activity"
	switch_current "$IDLE_CURRENT"
	measured_output
	;;
crash)
	echo "INFO: Initialized session in 39.204ms."
	echo "INFO: Running benchmark for at least 1 iterations and at least 0.5 seconds but terminate if exceeding 150 seconds."
	kill -s SEGV $$
	;;
fail)
	echo "ERROR: Could not open '$1'."
	echo "ERROR: Failed to initialize the interpreter" >&2
	exit 3
	;;
hang)
	echo "started"
	sleep 1000
	;;
stubborn)
	# Ignoring TERM is inherited by the sleep: only KILL ends either.
	trap '' TERM
	echo "started"
	sleep 1000
	;;
daemon)
	# Leaves a child behind in its process group, as a careless runner might.
	sleep 1000 &
	benchmark_output "$1"
	;;
affinity)
	grep Cpus_allowed_list /proc/self/status
	;;
esac
