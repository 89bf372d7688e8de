#!/system/bin/sh
# squeezebench on-device agent: records device state, waits for cool-down, samples energy and runs
# a benchmark runner (once, or --repeat N times back to back, recording the device after each). POSIX sh only: it runs unchanged under Android's /system/bin/sh (mksh) with
# toybox, and under dash and posh. See README.md beside it for the options and every result key.
#
#   sh agent.sh --out DIR [--cooldown-s N] [--cooldown-temp-c T] [--idle-baseline-s N]
#               [--sample-interval-ms N] [--taskset MASK] [--timeout-s N] [--rails-hal none|1.0|2.0]
#               [--repeat N] [--sysroot DIR] -- RUNNER [RUNNER ARGS...]
#
# The agent does no arithmetic on measured values: it writes them raw and the host computes.
# Runner arguments are only ever expanded as "$@": never evaluated, never word-split.

AGENT_VERSION=2
NL='
'
CR=$(printf '\r' 2>/dev/null)

USAGE='usage: sh agent.sh --out DIR [--cooldown-s N] [--cooldown-temp-c T] [--idle-baseline-s N] [--sample-interval-ms N] [--taskset MASK] [--timeout-s N] [--rails-hal none|1.0|2.0] [--repeat N] [--sysroot DIR] -- RUNNER [ARGS...]'

usage_error() {
	printf 'agent.sh: error: %s\n%s\n' "$1" "$USAGE" >&2
	exit 2
}

fatal() {
	# echo as a fallback: a missing printf is one of the things reported here.
	printf 'agent.sh: error: %s\n' "$1" >&2 2>/dev/null || echo "agent.sh: error: $1" >&2
	exit 1
}

is_uint() {
	case $1 in '' | *[!0-9]*) return 1 ;; esac
	return 0
}

# Sets `uint` to $1 without leading zeros: mksh reads 010 as ten, dash and posh as eight.
strip_zeros() {
	uint=$1
	while :; do
		case $uint in 0?*) uint=${uint#0} ;; *) break ;; esac
	done
}

# Sets `uint` from the value of option $1, which must be a non-negative integer.
uint_option() {
	is_uint "$2" || usage_error "$1 needs a whole number, got '$2'"
	strip_zeros "$2"
}

is_decimal() {
	case $1 in '' | *[!0-9.]* | *.*.* | .* | *.) return 1 ;; esac
	return 0
}

# Checks that option $1 has a non-negative decimal value $2 (seconds like 2 or 0.5).
seconds_option() {
	is_decimal "$2" || usage_error "$1 needs seconds like 2 or 0.5, got '$2'"
}

is_positive() {
	case $1 in *[1-9]*) return 0 ;; esac
	return 1
}

# Sets `uint` to the decimal $1 ("12.34", "35", "0.5") in hundredths; further digits are cut.
hundredths() {
	h_frac=00
	case $1 in *.*) h_frac=${1#*.}00 ;; esac
	h_frac=${h_frac%${h_frac#??}}
	strip_zeros "${1%%.*}"
	h_whole=$uint
	strip_zeros "$h_frac"
	uint=$((h_whole * 100 + uint))
}

parse_arguments() {
	out=
	cooldown_s=0
	cooldown_temp_c=35.0
	idle_s=2
	interval_ms=250
	taskset_mask=
	timeout_s=0
	sysroot=
	rails_hint=
	repeat=1
	while [ $# -gt 0 ]; do
		case $1 in
		--) shift; break ;;
		--out | --cooldown-s | --cooldown-temp-c | --idle-baseline-s | --sample-interval-ms | --taskset | --timeout-s | --rails-hal | --repeat | --sysroot)
			[ $# -ge 2 ] || usage_error "$1 needs a value"
			case $1 in
			--out) out=$2 ;;
			--cooldown-s) seconds_option "$1" "$2"; cooldown_s=$2 ;;
			--cooldown-temp-c) cooldown_temp_c=$2 ;;
			--idle-baseline-s) seconds_option "$1" "$2"; idle_s=$2 ;;
			--sample-interval-ms) uint_option "$1" "$2"; interval_ms=$uint ;;
			--taskset) taskset_mask=$2 ;;
			--timeout-s) seconds_option "$1" "$2"; timeout_s=$2 ;;
			--rails-hal)
				case $2 in none | 1.0 | 2.0) rails_hint=$2 ;; *) usage_error "--rails-hal needs none, 1.0 or 2.0, got '$2'" ;; esac
				;;
			--repeat) uint_option "$1" "$2"; repeat=$uint ;;
			--sysroot) sysroot=$2 ;;
			esac
			shift 2
			;;
		*) usage_error "unknown option '$1' (runner arguments go after --)" ;;
		esac
	done
	[ -n "$out" ] || usage_error "--out DIR is required"
	[ $# -gt 0 ] || usage_error "no runner given after --"
	[ "$interval_ms" -ge 10 ] || usage_error "--sample-interval-ms must be at least 10"
	[ "$repeat" -ge 1 ] || usage_error "--repeat must be at least 1"
	is_decimal "$cooldown_temp_c" ||
		usage_error "--cooldown-temp-c needs degrees Celsius like 35 or 35.5, got '$cooldown_temp_c'"
	hundredths "$cooldown_temp_c"
	temp_limit_dC=$((uint / 10))
	case $taskset_mask in
	'') ;;
	0x* | 0X*) is_hex "${taskset_mask#0[xX]}" || usage_error "--taskset needs a hex CPU mask like f0, got '$taskset_mask'" ;;
	*) is_hex "$taskset_mask" || usage_error "--taskset needs a hex CPU mask like f0, got '$taskset_mask'" ;;
	esac
	runner_argc=$#
}

is_hex() {
	case $1 in '' | *[!0-9a-fA-F]*) return 1 ;; esac
	return 0
}

# ---------------------------------------------------------------- output files

# Appends key=value to result.txt; a value is one line, so newlines and CRs become spaces.
kv() {
	kv_value=$2
	case $kv_value in
	*"$NL"* | *"$CR"*)
		kv_ifs=$IFS
		IFS="$NL$CR"
		set -f
		# shellcheck disable=SC2086 # splitting on newlines is the point
		set -- "$1" $kv_value
		set +f
		kv_key=$1
		shift
		IFS=' '
		kv_value="$*"
		IFS=$kv_ifs
		set -- "$kv_key"
		;;
	esac
	put_line "$1=$kv_value" >>"$RESULT" ||
		fatal "cannot write $RESULT (is the device storage full?)"
}

# Writes $1 and a newline as they are. mksh (Android's sh) has `print` built in but not `printf`,
# which toybox then runs: 1.4 ms a line on the virtual device, 100 ms of an agent's 80 lines.
# `echo` is no substitute: dash's expands backslashes.
case $(command -V print 2>/dev/null) in
*builtin*) put_line() { print -r -- "$1"; } ;;
*) put_line() { printf '%s\n' "$1"; } ;;
esac

# Sets `quoted` to the arguments quoted for sh, so the record can be split back exactly.
quote_args() {
	quoted=
	for qa_arg in "$@"; do
		qa_out=
		while :; do
			case $qa_arg in
			*\'*) qa_out="$qa_out${qa_arg%%\'*}'\\''"; qa_arg=${qa_arg#*\'} ;;
			*) qa_out="$qa_out$qa_arg"; break ;;
			esac
		done
		quoted="$quoted${quoted:+ }'$qa_out'"
	done
}

prepare_output_directory() {
	mkdir -p "$out" 2>/dev/null || fatal "cannot create output directory '$out'"
	RESULT=$out/result.txt
	TMP=$out/.agent-tmp
	# Files from an earlier run in the same directory would be mistaken for this run's.
	rm -f "$out/done" "$RESULT" "$out/runner.log" "$out/energy.csv" "$out/clocks.csv" "$out/thermalservice.txt" \
		"$out/rails_idle_start.txt" "$out/rails_run_start.txt" "$out/rails_measured_start.txt" "$out/rails_run_end.txt"
	rm -rf "$TMP" "$out"/run_[0-9]*
	mkdir -p "$TMP" 2>/dev/null && : >"$RESULT" 2>/dev/null ||
		fatal "cannot write into '$out' (is the device storage full?)"
}

# ---------------------------------------------------------------- reading the device

# Sets `val` to the first line of file $1, or empty when it is missing or unreadable.
read_value() {
	val=
	[ -r "$1" ] || return 1
	{ IFS= read -r val <"$1"; } 2>/dev/null
	[ -n "$val" ]
}

# Sets `now_uptime` to the first field of /proc/uptime (seconds, 10 ms resolution, monotonic).
read_uptime() {
	now_uptime=
	{ IFS=' ' read -r now_uptime _ <"$UPTIME_FILE"; } 2>/dev/null
}

have() {
	command -v "$1" >/dev/null 2>&1
}

thermal_status() {
	have dumpsys || return 0
	dumpsys thermalservice 2>/dev/null | sed -n 's/^Thermal Status: *\([0-9-]*\).*/\1/p'
}

# Finds the power_supply directories: BAT_DIR for the battery state, GAUGE_DIR for current_now
# and voltage_now (usually the same; on some Qualcomm devices the gauge is only in `bms`).
find_battery() {
	BAT_DIR=
	GAUGE_DIR=
	for fb_dir in "$POWER_SUPPLY_DIR/battery" "$POWER_SUPPLY_DIR/bms" "$POWER_SUPPLY_DIR"/*; do
		[ -d "$fb_dir" ] && is_battery_dir "$fb_dir" || continue
		if [ -z "$BAT_DIR" ] && { [ -r "$fb_dir/capacity" ] || [ -r "$fb_dir/status" ]; }; then
			BAT_DIR=$fb_dir
		fi
		if [ -z "$GAUGE_DIR" ] && read_value "$fb_dir/current_now" && read_value "$fb_dir/voltage_now"; then
			GAUGE_DIR=$fb_dir
		fi
	done
}

is_battery_dir() {
	read_value "$1/type"
	case $1:$val in */battery:* | */bms:* | *:Battery | *:BMS) return 0 ;; esac
	return 1
}

snapshot_battery_sysfs() {
	kv "$1.battery.path" "${BAT_DIR##*/}"
	read_value "$BAT_DIR/capacity"; kv "$1.battery.capacity_pct" "$val"
	read_value "$BAT_DIR/status"; kv "$1.battery.status" "$val"
	read_value "$BAT_DIR/temp"; kv "$1.battery.temp_dC" "$val"
	read_value "$BAT_DIR/current_now"; kv "$1.battery.current_now" "$val"
	read_value "$BAT_DIR/voltage_now"; kv "$1.battery.voltage_now" "$val"
	read_value "$BAT_DIR/charge_counter"; kv "$1.battery.charge_counter" "$val"
}

# When sysfs is closed to the shell user, BatteryService's dump still gives level, status and
# temperature (not current: there is nothing to sample then).
# $2: the dump (written by start_system_queries; absent without dumpsys).
snapshot_battery_dumpsys() {
	sb_capacity= sb_status= sb_temp= sb_counter= sb_stopped=0
	if [ -r "$2" ]; then
		while IFS=: read -r sb_key sb_value; do
			sb_value=${sb_value# }
			case $sb_key in
			'  level') sb_capacity=$sb_value ;;
			'  status') sb_status=$sb_value ;;
			'  temperature') sb_temp=$sb_value ;;
			'  Charge counter') sb_counter=$sb_value ;;
			'  (UPDATES STOPPED -- use '*) sb_stopped=1 ;;
			'  AC powered') kv "$1.supply.dumpsys-ac.type" Mains; kv "$1.supply.dumpsys-ac.online" "$sb_value" ;;
			'  USB powered') kv "$1.supply.dumpsys-usb.type" USB; kv "$1.supply.dumpsys-usb.online" "$sb_value" ;;
			'  Wireless powered') kv "$1.supply.dumpsys-wireless.type" Wireless; kv "$1.supply.dumpsys-wireless.online" "$sb_value" ;;
			'  Dock powered') kv "$1.supply.dumpsys-dock.type" Dock; kv "$1.supply.dumpsys-dock.online" "$sb_value" ;;
			esac
		done <"$2"
	fi
	# BatteryManager.BATTERY_STATUS_* numbers, named as sysfs names them.
	case $sb_status in
	1) sb_status=Unknown ;; 2) sb_status=Charging ;; 3) sb_status=Discharging ;;
	4) sb_status='Not charging' ;; 5) sb_status=Full ;;
	esac
	if [ -n "$sb_capacity$sb_status$sb_temp" ]; then kv "$1.battery.path" dumpsys; else kv "$1.battery.path" ''; fi
	kv "$1.battery.capacity_pct" "$sb_capacity"
	kv "$1.battery.status" "$sb_status"
	kv "$1.battery.temp_dC" "$sb_temp"
	kv "$1.battery.current_now" ''
	kv "$1.battery.voltage_now" ''
	kv "$1.battery.charge_counter" "$sb_counter"
	# `dumpsys battery unplug` and friends freeze what it reports: the values are then not real.
	kv "$1.battery.updates_stopped" "$sb_stopped"
}

# Every external supply (usb, ac, wireless, ...) with its type and whether it is online: the host
# decides from these whether power was coming in.
snapshot_supplies() {
	for ss_dir in "$POWER_SUPPLY_DIR"/*; do
		[ -r "$ss_dir/online" ] || continue
		is_battery_dir "$ss_dir" && continue
		read_value "$ss_dir/type"; kv "$1.supply.${ss_dir##*/}.type" "$val"
		read_value "$ss_dir/online"; kv "$1.supply.${ss_dir##*/}.online" "$val"
	done
}

snapshot_cpus() {
	for sc_dir in "$CPU_DIR"/cpu[0-9]*; do
		sc_n=${sc_dir##*/cpu}
		is_uint "$sc_n" && [ -d "$sc_dir" ] || continue
		read_value "$sc_dir/online"; kv "$1.cpu$sc_n.online" "$val"
		read_value "$sc_dir/cpufreq/scaling_governor"; kv "$1.cpu$sc_n.governor" "$val"
		read_value "$sc_dir/cpufreq/scaling_cur_freq"; kv "$1.cpu$sc_n.cur_freq_khz" "$val"
		read_value "$sc_dir/cpufreq/cpuinfo_max_freq"; kv "$1.cpu$sc_n.max_freq_khz" "$val"
		# The cap the kernel holds the policy to (thermal mitigation lowers it), and the policy
		# itself: the first of the cores that share the clock.
		read_value "$sc_dir/cpufreq/scaling_max_freq"; kv "$1.cpu$sc_n.scaling_max_khz" "$val"
		read_value "$sc_dir/cpufreq/related_cpus"; kv "$1.cpu$sc_n.policy" "${val%%[!0-9]*}"
	done
	read_value "$CPU_DIR/online"; kv "$1.cpus_online" "$val"
}

# Writes the `before.*`, `after.*` or `run.N.*` keys ($1 is the prefix). With $2, the whole
# `dumpsys thermalservice` (its sensors' temperatures) is kept in that file. The battery is read
# first and the CPUs last, so that neither sees the snapshot's own queries at work.
snapshot() {
	read_uptime
	kv "$1.uptime_s" "$now_uptime"
	[ -n "$BAT_DIR" ] && snapshot_battery_sysfs "$1"
	sn_thermal_dump=${2:-$TMP/thermalservice.txt}
	ask_system_queries "$sn_thermal_dump"
	snapshot_supplies "$1"
	[ -n "$BAT_DIR" ] || snapshot_battery_dumpsys "$1" "$TMP/battery.txt"
	read_value "$TMP/suspended.txt"; kv "$1.battery.input_suspended" "$val"
	snap_thermal=
	if [ -e "$sn_thermal_dump" ]; then
		snap_thermal=$(sed -n 's/^Thermal Status: *\([0-9-]*\).*/\1/p' "$sn_thermal_dump")
		[ -z "$2" ] || kv "$1.thermal.dump" "${2#"$out"/}"
	fi
	kv "$1.thermal.status" "$snap_thermal"
	# Whether the screen is on: an asleep phone idles lower, and over Wi-Fi adb may freeze the runner.
	kv "$1.power.wakefulness" "$([ -r "$TMP/power.txt" ] && sed -n 's/^ *mWakefulness=\([A-Za-z]*\).*/\1/p' "$TMP/power.txt")"
	snapshot_cpus "$1"
}

# Asks a snapshot's questions of the system side by side, each into a file ($1: where the thermal
# service's dump goes). Each is a process that asks a system service (20-100 ms on a phone, a
# Python program on the virtual device): one after another they were most of a snapshot, taken
# before and after every run. A subshell waits for them: `wait` there waits for its own children
# only, not for the agent's samplers, and no shell has to keep their process ids.
ask_system_queries() {
	rm -f "$TMP/suspended.txt" "$TMP/battery.txt" "$TMP/power.txt" "$1"
	(
		have getprop && getprop power.battery_input.suspended >"$TMP/suspended.txt" 2>/dev/null &
		if have dumpsys; then
			[ -n "$BAT_DIR" ] || dumpsys battery >"$TMP/battery.txt" 2>/dev/null &
			dumpsys thermalservice >"$1" 2>/dev/null &
			dumpsys power >"$TMP/power.txt" 2>/dev/null &
		fi
		wait
	)
}

# Sets `battery_temp_dC` from sysfs, else from BatteryService.
read_battery_temp() {
	battery_temp_dC=
	if [ -n "$BAT_DIR" ]; then
		read_value "$BAT_DIR/temp" && battery_temp_dC=$val
	elif have dumpsys; then
		battery_temp_dC=$(dumpsys battery 2>/dev/null | sed -n 's/^  temperature: *\(-*[0-9]*\).*/\1/p')
	fi
}

# ---------------------------------------------------------------- signals and background work
#
# The main shell defers TERM, HUP and INT: a trap only notes the signal (which also cuts a `wait`
# short), and `checkpoint` acts on it between phases, so result.txt never gets half a phase twice.
# A signal that comes just before a `wait` cannot cut it short, so the trap also ends what is
# waited for: the current nap, or the runner (through the killer, see wait_for_runner).

defer_signals() {
	PENDING=
	trap 'note_signal TERM' TERM
	trap 'note_signal HUP' HUP
	trap 'note_signal INT' INT
	# When the adb connection goes (host killed, cable out), adbd hangs up the agent and closes
	# its stdout and stderr at once: a write to them must fail, not kill the agent by SIGPIPE
	# before it has stopped its runner, sampler and watchdog and written what it measured.
	trap '' PIPE
}

note_signal() {
	PENDING=$1
	stop_nap
	[ -z "$WAITING_FOR_RUNNER" ] || start_killer
}

checkpoint() {
	[ -z "$PENDING" ] || on_signal "$PENDING"
}

# Sleeps $1 seconds in a child that is waited for, so a signal cuts the sleep short, and the child
# is killed so that no sleep outlives the shell that started it. Without fractional sleep (very
# old toyboxes) fractions are rounded up.
nap() {
	nap_s=$1
	if [ -z "$FRACTIONAL_SLEEP" ]; then
		hundredths "$1"
		nap_s=$(((uint + 99) / 100))
	fi
	sleep "$nap_s" &
	nap_pid=$!
	NAP_PID=$nap_pid
	# A signal noted before NAP_PID was set could not end this sleep from its trap.
	[ -z "$PENDING" ] || stop_nap
	wait "$nap_pid"
	stop_nap
}

stop_nap() {
	[ -n "$NAP_PID" ] && kill -s TERM "$NAP_PID" 2>/dev/null
	NAP_PID=
}

# For background subshells: TERM or HUP stops their nap and ends them. A signal the main shell
# had noted when it started them is not theirs (the killer's grace period must not be cut short).
exit_on_term() {
	NAP_PID= PENDING= WAITING_FOR_RUNNER=
	trap 'stop_nap; exit 0' TERM HUP
}

stop_background() {
	[ -n "$1" ] || return 0
	kill -s TERM "$1" 2>/dev/null
	reap "$1"
}

# Waits for child $1 even when a signal cuts a `wait` short (127: not, or no longer, our child).
reap() {
	while kill -s 0 "$1" 2>/dev/null; do
		wait "$1" 2>/dev/null
		[ $? -ne 127 ] || return 0
	done
}

choose_sleep() {
	FRACTIONAL_SLEEP=
	sleep 0.001 2>/dev/null && FRACTIONAL_SLEEP=yes
	SAMPLE_SLEEP=$((interval_ms / 1000)).$(printf '%03d' $((interval_ms % 1000)))
}

# Appends raw gauge samples for phase $1 to energy.csv until file $2 exists. Only builtins run
# per sample besides the sleep, so the sampler costs the same in the idle and the run phase.
sample_gauge() {
	exit_on_term
	while [ ! -e "$2" ]; do
		sg_up= sg_current= sg_voltage=
		IFS=' ' read -r sg_up _ <"$UPTIME_FILE"
		IFS= read -r sg_current <"$GAUGE_DIR/current_now"
		IFS= read -r sg_voltage <"$GAUGE_DIR/voltage_now"
		echo "$sg_up,$1,$sg_current,$sg_voltage" >>"$out/energy.csv"
		nap "$SAMPLE_SLEEP"
	done
}

# Appends every core's clock (scaling_cur_freq, kHz; empty when offline) to clocks.csv until
# file $1 exists: what the cores ran at during the run, not only before and after it.
sample_clocks() {
	exit_on_term
	while [ ! -e "$1" ]; do
		IFS=' ' read -r scl_line _ <"$UPTIME_FILE"
		for scl_core in $CLOCK_CORES; do
			scl_khz=
			IFS= read -r scl_khz <"$CPU_DIR/cpu$scl_core/cpufreq/scaling_cur_freq"
			scl_line="$scl_line,$scl_khz"
		done
		echo "$scl_line" >>"$out/clocks.csv"
		nap "$SAMPLE_SLEEP"
	done
}

start_clock_sampler() {
	CLOCK_SAMPLER_PID= CLOCK_CORES= scl_header=uptime_s
	for scl_dir in "$CPU_DIR"/cpu[0-9]*; do
		scl_n=${scl_dir##*/cpu}
		is_uint "$scl_n" && [ -d "$scl_dir/cpufreq" ] || continue
		CLOCK_CORES="$CLOCK_CORES $scl_n"
		scl_header="$scl_header,cpu$scl_n"
	done
	[ -n "$CLOCK_CORES" ] || return 0
	echo "$scl_header" >"$out/clocks.csv"
	sample_clocks "$TMP/stop-clocks" 2>/dev/null &
	CLOCK_SAMPLER_PID=$!
}

stop_clock_sampler() {
	[ -n "$CLOCK_SAMPLER_PID" ] || return 0
	: >"$TMP/stop-clocks"
	stop_background "$CLOCK_SAMPLER_PID"
	CLOCK_SAMPLER_PID=
	kv clocks.samples clocks.csv
}

# With rails: dumps them once the runner announces its measured runs (its second "Running
# benchmark for at least" line; the first is the warm-up's), so that start-up and inference energy
# can be told apart. With --repeat N it watches the last run, whose measured runs end the window
# (its directory appears only when that run starts). The uptimes go to a file: this runs in the
# background.
watch_measured_phase() {
	exit_on_term
	wm_log=$out/runner.log
	[ "$repeat" -gt 1 ] && wm_log=$out/run_$repeat/runner.log
	while [ ! -e "$TMP/stop-watch" ]; do
		wm_seen=0
		if [ -r "$wm_log" ]; then
			while IFS= read -r wm_line; do
				case $wm_line in *"Running benchmark for at least"*) wm_seen=$((wm_seen + 1)) ;; esac
			done <"$wm_log"
		fi
		if [ "$wm_seen" -ge 2 ]; then
			read_uptime
			wm_before=$now_uptime
			dump_rails_to measured_start
			read_uptime
			echo "$wm_before $now_uptime" >"$TMP/measured-start"
			return 0
		fi
		nap "$SAMPLE_SLEEP"
	done
}

start_phase_watcher() {
	WATCHER_PID=
	[ -n "$RAILS_HAL" ] || return 0
	watch_measured_phase 2>/dev/null &
	WATCHER_PID=$!
}

stop_phase_watcher() {
	[ -n "$WATCHER_PID" ] || return 0
	# Not killed: a rails dump it has begun is finished and recorded.
	: >"$TMP/stop-watch"
	reap "$WATCHER_PID"
	WATCHER_PID=
	if [ -r "$TMP/measured-start" ]; then
		IFS=' ' read -r wm_before wm_after <"$TMP/measured-start"
		kv energy.rails_measured_start_uptime_s "$wm_before"
		kv energy.rails_measured_start_end_uptime_s "$wm_after"
		RAILS_FILES="$RAILS_FILES${RAILS_FILES:+ }rails_measured_start.txt"
	fi
}

start_sampler() {
	SAMPLER_PID=
	[ -n "$GAUGE_DIR" ] || return 0
	sample_gauge "$1" "$TMP/stop-$1" 2>/dev/null &
	SAMPLER_PID=$!
}

stop_sampler() {
	[ -n "$SAMPLER_PID" ] || return 0
	: >"$TMP/stop-$1"
	# TERM cuts its nap short (it would otherwise end up to one interval later); its trap runs
	# between commands, so a sample line is never cut in half.
	stop_background "$SAMPLER_PID"
	SAMPLER_PID=
}

signal_runner() {
	if [ "$RUNNER_GROUP" = own ]; then
		kill -s "$1" -- "-$RUNNER_PID" 2>/dev/null
	else
		kill -s "$1" -- "$RUNNER_PID" 2>/dev/null
	fi
}

# TERM now, KILL after a grace period if it is still there.
terminate_runner() {
	signal_runner TERM
	nap 2
	signal_runner KILL
}

watchdog() {
	exit_on_term
	nap "$timeout_s"
	: >"$TMP/timed-out"
	terminate_runner
}

killer() {
	exit_on_term
	terminate_runner
}

# Starts the killer once per runner.
start_killer() {
	[ -z "$KILLER_PID" ] || return 0
	killer 2>/dev/null &
	KILLER_PID=$!
}

# ---------------------------------------------------------------- phases

record_agent() {
	read_uptime
	kv agent.version "$AGENT_VERSION"
	as_exe=
	have readlink && as_exe=$(readlink "/proc/$$/exe" 2>/dev/null)
	kv agent.shell "${as_exe:-$0}${KSH_VERSION:+ $KSH_VERSION}${POSH_VERSION:+ posh $POSH_VERSION}${BASH_VERSION:+ bash $BASH_VERSION}"
	kv agent.start_uptime_s "$now_uptime"
	kv agent.sysroot "$sysroot"
}

# Waits (polling every second, at most --cooldown-s) for thermal status 0 and a battery under the
# limit; a signal ends the wait with result `interrupted`.
cooldown() {
	# Without a cool-down to wait for, the `before` snapshot just taken has the status (one
	# dumpsys less: 50-100 ms on a phone).
	if is_positive "$cooldown_s"; then cd_status=$(thermal_status); else cd_status=$snap_thermal; fi
	read_battery_temp
	kv cooldown.requested_s "$cooldown_s"
	kv cooldown.temp_limit_c "$cooldown_temp_c"
	kv cooldown.thermal_status_at_start "$cd_status"
	kv cooldown.battery_temp_dC_at_start "$battery_temp_dC"
	cd_result=not-requested
	read_uptime
	hundredths "$now_uptime"
	cd_start_cs=$uint
	cd_now_cs=$uint
	hundredths "$cooldown_s"
	cd_limit_cs=$uint
	if is_positive "$cooldown_s"; then
		[ -z "$cd_status$battery_temp_dC" ] && cd_result=no-sensors
		while [ "$cd_result" = not-requested ]; do
			if is_cool "$cd_status" "$battery_temp_dC"; then
				cd_result=cool
			elif [ $((cd_now_cs - cd_start_cs)) -ge "$cd_limit_cs" ]; then
				cd_result=timeout
			else
				nap 1
				if [ -n "$PENDING" ]; then
					cd_result=interrupted
				else
					cd_status=$(thermal_status)
					read_battery_temp
				fi
				read_uptime
				hundredths "$now_uptime"
				cd_now_cs=$uint
			fi
		done
	fi
	cd_waited_cs=$((cd_now_cs - cd_start_cs))
	kv cooldown.result "$cd_result"
	kv cooldown.waited_s "$((cd_waited_cs / 100)).$(printf '%02d' $((cd_waited_cs % 100)))"
	kv cooldown.thermal_status_at_end "$cd_status"
	kv cooldown.battery_temp_dC_at_end "$battery_temp_dC"
}

# Cool means thermal status 0 and battery under the limit; a reading the device lacks does not
# hold the run back (the other one still gates it).
is_cool() {
	if [ -n "$1" ]; then
		is_uint "$1" || return 1
		[ "$1" -eq 0 ] || return 1
	fi
	if [ -n "$2" ]; then
		case $2 in -*) return 0 ;; esac
		is_uint "$2" || return 1
		strip_zeros "$2"
		[ "$uint" -lt "$temp_limit_dC" ] || return 1
	fi
	return 0
}

# Sets RAILS_HAL when the power-stats HAL answers: "2.0" (dumpsys, AIDL) or "1.0" (lshal, HIDL).
# --rails-hal says it without probing (the host learnt it from an earlier run on this device).
detect_rails() {
	RAILS_HAL=
	case $rails_hint in
	none) return 0 ;;
	1.0 | 2.0) RAILS_HAL=$rails_hint; return 0 ;;
	esac
	if have dumpsys &&
		dumpsys android.hardware.power.stats.IPowerStats/default >"$TMP/rails.txt" 2>/dev/null &&
		grep -q 'PowerStats HAL 2.0 energy meter' "$TMP/rails.txt"; then
		RAILS_HAL=2.0
	elif have lshal &&
		lshal debug android.hardware.power.stats@1.0::IPowerStats/default >"$TMP/rails.txt" 2>/dev/null &&
		grep -q 'PowerStats HAL 1.0 rail energy data' "$TMP/rails.txt"; then
		RAILS_HAL=1.0
	fi
}

# Saves the cumulative rail energy counters into rails_$1.txt, with the uptime just before and
# just after the dump (the HAL reads its counters somewhere in between).
dump_rails() {
	[ -n "$RAILS_HAL" ] || return 0
	read_uptime
	kv "energy.rails_$1_uptime_s" "$now_uptime"
	dump_rails_to "$1"
	read_uptime
	kv "energy.rails_$1_end_uptime_s" "$now_uptime"
	RAILS_FILES="$RAILS_FILES${RAILS_FILES:+ }rails_$1.txt"
}

dump_rails_to() {
	if [ "$RAILS_HAL" = 2.0 ]; then
		dumpsys android.hardware.power.stats.IPowerStats/default >"$out/rails_$1.txt" 2>&1
	else
		lshal debug android.hardware.power.stats@1.0::IPowerStats/default >"$out/rails_$1.txt" 2>&1
	fi
}

record_energy_setup() {
	if [ -n "$RAILS_HAL" ]; then
		kv energy.source power-rails
	elif [ -n "$GAUGE_DIR" ]; then
		kv energy.source battery-gauge
	else
		kv energy.source none
	fi
	kv energy.rails_hal "$RAILS_HAL"
	kv energy.gauge_path "${GAUGE_DIR##*/}"
	kv energy.interval_ms "$interval_ms"
	kv energy.idle_s "$idle_s"
	if [ -n "$GAUGE_DIR" ]; then
		kv energy.samples energy.csv
		echo 'uptime_s,phase,current_now,voltage_now' >"$out/energy.csv"
	else
		kv energy.samples ''
	fi
}

# Without an idle baseline (the host has one from an earlier run) there is no idle window:
# no idle_start dump and no idle sampler.
measure_idle() {
	if is_positive "$idle_s"; then
		dump_rails idle_start
		start_sampler idle
		nap "$idle_s"
		stop_sampler idle
	fi
	[ -n "$PENDING" ] || dump_rails run_start
}

run_runner() {
	quote_args "$@"
	kv runner.argv "$quoted"
	kv runner.timeout_s "$timeout_s"
	kv taskset.mask "$taskset_mask"
	kv runner.repeat "$repeat"
	[ -n "$taskset_mask" ] && set -- taskset "$taskset_mask" "$@"
	# Its own process group lets the watchdog and the cleanup reach whatever the runner started.
	RUNNER_GROUP=shared
	if have setsid; then
		set -- setsid "$@"
		RUNNER_GROUP=own
	fi
	kv runner.process_group "$RUNNER_GROUP"
	# What the kernel intersects the mask with: taskset fails with EINVAL when nothing is left.
	read_value "$CPU_DIR/online"; kv taskset.cpus_online "$val"
	start_sampler run
	start_clock_sampler
	: >"$out/runner.log"
	start_phase_watcher
	read_uptime
	kv runner.start_uptime_s "$now_uptime"
	rr_run=0
	while :; do
		rr_run=$((rr_run + 1))
		start_runner "$rr_run" "$@"
		wait_for_runner
		read_uptime
		rr_end_uptime=$now_uptime
		stop_background "$WATCHDOG_PID"
		# Whatever the runner left behind in its group goes too.
		[ "$RUNNER_GROUP" = own ] && signal_runner KILL
		runner_status
		[ "$repeat" -gt 1 ] && record_run "$rr_run"
		[ "$rr_status" = ok ] && [ -z "$PENDING" ] && [ "$rr_run" -lt "$repeat" ] || break
	done
	kv runner.runs "$rr_run"
	record_runner_end
	stop_sampler run
	stop_clock_sampler
	stop_phase_watcher
	dump_rails run_end
}

# Starts run $1 of the runner ($2...) in the background, in its own directory (the agent's for
# the first run, run_N for the others: files it writes by relative path land there).
start_runner() {
	RUN_DIR=$out
	if [ "$1" -gt 1 ]; then
		RUN_DIR=$out/run_$1
		mkdir -p "$RUN_DIR" 2>/dev/null || fatal "cannot create '$RUN_DIR' (is the device storage full?)"
	fi
	shift
	read_uptime
	rr_start_uptime=$now_uptime
	# The runner starts in RUN_DIR; the agent goes back where it was (its paths may be relative).
	cd "$RUN_DIR" || fatal "cannot enter '$RUN_DIR'"
	"$@" </dev/null >runner.log 2>&1 &
	RUNNER_PID=$!
	cd "$AGENT_DIR" || fatal "cannot go back to '$AGENT_DIR'"
	WATCHDOG_PID=
	if is_positive "$timeout_s"; then
		watchdog 2>/dev/null &
		WATCHDOG_PID=$!
	fi
}

# The `run.N.*` keys of one of several runs: its times and outcome, then the device's state.
record_run() {
	kv "run.$1.start_uptime_s" "$rr_start_uptime"
	kv "run.$1.end_uptime_s" "$rr_end_uptime"
	kv "run.$1.exit_code" "$rr_code"
	kv "run.$1.status" "$rr_status"
	snapshot "run.$1" "$RUN_DIR/thermalservice.txt"
}

# Sets rr_code to the runner's exit code as the shell reports it (128+N for signal N). A signal
# to the agent starts the killer (TERM, KILL after a grace period), from its trap or, if it came
# before, here: so the runner ends whenever the signal came, even just before the `wait`.
wait_for_runner() {
	rr_code=
	KILLER_PID=
	WAITING_FOR_RUNNER=yes
	[ -z "$PENDING" ] || start_killer
	while :; do
		wait "$RUNNER_PID"
		rr_code=$?
		[ -n "$KILLER_PID" ] && [ "$rr_code" -gt 128 ] || break
		# 128+N once the killer is on: the trap may have cut the wait short. A runner still there is
		# waited for again. Of one gone the shell still holds the status, unless that wait gave it
		# (127 then in mksh and posh; dash gives it again).
		if ! kill -s 0 "$RUNNER_PID" 2>/dev/null; then
			wait "$RUNNER_PID"
			rw_code=$?
			[ "$rw_code" -eq 127 ] || rr_code=$rw_code
			break
		fi
	done
	WAITING_FOR_RUNNER=
	if [ -n "$KILLER_PID" ]; then
		stop_background "$KILLER_PID"
		RUNNER_KILLED_BY_AGENT=1
	fi
}

# Sets rr_status from how the last run ended.
runner_status() {
	if [ -e "$TMP/timed-out" ]; then
		rr_status=timeout
	elif [ -n "$RUNNER_KILLED_BY_AGENT" ]; then
		rr_status=killed
	elif [ "$rr_code" -eq 0 ]; then
		rr_status=ok
	elif [ "$rr_code" -gt 128 ] && [ "$rr_code" -le 192 ]; then
		rr_status=killed
	else
		rr_status=failed
	fi
}

record_runner_end() {
	kv runner.end_uptime_s "$rr_end_uptime"
	kv runner.exit_code "$rr_code"
	if [ "$rr_code" -gt 128 ] && [ "$rr_code" -le 192 ]; then
		kv runner.signal $((rr_code - 128))
	else
		kv runner.signal ''
	fi
	kv runner.status "$rr_status"
}

finish() {
	kv energy.rails_files "$RAILS_FILES"
	[ -n "$INTERRUPTED" ] && kv agent.interrupted "$INTERRUPTED"
	read_uptime
	kv agent.end_uptime_s "$now_uptime"
	rm -rf "$TMP"
	# `done` last: the host takes its presence to mean result.txt is complete.
	put_line "${rr_status:-not-run}" >"$out/done" ||
		fatal "cannot write $out/done (is the device storage full?)"
}

# SIGTERM/SIGHUP/SIGINT (adb gone, host gave up): keep what was measured, record the rest as not
# done, and leave nothing running.
on_signal() {
	INTERRUPTED=$1
	stop_background "$SAMPLER_PID"
	stop_background "$CLOCK_SAMPLER_PID"
	stop_background "$WATCHER_PID"
	[ -n "$rr_status" ] || kv runner.status not-run
	snapshot after
	finish
	case $1 in HUP) exit 129 ;; INT) exit 130 ;; *) exit 143 ;; esac
}

main() {
	parse_arguments "$@"
	shift $(($# - runner_argc))
	UPTIME_FILE=$sysroot/proc/uptime
	POWER_SUPPLY_DIR=$sysroot/sys/class/power_supply
	CPU_DIR=$sysroot/sys/devices/system/cpu
	[ -r "$UPTIME_FILE" ] || fatal "cannot read $UPTIME_FILE"
	for tool in kill sleep mkdir rm printf sed grep; do
		have "$tool" || fatal "'$tool' is missing: the agent needs it from the shell or toybox"
	done
	AGENT_DIR=$PWD
	NAP_PID= RUNNER_PID= SAMPLER_PID= CLOCK_SAMPLER_PID= WATCHER_PID= KILLER_PID= WAITING_FOR_RUNNER= INTERRUPTED= RUNNER_KILLED_BY_AGENT= RAILS_FILES= rr_status=
	defer_signals
	prepare_output_directory
	choose_sleep
	find_battery
	record_agent
	snapshot before
	checkpoint
	cooldown
	checkpoint
	detect_rails
	record_energy_setup
	measure_idle
	checkpoint
	run_runner "$@"
	checkpoint
	snapshot after
	finish
	echo "squeezebench agent: runner $rr_status, results in $out"
}

main "$@"
