# pager.gp - the picture of the pager scenario of `uvma bench`
# (docs/bench.md), drawn from the data file the benchmark writes:
#
#     gnuplot -c pager.gp DATA OUT.svg     (or OUT.png)
#
# `uvma bench --scenario pager --plot OUT` writes OUT.dat and runs this
# script on it; run it by hand to restyle the picture without measuring
# again.
#
# The data (bench_pager.c, put_data) has two blocks, two blank lines apart,
# each opening with a line of column names:
#   block 0  a line per workload and thread count: x, label, then ns per
#            page of uvma-sigbus, uvma-threads, global, kernel
#   block 1  a line per design: x, design, p99 of the churn fault thread
#            alone and beside the mapper (ns)
# NaN: not measured.
#
# The picture: ns/page as clustered bars, a colour per design, and the
# churn p99 as pairs of bars per design, in colours of their own (grey
# alone, purple beside the mapper) so that they do not read as designs. Both value axes are logarithmic,
# from the decade below the smallest value to the decade above the largest:
# the designs differ by orders of magnitude, and boxes on a log axis need a
# bottom to stand on.

if (ARGC != 2) {
	print "usage: gnuplot -c pager.gp DATA OUT.svg|OUT.png"
	exit status 2
}
dat = ARG1
out = ARG2

# Okabe-Ito colours, told apart with colour blindness too; the two uvma
# designs in blues, the kernel, the reference, in grey.
nd = 4
array colour[nd] = ["#0072B2", "#56B4E9", "#D55E00", "#808080"]
step = 0.2 # x distance of neighbouring bars in a cluster
bar_x(d, n) = (d - (n + 1) / 2.0) * step

# ---- what there is to draw ------------------------------------------------
# (stats keeps to the ranges set, so every stats runs before any is set)

# A column's values, drawable on a log axis (positive), and stand-ins for
# the others that leave the maximum, or the minimum, alone.
pos(c) = valid(c) && column(c) > 0 ? column(c) : 0
low(c) = valid(c) && column(c) > 0 ? column(c) : 1e300

array lo[2] = [1e300, 1e300]
array hi[2] = [0, 0]
clusters = 0
do for [b = 0:1] {
	# a constant counts every line, the one of names too
	stats dat index b using (1) nooutput
	if (STATS_records > 1) {
		if (b == 0) {
			clusters = STATS_records - 1
		}
		do for [c = 3:(b == 0 ? 2 + nd : 4)] {
			stats dat index b using (pos(c)):(low(c)) nooutput
			hi[b + 1] = STATS_max_x > hi[b + 1] ? STATS_max_x : hi[b + 1]
			lo[b + 1] = STATS_min_y < lo[b + 1] ? STATS_min_y : lo[b + 1]
		}
	}
}

decade(v) = 10.0 ** floor(log10(v))
ylo(p) = decade(lo[p])
yhi(p) = decade(hi[p]) < hi[p] || decade(hi[p]) == decade(lo[p]) \
	 ? 10 * decade(hi[p]) : decade(hi[p])

# ---- the page -------------------------------------------------------------

panels = (hi[1] > 0) + (hi[2] > 0)
ext = strlen(out) >= 4 ? out[strlen(out) - 3:] : ""
if (ext eq ".png" || ext eq ".PNG") {
	if (strstrt(GPVAL_TERMINALS, "pngcairo") > 0) {
		set terminal pngcairo size 1400, 1000 enhanced font "sans,11"
	} else {
		set terminal png size 1400, 1000 enhanced font "sans,11"
	}
} else {
	set terminal svg size 1400, 1000 dynamic enhanced \
		font "sans,11" background "white"
}
set output out
if (panels == 0) {
	print "pager.gp: no values in ", dat
	unset border
	unset tics
	set label "uvma bench pager: nothing to draw (see the table)" \
		at graph 0.5, graph 0.5 center
	plot [0:1] [0:1] NaN notitle
	exit
}

set style fill solid 0.9 border rgb "#404040"
set grid ytics mytics lt 1 lc rgb "#d0d0d0", lt 1 lc rgb "#eeeeee"
set key outside top center horizontal samplen 2 font ",11"
set tics nomirror
set border 3
set logscale y
set format y "10^{%L}"
set mytics 10
set xtics scale 0
unset xlabel
# The values over the bars: a log axis is hard to read closely.
si(v) = v >= 1e6 ? sprintf("%.2gM", v / 1e6) : \
	v >= 1e4 ? sprintf("%.0fk", v / 1e3) : sprintf("%.0f", v)

# Column names as the key: the data's first line of each block.
set key autotitle columnhead

set multiplot layout panels, 1 \
	title "uvma bench pager: filling missing pages, designs side by side" \
	font ",16"

if (hi[1] > 0) {
	set title "ns per page touched (lower is better)"
	set xrange [-0.5:clusters - 0.5]
	set yrange [ylo(1):yhi(1)]
	set ylabel "ns / page"
	set xtics rotate by -25 font ",10"
	set boxwidth step * 0.9
	plot dat index 0 using 1:(NaN):xtic(2) notitle, \
		for [d = 1:nd] dat index 0 using ($1 + bar_x(d, nd)):(column(2 + d)) \
		with boxes lc rgb colour[d] title columnhead(2 + d), \
		for [d = 1:nd] dat index 0 \
		using ($1 + bar_x(d, nd)):(column(2 + d)):(si(column(2 + d))) \
		with labels rotate by 90 left offset 0,0.4 font ",7" notitle
}

if (hi[2] > 0) {
	set title "churn: p99 fault latency of the fault thread, alone and " . \
		"beside the mapper (lower is better)"
	set xrange [-0.5:nd - 0.5]
	set yrange [ylo(2):yhi(2)]
	set ylabel "p99 (ns)"
	set xtics norotate font ",11"
	set boxwidth 0.3
	plot dat index 1 using 1:(NaN):xtic(2) notitle, \
		dat index 1 using ($1 - 0.16):3 with boxes \
		lc rgb "#A0A0A0" title columnhead(3), \
		dat index 1 using ($1 + 0.16):4 with boxes \
		lc rgb "#CC79A7" title columnhead(4), \
		dat index 1 using ($1 - 0.16):3:(si($3)) with labels \
		offset 0,0.6 font ",9" notitle, \
		dat index 1 using ($1 + 0.16):4:(si($4)) with labels \
		offset 0,0.6 font ",9" notitle
}

unset multiplot
unset output
