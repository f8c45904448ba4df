#!/bin/busybox sh
# vmkit test guest /init (busybox sh). prepare.mjs prepends MODULES and KERNEL_RELEASE.
# Reads its orders from the kernel command line (vmkit.test=full|bench plus parameters, see
# layout.mjs and bench-guest.mjs), prints one "VMKIT-RESULT step=... ok=0|1 ..." line per step on
# the console and powers the machine off. Offsets and counts are in 4 KiB blocks.

export PATH=/usr/sbin:/usr/bin:/sbin:/bin
/bin/busybox mkdir -p /proc /sys /dev /tmp /usr/bin /usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev

DISK=vda
DEV=/dev/$DISK

# result STEP OK [FIELDS]; t= is the guest's uptime, for finding slow steps.
result() {
  read -r up _ </proc/uptime
  echo "VMKIT-RESULT step=$1 ok=$2${3:+ $3} t=$up"
}

finish() {
  sync
  result done 1
  poweroff -f
  echo o >/proc/sysrq-trigger
  sleep 5
  exit 1
}

# vmkit.NAME=VALUE on the command line becomes P_NAME (names are [a-z0-9]).
for w in $(cat /proc/cmdline); do
  case "$w" in
  vmkit.*=*)
    k=${w%%=*}
    k=${k#vmkit.}
    v=${w#*=}
    case "$k" in *[!a-z0-9]*) continue ;; esac
    eval "P_$k=\$v"
    ;;
  esac
done

# pattern TAG BLOCK COUNT: the bytes layout.mjs blockPattern() gives for COUNT blocks from BLOCK.
pattern() {
  awk -v p="$1" -v b="$2" -v n="$3" \
    'BEGIN { for (i = 0; i < n; i++) { s = sprintf("%s%012d\n", p, b + i); for (j = 0; j < 8; j++) s = s s; printf "%s", s } }'
}

# stat_field N: field N of /sys/block/vda/stat (12 = discard I/Os, 16 = flush I/Os).
stat_field() {
  awk -v n="$1" '{ print $n + 0 }' /sys/block/$DISK/stat
}

# --- setup: drivers and the disk -----------------------------------------------------------
setup_ok=1
for m in $MODULES; do
  if ! insmod "/modules/$m.ko"; then
    setup_ok=0
    echo "vmkit: insmod $m failed"
  fi
done
i=0
while [ ! -b $DEV ] && [ $i -lt 200 ]; do
  sleep 0.05
  i=$((i + 1))
done
if [ ! -b $DEV ]; then
  result setup 0 "reason=no-$DISK"
  finish
fi
size=$(blockdev --getsize64 $DEV)
case "$(cat /sys/block/$DISK/queue/write_cache)" in "write back") wce=1 ;; *) wce=0 ;; esac
discard_max=$(cat /sys/block/$DISK/queue/discard_max_bytes)
lbs=$(cat /sys/block/$DISK/queue/logical_block_size)
if [ -n "$P_size" ] && [ "$size" != "$P_size" ]; then setup_ok=0; fi
result setup $setup_ok "kernel=$KERNEL_RELEASE size=$size wce=$wce discard_max=$discard_max lbs=$lbs"

# --- full check ------------------------------------------------------------------------------
check_md5() {
  sum=$(md5sum $DEV | cut -c1-32)
  ok=0
  [ "$sum" = "$P_md5" ] && ok=1
  result md5 $ok "md5=$sum"
}

# check_read STEP BLOCK COUNT BS: O_DIRECT read of the initial pattern.
check_read() {
  ok=0
  pattern ini "$2" "$3" >/tmp/want
  if dd if=$DEV of=/tmp/got bs="$4" count=$(($3 * 4096 / $4)) skip=$(($2 * 4096 / $4)) iflag=direct 2>/tmp/err &&
    cmp -s /tmp/want /tmp/got; then ok=1; else cat /tmp/err; fi
  result "$1" $ok "block=$2 count=$3 bs=$4"
}

# check_write STEP TAG BLOCK COUNT BS: O_DIRECT write of TAG's pattern, then O_DIRECT read-back.
check_write() {
  ok=0
  pattern "$2" "$3" "$4" >/tmp/want
  if dd if=/tmp/want of=$DEV bs="$5" seek=$(($3 * 4096 / $5)) oflag=direct conv=notrunc 2>/tmp/err &&
    dd if=$DEV of=/tmp/got bs="$5" count=$(($4 * 4096 / $5)) skip=$(($3 * 4096 / $5)) iflag=direct 2>>/tmp/err &&
    cmp -s /tmp/want /tmp/got; then ok=1; else cat /tmp/err; fi
  result "$1" $ok "block=$3 count=$4 bs=$5"
}

check_discard() {
  start=${P_discard%:*}
  count=${P_discard#*:}
  before=$(stat_field 12)
  ok=0
  blkdiscard -o $((start * 4096)) -l $((count * 4096)) $DEV && ok=1
  after=$(stat_field 12)
  # Whether the backend zeroes discarded blocks is its choice; report it from the first 64 KiB.
  zeroed=0
  if dd if=$DEV of=/tmp/got bs=4096 count=16 skip="$start" iflag=direct 2>/dev/null &&
    [ "$(tr -d '\000' </tmp/got | wc -c)" = 0 ]; then zeroed=1; fi
  result discard $ok "block=$start count=$count discards=$((after - before)) zeroed=$zeroed"
}

# A buffered write then fsync: with a write-back cache the kernel must send a FLUSH. A device
# that starts write-through but lets the driver change it (VIRTIO_BLK_F_CONFIG_WCE makes
# cache_type writable) is switched to write-back first, so the FLUSH path is exercised too.
check_fsync() {
  start=${P_fsync%:*}
  count=${P_fsync#*:}
  switched=0
  if [ $wce = 0 ] && [ -w /sys/block/$DISK/cache_type ]; then
    echo "write back" >/sys/block/$DISK/cache_type 2>/dev/null
    case "$(cat /sys/block/$DISK/queue/write_cache)" in "write back") wce=1 switched=1 ;; esac
  fi
  pattern fsy "$start" "$count" >/tmp/want
  before=$(stat_field 16)
  ok=0
  if dd if=/tmp/want of=$DEV bs=4096 seek="$start" conv=notrunc,fsync 2>/tmp/err; then
    after=$(stat_field 16)
    if dd if=$DEV of=/tmp/got bs=4096 count="$count" skip="$start" iflag=direct 2>>/tmp/err &&
      cmp -s /tmp/want /tmp/got && { [ $wce = 0 ] || [ $((after - before)) -ge 1 ]; }; then ok=1; fi
  else
    after=$before
  fi
  [ $ok = 1 ] || cat /tmp/err
  result fsync $ok "block=$start count=$count wce=$wce switched=$switched flushes=$((after - before))"
}

check_fio() {
  start=${P_fio%:*}
  count=${P_fio#*:}
  ok=0
  if fio --name=verify --filename=$DEV --ioengine=libaio --direct=1 --rw=randwrite --bs=4k --iodepth=8 \
    --offset=$((start * 4096)) --size=$((count * 4096)) --verify=crc32c --do_verify=1 --verify_fatal=1 \
    --output-format=terse --terse-version=3 >/tmp/fio.out 2>&1; then ok=1; else cat /tmp/fio.out; fi
  iops=$(awk -F';' 'NF > 49 { print $49 }' /tmp/fio.out)
  result fio-verify $ok "block=$start count=$count depth=8 write_iops=${iops:-0}"
}

# --- benchmark: vmkit.fio=RW:BS:DEPTH:SECONDS[,...] ------------------------------------------
# Interrupts taken for the disk's request queues so far (MSI-X vectors named virtioN-req.M).
disk_irqs() {
  awk '/-req\./ { for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) n += $i } END { print n + 0 }' /proc/interrupts
}

run_bench() {
  for job in $(echo "$P_fio" | tr ',' ' '); do
    rw=${job%%:*}
    rest=${job#*:}
    bs=${rest%%:*}
    rest=${rest#*:}
    depth=${rest%%:*}
    secs=${rest#*:}
    ok=0
    name=$rw-$bs
    [ "$depth" = 16 ] || name=$name-qd$depth
    irq0=$(disk_irqs)
    result "fio-start" 1 "job=$name"
    if fio --name="$name" --filename=$DEV --ioengine=libaio --direct=1 --rw="$rw" --bs="$bs" \
      --iodepth="$depth" --time_based --runtime="$secs" --ramp_time=1 \
      --output-format=terse --terse-version=3 >/tmp/fio.out 2>&1; then ok=1; else cat /tmp/fio.out; fi
    # Terse v3: 7/8 = read KiB/s and IOPS, 40 = mean read latency (µs); 48/49/81 the same for writes.
    line=$(awk -F';' 'NF > 81 { print "read_kibps=" $7 " read_iops=" $8 " read_lat_us=" $40 " write_kibps=" $48 " write_iops=" $49 " write_lat_us=" $81 }' /tmp/fio.out)
    irqs=$(($(disk_irqs) - irq0))
    result "fio" $ok "job=$name rw=$rw bs=$bs depth=$depth secs=$secs irqs=$irqs $line"
  done
}

case "$P_test" in
full)
  check_md5
  check_read read-4k "$P_r4k" 1 4096
  check_read read-1m "$P_r1m" 256 1048576
  check_write write-4k w4k "$P_w4k" 1 4096
  check_write write-1m w1m "$P_w1m" 256 1048576
  check_discard
  check_fsync
  check_fio
  ;;
bench)
  run_bench
  ;;
*)
  result params 0 "reason=unknown-test-${P_test:-none}"
  ;;
esac
finish
