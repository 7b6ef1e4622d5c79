# Device call: where the short bands' time goes (Dilated, Neighborhood, Longformer at 64k).
#   run: bash benchmarks/attention/session5_probe.sh   (carry .whl)
source benchmarks/gpu_setup.sh
python3 benchmarks/attention/kernel_table.py --patterns dilated neighborhood longformer --length 65536 --sweep \
  > "$OUT/sweep.txt" 2>&1
tail -c 2500 "$OUT/sweep.txt"
SECTIONS="--section SpeedOfLight --section ComputeWorkloadAnalysis --section WarpStateStats --section Occupancy \
  --section LaunchStats --section InstructionStats --section MemoryWorkloadAnalysis --section SchedulerStats"
for p in dilated neighborhood; do
  timeout 240 ncu --clock-control none --profile-from-start off $SECTIONS \
    python3 benchmarks/attention/band_ncu.py --pattern $p > "$OUT/ncu_$p.txt" 2>&1
  grep -E "atomic_dq|==PROF==|Error" "$OUT/ncu_$p.txt" | head
done
for f in $(find "$TRITON_CACHE_DIR" -name '*.cubin' | grep -E 'band_(fwd|bwd)'); do
  echo "== $f $(cuobjdump --dump-sass "$f" | grep -oE '(HGMMA|HMMA|MUFU\.[A-Z0-9]+|LDL|STL|LDGSTS|UTMALDG|BAR)' | sort | uniq -c | tr '\n' ' ')"
done > "$OUT/sass_counts.txt" 2>&1
wc -l "$OUT/sass_counts.txt"
rm -f "$OUT/triton_cache.tgz"; trap - EXIT
