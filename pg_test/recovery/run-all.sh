#!/usr/bin/env bash
# Runs the recovery and concurrency tests one after the other (crash.sh, replica.sh, stress.sh,
# dump_restore.sh, minimal.sh, corruption.sh, columnar.sh, extension_update.sh;
# their environment variables pass through) and sums their counts into one last line,
# "N passed, M failed". Exits non-zero if any script failed or did not report.
# Each script's output is shown as it runs; logs of failed scripts stay in
# target/pg_test-logs/recovery/<script>.
cd "$(dirname "$0")" || exit 2
total_pass=0
total_fail=0
status=0
for t in crash replica stress dump_restore minimal corruption columnar extension_update; do
  echo "==== $t.sh ===="
  start=$(date +%s)
  out=$(mktemp)
  ./$t.sh 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  last=$(tail -n 1 "$out")
  rm -f "$out"
  if [[ $last =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
    total_pass=$((total_pass + BASH_REMATCH[1]))
    total_fail=$((total_fail + BASH_REMATCH[2]))
  else
    echo "FAIL - $t.sh did not report its counts"
    total_fail=$((total_fail + 1))
  fi
  if [ "$rc" -ne 0 ]; then
    status=1
    [[ $last =~ [1-9][0-9]*\ failed$ ]] || total_fail=$((total_fail + 1))
  fi
  echo "==== $t.sh: exit $rc, $(( $(date +%s) - start ))s ===="
done
[ $total_fail -gt 0 ] && status=1
echo "$total_pass passed, $total_fail failed"
exit $status
